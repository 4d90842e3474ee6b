# Variables of several types, functions and file().
oauthform {
  state_path = format("%s/%s", ".oauthform", "tokens.db")
  encryption {
    passphrase = trimspace(file("passphrase.txt"))
  }
}

variable "env_name" {
  type        = string
  default     = "Staging"
  description = "deployment environment"
}

variable "scopes" {
  type    = list(string)
  default = ["sms", "analytics", "sms"]
}

variable "port" {
  type    = number
  default = 8765
}

variable "extra" {
  type    = map(string)
  default = {}
}

variable "strict" {
  type    = bool
  default = false
}

variable "nothing" {
  type    = string
  default = null
}

app "sms" {
  provider      = lower("SMS77")
  client_id     = join("-", ["client", lower(var.env_name)])
  client_secret = coalesce(var.nothing, "fallback")
  redirect_uri  = "http://127.0.0.1:${var.port}/callback"
}

connection "sms" {
  app            = app.sms
  scopes         = distinct(concat(var.scopes, split(",", "lookup,voice")))
  params         = merge(var.extra, {})
  refresh_before = var.strict ? "1h" : "${max(5, 10)}m"
}
