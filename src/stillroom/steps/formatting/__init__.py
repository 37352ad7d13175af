"""Formatting steps: shape generated rows into SFT and preference (DPO) training data."""
