app "sms" {
  provider      = "sms77"
  client_id     = env("OAUTHFORM_TEST_UNSET") # ERROR: Invalid function argument
  client_secret = file("does-not-exist.txt") # ERROR: Invalid function argument
  redirect_uri  = nosuchfunc("x") # ERROR: Call to unknown function
}
