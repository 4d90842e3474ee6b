resource "app" "x" { # ERROR: Unsupported block type
}

conection "sms_main" { # ERROR: Unsupported block type
}
