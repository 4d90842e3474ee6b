app "sms" {
  provider      = "sms77"
  client_id     = "testclient"
  client_secret = var.sms_secret
  redirect_uri  = "http://127.0.0.1:8765/callback"
}
