# Plain http is allowed only to a loopback address.
app "remote" {
  provider      = "sms77"
  client_id     = "c"
  client_secret = "s"
  redirect_uri  = "http://oauth.example.com/callback" # ERROR: Invalid redirect_uri
}

app "loopback" {
  provider      = "sms77"
  client_id     = "c"
  client_secret = "s"
  redirect_uri  = "http://127.0.0.1:8765/callback"
}
