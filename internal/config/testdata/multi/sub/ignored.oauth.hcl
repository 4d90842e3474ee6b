this is { not hcl
