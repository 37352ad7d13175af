"""Magpie (Xu et al. 2024): instructions and conversations drawn out of an instruct model."""
