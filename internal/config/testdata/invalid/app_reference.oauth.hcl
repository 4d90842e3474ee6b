app "sms" {
  provider      = "sms77"
  client_id     = "c"
  client_secret = "s"
  redirect_uri  = "http://127.0.0.1:8765/callback"
}

connection "quoted" {
  app = "sms" # ERROR: Invalid app reference
}

connection "wrong_root" {
  app = var.sms # ERROR: Invalid app reference
}

connection "too_deep" {
  app = app.sms.client_id # ERROR: Invalid app reference
}
