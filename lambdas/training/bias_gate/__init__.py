"""The bias gate: check Clarify's bias analysis.json against training.bias.gate."""
