secret = "unterminated
