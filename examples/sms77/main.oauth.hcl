# sms77.io (now seven.io): SMS, voice and number lookup.
#
# Register your app with seven.io support: give them the redirect_uri below,
# they send you a client id and secret. Then:
#
#   export OAUTHFORM_VAR_sms77_client_secret=...   # never commit it
#   oauthform init
#   oauthform plan

variable "sms77_client_secret" {
  type        = string
  sensitive   = true # never printed by plan, show or logs
  description = "Client secret issued by seven.io support."
  default     = "replace-me" # placeholder: set OAUTHFORM_VAR_sms77_client_secret
}

app "sms" {
  # "sms77" uses the oauth.sms77.io hosts of the seed documentation; "seven"
  # uses today's oauth.seven.io hosts and also knows the rcs and waba scopes.
  provider      = "sms77"
  client_id     = "testclient"
  client_secret = var.sms77_client_secret
  # A loopback address: during apply oauthform listens here for the
  # browser's redirect. It must match what you registered exactly.
  redirect_uri = "http://127.0.0.1:8765/callback"
}

# Sends SMS and looks up numbers. Access tokens live one hour; oauthform
# refreshes them when they are this close to expiry. sms77 rotates refresh
# tokens, and oauthform stores each new one before using it.
connection "sms_main" {
  app            = app.sms
  scopes         = ["sms", "analytics", "lookup"]
  refresh_before = "10m"
}

# Read-only reporting for a dashboard. An empty scope list would ask for the
# provider's default scope.
connection "sms_reporting" {
  app    = app.sms
  scopes = ["analytics", "balance", "journal"]
}
