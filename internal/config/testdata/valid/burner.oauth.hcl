variable "burner_secret" {
  sensitive = true
  default   = "burner-secret-from-default"
}

app "burner" {
  provider      = "burner"
  client_id     = "burner-client"
  client_secret = var.burner_secret
  redirect_uri  = "http://127.0.0.1:8765/callback"
}

# Read-only access to the account's burners.
connection "burner_read" {
  app    = app.burner
  scopes = ["burners:read", "contacts:read"]
}

# Connect one burner directly: burner_id needs messages:connect.
connection "burner_messages" {
  app            = app.burner
  scopes         = ["messages:connect", "burners:read"]
  params         = { burner_id = "b-123" }
  refresh_before = "0s"
}
