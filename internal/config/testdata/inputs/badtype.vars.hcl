secret = "from-var-file"
port   = "eighty"
