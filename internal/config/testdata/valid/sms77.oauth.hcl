app "sms" {
  provider      = "sms77"
  client_id     = "sms-client"
  client_secret = env("SMS77_CLIENT_SECRET", "fallback-secret")
  redirect_uri  = "http://127.0.0.1:8765/callback"
}

# An empty scope list asks for the provider's default scope.
connection "sms_default" {
  app = app.sms
}

connection "sms_all" {
  app            = app.sms
  scopes         = ["analytics", "balance", "contacts", "hooks", "journal", "lookup", "pricing", "sms", "status", "subaccounts", "validate_for_voice", "voice"]
  refresh_before = "1h30m"
}

app "seven" {
  provider      = "seven"
  client_id     = "seven-client"
  client_secret = "seven-secret"
  redirect_uri  = "https://oauth-callback.example.com/seven"
}

connection "seven_rcs" {
  app    = app.seven
  scopes = ["rcs", "waba", "sms"]
}
