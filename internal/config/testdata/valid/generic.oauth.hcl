# A provider declared from scratch, with every knob.
provider "acme" {
  authorize_url   = "https://auth.acme.example/authorize"
  token_url       = "https://auth.acme.example/token"
  refresh_url     = "https://auth.acme.example/refresh"
  revoke_url      = "https://auth.acme.example/revoke"
  check_url       = "https://api.acme.example/me"
  issuer          = "https://auth.acme.example"
  scope_separator = ","
  client_auth     = "json"
  expiry          = "expires"
  error_format    = "phoneburner"
  param_aliases   = { client_id = "clientId" }
  code_raw        = true
  pkce            = false
  refresh         = true
  rotates_refresh = true
  down_scope      = true
  known_scopes    = ["read", "write"]
  params          = ["audience", "prompt"]
  metadata        = ["account_id"]
  token_type      = "DPoP"
}

# A public client: PKCE and no secret.
provider "public" {
  authorize_url = "https://login.public.example/authorize"
  token_url     = "https://login.public.example/token"
  client_auth   = "none"
}

# The generic built-in, given its endpoints.
provider "oauth2" {
  authorize_url = "https://id.example.org/oauth2/authorize"
  token_url     = "https://id.example.org/oauth2/token"
}

app "acme" {
  provider      = "acme"
  client_id     = "acme-client"
  client_secret = "acme-secret"
  redirect_uri  = "http://127.0.0.1:8765/callback"
}

app "public" {
  provider     = "public"
  client_id    = "public-client"
  redirect_uri = "http://127.0.0.1:8766/callback"
}

app "generic" {
  provider      = "oauth2"
  client_id     = "generic-client"
  client_secret = "generic-secret"
  redirect_uri  = "http://127.0.0.1:8767/callback"
}

connection "acme" {
  app    = app.acme
  scopes = ["read", "write"]
  params = { audience = "https://api.acme.example" }
}

# Any scope and any parameter go for providers without lists.
connection "public" {
  app    = app.public
  scopes = ["openid", "profile", "offline_access"]
  params = { login_hint = "someone@example.com", "ui-locales" = "en" }
}

connection "generic" {
  app    = app.generic
  scopes = ["email"]
}
