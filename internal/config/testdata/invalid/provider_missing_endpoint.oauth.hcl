provider "acme" { # ERROR: Missing required argument
  authorize_url = "https://acme.example/authorize"
}

provider "oauth2" { # ERROR: Missing required argument
  token_url = "https://id.example.org/token"
}

# No follow-on error for the app of a broken provider.
app "acme" {
  provider      = "acme"
  client_id     = "c"
  client_secret = "s"
  redirect_uri  = "http://127.0.0.1:8765/callback"
}
