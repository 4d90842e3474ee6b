oauthform {
  state_path = "a.db"
  encryption {
    passphrase = "first passphrase"
  }
  encryption { # ERROR: Duplicate encryption block
    passphrase = "second passphrase"
  }
}

oauthform { # ERROR: Duplicate oauthform block
  state_path = "b.db"
}
