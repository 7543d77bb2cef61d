"""Prepare: resolve the extraction run's manifest and name the training job."""
