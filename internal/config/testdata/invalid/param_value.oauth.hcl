app "dialer" {
  provider      = "phoneburner"
  client_id     = "c"
  client_secret = "s"
  redirect_uri  = "http://127.0.0.1:8765/callback"
}

connection "dialer" {
  app = app.dialer
  params = {
    owner_type = "user" # ERROR: Invalid parameter value
  }
}
