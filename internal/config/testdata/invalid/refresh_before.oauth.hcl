app "sms" {
  provider      = "sms77"
  client_id     = "c"
  client_secret = "s"
  redirect_uri  = "http://127.0.0.1:8765/callback"
}

connection "words" {
  app            = app.sms
  refresh_before = "ten minutes" # ERROR: Invalid refresh_before
}

connection "no_unit" {
  app            = app.sms
  refresh_before = 600 # ERROR: Invalid refresh_before
}

connection "negative" {
  app            = app.sms
  refresh_before = "-5m" # ERROR: Invalid refresh_before
}
