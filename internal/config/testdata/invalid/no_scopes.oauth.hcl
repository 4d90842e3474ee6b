app "buffer" {
  provider      = "buffer"
  client_id     = "c"
  client_secret = "s"
  redirect_uri  = "http://127.0.0.1:8765/callback"
}

connection "buffer" {
  app    = app.buffer
  scopes = ["publish"] # ERROR: Scopes not supported
}
