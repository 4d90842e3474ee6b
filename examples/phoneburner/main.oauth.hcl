# PhoneBurner: power dialer and CRM.
#
# Register an OAuth client in PhoneBurner (Settings > API) with the redirect
# URI below. Tokens last 7 days; refreshes go to PhoneBurner's separate
# /oauth/refreshtoken endpoint. PhoneBurner has no revoke endpoint: after
# `oauthform destroy`, also remove the app in PhoneBurner's settings.

variable "phoneburner_client_secret" {
  type        = string
  sensitive   = true
  description = "Client secret of the PhoneBurner OAuth client."
  default     = "replace-me" # placeholder: set OAUTHFORM_VAR_phoneburner_client_secret
}

app "dialer" {
  provider      = "phoneburner"
  client_id     = "pb-client-123"
  client_secret = var.phoneburner_client_secret
  redirect_uri  = "http://127.0.0.1:8768/callback"
}

# A regular user account. PhoneBurner has no scopes.
connection "dialer_user" {
  app            = app.dialer
  refresh_before = "1h"
}

# A vendor account: owner_type accepts only "vendor".
connection "dialer_vendor" {
  app = app.dialer
  params = {
    owner_type = "vendor"
  }
}
