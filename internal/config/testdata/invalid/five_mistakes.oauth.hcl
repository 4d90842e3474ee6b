# Five different mistakes, all reported in one run.
app "sms" {
  provider      = "sms7" # ERROR: Unknown provider
  client_id     = "c"
  client_secret = "s"
  redirect_uri  = "http://127.0.0.1:8765/callback"
}

app "burner" {
  provider      = "burner"
  client_id     = "c"
  client_secret = "s"
  redirect_uri  = "http://127.0.0.1:8765/callback"
}

connection "burner" {
  app    = app.burner
  scopes = ["burners:raed"] # ERROR: Unknown scope
}

connection "sms" {
  app            = app.smss # ERROR: Reference to undeclared app
  refresh_before = "10 minutes" # ERROR: Invalid refresh_before
}

conection "typo" { # ERROR: Unsupported block type
  app = app.burner
}
