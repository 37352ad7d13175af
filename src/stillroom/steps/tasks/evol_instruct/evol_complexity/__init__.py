"""Evol-Complexity (Deita, Liu et al. 2024): in-depth evolution only."""
