secret = "from-var-file"
sercet = "typo" # WARNING: Value for undeclared variable
