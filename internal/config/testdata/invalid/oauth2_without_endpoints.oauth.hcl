# The generic built-in has no endpoints until a provider block gives them.
app "generic" {
  provider      = "oauth2" # ERROR: Invalid provider configuration
  client_id     = "c"
  client_secret = "s"
  redirect_uri  = "http://127.0.0.1:8765/callback"
}
