provider "acme" {
  authorize_url = "https://acme.example/authorize"
  token_url     = "https://acme.example/token"
}

app "acme" {
  provider      = "acme"
  client_id     = "c"
  client_secret = "s"
  redirect_uri  = "http://127.0.0.1:8765/callback"
}

connection "acme" {
  app = app.acme
  params = {
    audience = "api"
    state    = "fixed" # ERROR: Reserved parameter
  }
}
