"""Misconfiguration rule catalogue: pure functions over a plain facts model (no pulumi, no boto3)."""
