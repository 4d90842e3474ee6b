app "dialer" {
  provider      = "phoneburner"
  client_id     = "c"
  client_secret = "s"
  redirect_uri  = "http://127.0.0.1:8765/callback"
}

app "buffer" {
  provider      = "buffer"
  client_id     = "c"
  client_secret = "s"
  redirect_uri  = "http://127.0.0.1:8765/callback"
}

connection "dialer" {
  app = app.dialer
  params = {
    owner = "vendor" # ERROR: Unsupported parameter
  }
}

connection "buffer" {
  app    = app.buffer
  params = { profile = "x" } # ERROR: Unsupported parameter
}
