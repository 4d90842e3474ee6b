variable "secret" {
  sensitive = true
  default   = "do-not-print-me"
}

app "sms" {
  provider      = "sms77"
  client_id     = var.secret                  # ERROR: Sensitive value not allowed
  client_secret = var.secret
  redirect_uri  = "http://127.0.0.1:${var.secret}/cb" # ERROR: Sensitive value not allowed
}

connection "sms" {
  app    = app.sms
  params = { key = upper(var.secret) } # ERROR: Sensitive value not allowed
}
