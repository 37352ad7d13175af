"""Filtering steps: flag rows to drop, such as near-duplicates."""
