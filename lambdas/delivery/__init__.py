"""Delivery: the Lambda that starts the CD pipeline when a model package is approved in the registry."""
