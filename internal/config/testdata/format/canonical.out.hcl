variable "sms_secret" {
  type      = string
  sensitive = true
}
