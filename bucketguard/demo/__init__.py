"""The camp's prank files and the `demo` command's building blocks (harmless samples, never real malware)."""
