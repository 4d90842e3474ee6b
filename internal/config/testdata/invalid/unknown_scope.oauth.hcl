app "sms" {
  provider      = "sms77"
  client_id     = "c"
  client_secret = "s"
  redirect_uri  = "http://127.0.0.1:8765/callback"
}

connection "sms" {
  app = app.sms
  scopes = [
    "sms",
    "analytic", # ERROR: Unknown scope
    "rcs",      # ERROR: Unknown scope
  ]
}
