"""Live-account collectors (boto3 -> facts) and fixers."""
