variable "v" {
  default = "a"
}

variable "v" { # ERROR: Duplicate variable declaration
  default = "b"
}

provider "acme" {
  authorize_url = "https://acme.example/authorize"
  token_url     = "https://acme.example/token"
}

provider "acme" { # ERROR: Duplicate provider declaration
  authorize_url = "https://acme.example/authorize"
  token_url     = "https://acme.example/token"
}

app "sms" {
  provider      = "sms77"
  client_id     = "c"
  client_secret = "s"
  redirect_uri  = "http://127.0.0.1:8765/callback"
}

app "sms" { # ERROR: Duplicate app declaration
  provider      = "sms77"
  client_id     = "c2"
  client_secret = "s2"
  redirect_uri  = "http://127.0.0.1:8765/callback"
}

connection "main" {
  app = app.sms
}

connection "main" { # ERROR: Duplicate connection declaration
  app = app.sms
}
