state_path = "x.db" # ERROR: Unsupported argument

app "sms" {
  provider      = "sms77"
  client_id     = "c"
  client_secret = "s3cr3t-literal"
  redirect_uri  = "http://127.0.0.1:8765/callback"
  scopes        = ["sms"] # ERROR: Unsupported argument
}

connection "sms" {
  app     = app.sms
  refresh = "5m" # ERROR: Unsupported argument
}

provider "acme" {
  authorize_url = "https://acme.example/authorize"
  token_url     = "https://acme.example/token"
  client_secret = "x" # ERROR: Unsupported argument
}
