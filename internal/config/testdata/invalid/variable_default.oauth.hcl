variable "port" {
  type    = number
  default = "eighty" # ERROR: Invalid default value for variable
}

variable "kind" {
  type    = strin # ERROR: Invalid type specification
  default = "x"
}

variable "computed" {
  default = var.port # ERROR: Variables not allowed
}

variable "called" {
  default = upper("x") # ERROR: Function calls not allowed
}
