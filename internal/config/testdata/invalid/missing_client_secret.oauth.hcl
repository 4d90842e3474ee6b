# sms77 authenticates with HTTP Basic: it needs a secret.
app "sms" { # ERROR: Missing required argument
  provider     = "sms77"
  client_id    = "c"
  redirect_uri = "http://127.0.0.1:8765/callback"
}
