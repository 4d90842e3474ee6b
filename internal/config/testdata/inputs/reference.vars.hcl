secret = var.other
