# Quickstart: the four seed providers and a generic RFC 6749 server, each
# served by its built-in emulator inside oauthform (emulator = true), so the
# whole cycle runs with no account, no network and no second terminal. The
# generic one shows the grants without a browser callback: the device
# grant (tv_device) and client credentials (ci_robot).
#
#   go run ./cmd/oauthform -chdir examples/quickstart apply -auto-approve
#
# The emulators follow each provider's documentation (paths, scope
# separators, client authentication, token shapes, errors) and approve every
# grant at once; their grants and tokens live in .oauthform/emulators/ next
# to the state. To talk to the real providers, delete the provider blocks
# and put your registered apps' credentials in the app blocks.

provider "burner" {
  emulator = true
}

provider "sms77" {
  emulator = true
}

provider "buffer" {
  emulator = true
}

provider "phoneburner" {
  emulator = true
}

# Any RFC 6749 server, here its emulator: it also serves the grants that
# need no browser on this machine (see docs/providers.md, "Grants").
provider "oauth2" {
  emulator = true
}

app "burner" {
  provider      = "burner"
  client_id     = "quickstart-burner"
  client_secret = "quickstart-burner-secret"
  redirect_uri  = "http://127.0.0.1:18761/callback"
}

app "sms" {
  provider      = "sms77"
  client_id     = "quickstart-sms77"
  client_secret = "quickstart-sms77-secret"
  redirect_uri  = "http://127.0.0.1:18762/callback"
}

app "buffer" {
  provider      = "buffer"
  client_id     = "quickstart-buffer"
  client_secret = "quickstart-buffer-secret"
  redirect_uri  = "http://127.0.0.1:18763/callback"
}

# No redirect_uri: this app's connections use grants without a browser
# callback.
app "service" {
  provider      = "oauth2"
  client_id     = "quickstart-oauth2"
  client_secret = "quickstart-oauth2-secret"
}

app "dialer" {
  provider      = "phoneburner"
  client_id     = "quickstart-phoneburner"
  client_secret = "quickstart-phoneburner-secret"
  redirect_uri  = "http://127.0.0.1:18764/callback"
}

connection "burner_contacts" {
  app    = app.burner
  scopes = ["burners:read", "contacts:read"]
}

connection "sms_main" {
  app            = app.sms
  scopes         = ["sms", "analytics"]
  refresh_before = "10m"
}

connection "buffer_posts" {
  app = app.buffer
}

connection "dialer_user" {
  app            = app.dialer
  refresh_before = "1h"
}

# A person approves on any device (RFC 8628): apply prints an address and
# a code; the emulator's in-process browser approves at once.
connection "tv_device" {
  app    = app.service
  grant  = "device_code"
  scopes = ["read"]
}

# The app's own token, no person at all (RFC 6749 §4.4): apply, refresh
# and token work headless, in CI.
connection "ci_robot" {
  app    = app.service
  grant  = "client_credentials"
  scopes = ["read", "write"]
}
