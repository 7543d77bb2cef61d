"""Evaluate: read the training job's evaluation.json, gate it against the threshold and the champion."""
