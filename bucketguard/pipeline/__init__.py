"""The scanning pipeline core used by the Lambda handlers: listener, scanner, post-scan."""
