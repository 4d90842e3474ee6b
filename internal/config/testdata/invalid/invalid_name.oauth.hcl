app "my app" { # ERROR: Invalid name
  provider      = "sms77"
  client_id     = "c"
  client_secret = "s"
  redirect_uri  = "http://127.0.0.1:8765/callback"
}

app "sms" "extra" { # ERROR: Extraneous label for app
  provider = "sms77"
}
