variable "client_secret" { # ERROR: No value for required variable
  type      = string
  sensitive = true
}

# No follow-on error where the variable is used.
app "sms" {
  provider      = "sms77"
  client_id     = "c"
  client_secret = var.client_secret
  redirect_uri  = "http://127.0.0.1:8765/callback"
}
