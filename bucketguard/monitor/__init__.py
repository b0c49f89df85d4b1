"""Real-time monitoring: a CloudTrail event -> the resource it touched -> the rules again -> alerts."""
