"""The scan engine: backends, rules, hashes, containers, limits, verdicts (no pulumi, no boto3)."""
