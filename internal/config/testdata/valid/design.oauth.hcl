# The example of DESIGN.md's Language section.
oauthform {
  state_path = ".oauthform/state.db" # optional
  encryption {                       # optional: tokens sealed at rest
    passphrase = env("OAUTHFORM_PASSPHRASE")
  }
}

variable "sms_secret" {
  type      = string
  sensitive = true # never printed
}

# Built-in providers need no block; a block overrides endpoints (tests, proxies).
provider "phoneburner" {
  authorize_url = "http://127.0.0.1:9400/oauth/authorize"
  token_url     = "http://127.0.0.1:9400/oauth/accesstoken"
  refresh_url   = "http://127.0.0.1:9400/oauth/refreshtoken"
}

# Any other OAuth 2.0 provider is declared with the same knobs the built-ins use.
provider "acme" {
  authorize_url   = "https://auth.acme.example/authorize"
  token_url       = "https://auth.acme.example/token"
  revoke_url      = "https://auth.acme.example/revoke"
  scope_separator = " "
  client_auth     = "basic" # basic | body | json
  pkce            = true
}

app "sms" {
  provider      = "sms77"
  client_id     = "testclient"
  client_secret = var.sms_secret
  redirect_uri  = "http://127.0.0.1:8765/callback"
}

connection "sms_main" {
  app            = app.sms
  scopes         = ["sms", "analytics", "lookup"]
  params         = {}    # extra authorize parameters
  refresh_before = "10m" # refresh when this close to expiry
}
