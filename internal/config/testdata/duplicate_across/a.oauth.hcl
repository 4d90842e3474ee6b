app "sms" {
  provider      = "sms77"
  client_id     = "a"
  client_secret = "s"
  redirect_uri  = "http://127.0.0.1:8765/callback"
}
