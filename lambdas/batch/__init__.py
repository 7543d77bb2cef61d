"""Batch predictions: transform-job launcher, SQS FIFO fan-out, queue consumer."""
