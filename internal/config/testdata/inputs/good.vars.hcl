secret = "from-var-file"
port   = 9000
scopes = ["lookup", "sms", "lookup"]
