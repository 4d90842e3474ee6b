# Burner (burnerapp.com): second phone numbers with messaging and contacts.
#
# Create an app at developer.burnerapp.com with the redirect URI below.
# Burner issues no refresh tokens: when an access token expires, plan shows a
# reconnect and apply asks for a new grant.

variable "burner_client_secret" {
  type        = string
  sensitive   = true
  description = "Client secret from the Burner developer portal."
  default     = "replace-me" # placeholder: set OAUTHFORM_VAR_burner_client_secret
}

app "burner" {
  provider      = "burner"
  client_id     = "my-burner-app"
  client_secret = var.burner_client_secret
  redirect_uri  = "http://127.0.0.1:8766/callback"
}

# Read the user's burners and contacts.
connection "burner_contacts" {
  app    = app.burner
  scopes = ["burners:read", "contacts:read"]
}

# Send and receive messages through one burner. burner_id skips Burner's
# burner picker; it is only valid together with the messages:connect scope.
# The token response lists the connected burners; `oauthform show` shows them.
connection "burner_messages" {
  app    = app.burner
  scopes = ["messages:connect", "burners:read"]
  params = {
    burner_id = "b-1234"
  }
}
