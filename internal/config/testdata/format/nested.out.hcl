# comments are kept
oauthform {
  state_path = ".oauthform/state.db" # optional
  encryption {
    passphrase = env("OAUTHFORM_PASSPHRASE")
  }
}
connection "sms_main" {
  app    = app.sms
  scopes = ["sms", "analytics", "lookup"]
  params = {
    owner_type = "vendor"
  }
  refresh_before = "10m"
}
