provider "public" {
  authorize_url = "https://login.public.example/authorize"
  token_url     = "https://login.public.example/token"
  client_auth   = "none"
}

app "public" { # WARNING: Unused client_secret
  provider      = "public"
  client_id     = "c"
  client_secret = "never-sent"
  redirect_uri  = "http://127.0.0.1:8765/callback"
}
