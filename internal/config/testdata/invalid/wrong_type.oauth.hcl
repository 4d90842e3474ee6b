provider "acme" {
  authorize_url = "https://acme.example/authorize"
  token_url     = "https://acme.example/token"
  pkce          = "maybe" # ERROR: Incorrect attribute value type
}

app "sms" {
  provider      = "sms77"
  client_id     = ["c"] # ERROR: Incorrect attribute value type
  client_secret = "s"
  redirect_uri  = "http://127.0.0.1:8765/callback"
}

connection "sms" {
  app    = app.sms
  scopes = "sms" # ERROR: Incorrect attribute value type
  params = ["a"] # ERROR: Incorrect attribute value type
}

variable "v" {
  sensitive = "yes" # ERROR: Incorrect attribute value type
  default   = "x"
}
