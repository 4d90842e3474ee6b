app "sms" {
  provider  = "sms77"
  client_id = # ERROR: Invalid expression
}
