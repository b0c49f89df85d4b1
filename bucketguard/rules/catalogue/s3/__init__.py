"""S3 rules, one module per concern."""
