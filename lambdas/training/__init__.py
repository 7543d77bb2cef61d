"""Training pipeline Lambdas: ``training.prepare`` (before the training job) and ``training.evaluate`` (after it)."""
