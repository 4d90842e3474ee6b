# References cross files: app.sms is declared in 10_apps.oauth.hcl.
connection "sms" {
  app    = app.sms
  scopes = ["sms"]
}
