variable "client_id" {
  default = "c"
}

app "sms" {
  provider      = "sms77"
  client_id     = var.clientid # ERROR: Reference to undeclared variable
  client_secret = var.secret # ERROR: Reference to undeclared variable
  redirect_uri  = "http://127.0.0.1:8765/callback"
}
