"""Delivery: the Lambda that keeps the promoted model package and starts the CD pipeline when the registry approves
or rejects one."""
