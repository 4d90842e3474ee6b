provider "phoneburner" {
  authorize_url = "${env("EMU_URL")}/oauth/authorize"
  token_url     = "${env("EMU_URL")}/oauth/accesstoken"
  refresh_url   = "${env("EMU_URL")}/oauth/refreshtoken"
}

app "dialer" {
  provider      = "phoneburner"
  client_id     = "pb-client"
  client_secret = "pb-secret"
  redirect_uri  = "http://127.0.0.1:8765/callback"
}

connection "dialer_vendor" {
  app    = app.dialer
  params = { owner_type = "vendor" }
}

connection "dialer_member" {
  app = app.dialer
}
