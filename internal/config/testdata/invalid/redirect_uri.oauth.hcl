app "relative" {
  provider      = "sms77"
  client_id     = "c"
  client_secret = "s"
  redirect_uri  = "/callback" # ERROR: Invalid redirect_uri
}

app "fragment" {
  provider      = "sms77"
  client_id     = "c"
  client_secret = "s"
  redirect_uri  = "http://127.0.0.1:8765/callback#done" # ERROR: Invalid redirect_uri
}

app "scheme" {
  provider      = "sms77"
  client_id     = "c"
  client_secret = "s"
  redirect_uri  = "myapp://callback" # ERROR: Invalid redirect_uri
}
