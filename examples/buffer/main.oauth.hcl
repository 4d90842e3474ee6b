# Buffer, v1 API (bufferapp.com), for apps registered before Buffer stopped
# creating v1 apps. For Buffer's current server use provider "buffer_v2".
#
# Buffer v1 has no scopes, issues long-lived tokens without expiry or refresh,
# and its authorization code lives 30 seconds: oauthform exchanges it inside
# the browser callback.

variable "buffer_client_secret" {
  type        = string
  sensitive   = true
  description = "Client secret from buffer.com/developers/apps."
  default     = "replace-me" # placeholder: set OAUTHFORM_VAR_buffer_client_secret
}

app "buffer" {
  provider      = "buffer"
  client_id     = "5a1b2c3d4e5f6a7b8c9d0e1f"
  client_secret = var.buffer_client_secret
  # Must equal the app's registered Callback URL.
  redirect_uri = "http://127.0.0.1:8767/callback"
}

# One connection per Buffer account you post for.
connection "buffer_marketing" {
  app = app.buffer
}

connection "buffer_support" {
  app = app.buffer
}
