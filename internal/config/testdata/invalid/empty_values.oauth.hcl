oauthform {
  state_path = "" # ERROR: Invalid value
  encryption {
    passphrase = "" # ERROR: Invalid value
  }
}

app "sms" {
  provider      = "sms77"
  client_id     = "" # ERROR: Invalid value
  client_secret = "s"
  redirect_uri  = null # ERROR: Invalid value
}
