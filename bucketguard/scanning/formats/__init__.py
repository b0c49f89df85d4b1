"""One module per format family; `bucketguard.scanning.containers` dispatches to them by content."""
