provider "acme" {
  authorize_url = "https://acme.example/authorize"
  token_url     = "https://acme.example/token"
}

app "typo" {
  provider      = "sms7" # ERROR: Unknown provider
  client_id     = "c"
  client_secret = "s"
  redirect_uri  = "http://127.0.0.1:8765/callback"
}

app "declared_typo" {
  provider      = "acne" # ERROR: Unknown provider
  client_id     = "c"
  client_secret = "s"
  redirect_uri  = "http://127.0.0.1:8765/callback"
}

app "other" {
  provider      = "github" # ERROR: Unknown provider
  client_id     = "c"
  client_secret = "s"
  redirect_uri  = "http://127.0.0.1:8765/callback"
}

# No follow-on errors for connections of such apps.
connection "other" {
  app    = app.other
  scopes = ["repo"]
}
