variable "port" {
  type    = number
  default = 8765
}

variable "secret" {
  type      = string
  sensitive = true
}

variable "scopes" {
  type    = list(string)
  default = ["sms"]
}

app "sms" {
  provider      = "sms77"
  client_id     = "c"
  client_secret = var.secret
  redirect_uri  = "http://127.0.0.1:${var.port}/callback"
}

connection "sms" {
  app    = app.sms
  scopes = var.scopes
}
