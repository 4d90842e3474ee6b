app "sms" {
  provider      = "sms77"
  client_id     = "c"
  client_secret = "s"
  redirect_uri  = "http://127.0.0.1:8765/callback"
}

connection "typo" {
  app = app.smss # ERROR: Reference to undeclared app
}

connection "missing" {
  app = app.burner # ERROR: Reference to undeclared app
}
