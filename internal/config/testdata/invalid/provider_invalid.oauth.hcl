provider "acme" {
  authorize_url   = "https://acme.example/authorize"
  token_url       = "http://acme.example/token" # ERROR: Invalid provider argument
  revoke_url      = "acme.example/revoke"       # ERROR: Invalid provider argument
  client_auth     = "basik"                     # ERROR: Invalid provider argument
  expiry          = "never"                     # ERROR: Invalid provider argument
  error_format    = "xml"                       # ERROR: Invalid provider argument
  scope_separator = ""                          # ERROR: Invalid provider argument
  token_type      = "Bearer token"              # ERROR: Invalid provider argument
}

provider "beta" {
  authorize_url = "https://beta.example/authorize"
  token_url     = "https://beta.example/token"
  token_type    = "" # ERROR: Invalid provider argument
}

provider "buffer" {
  known_scopes = ["publish"] # ERROR: Invalid provider argument
}
