app "sms" { # ERROR: Missing required argument
  provider      = "sms77"
  client_secret = "s"
  redirect_uri  = "http://127.0.0.1:8765/callback"
}

connection "sms" { # ERROR: Missing required argument
  scopes = ["sms"]
}

variable "v" {
  default = "x"
}

oauthform {
  encryption { # ERROR: Missing key provider
  }
}
