# Quickstart: the four seed providers, each served by its built-in emulator
# inside oauthform (emulator = true), so the whole cycle runs with no
# account, no network and no second terminal:
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
