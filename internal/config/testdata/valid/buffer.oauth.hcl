app "buffer" {
  provider      = "buffer"
  client_id     = "buffer-client"
  client_secret = "buffer-secret"
  redirect_uri  = "http://127.0.0.1:8765/callback"
}

# Buffer v1 has no scopes: the list stays empty.
connection "buffer_main" {
  app    = app.buffer
  scopes = []
}

app "buffer_v2" {
  provider      = "buffer_v2"
  client_id     = "buffer-v2-client"
  client_secret = "buffer-v2-secret"
  redirect_uri  = "http://[::1]:8765/callback"
}

connection "buffer_posts" {
  app    = app.buffer_v2
  scopes = ["posts:read", "posts:write", "offline_access"]
  params = { prompt = "consent" }
}
