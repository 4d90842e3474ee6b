app "burner" {
  provider      = "burner"
  client_id     = "c"
  client_secret = "s"
  redirect_uri  = "http://127.0.0.1:8765/callback"
}

# burner_id works only with the scope messages:connect.
connection "burner" {
  app    = app.burner
  scopes = ["burners:read"]
  params = {
    burner_id = "b-1" # ERROR: Missing scope for parameter
  }
}
