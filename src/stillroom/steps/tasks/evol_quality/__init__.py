"""Evol-Quality (Deita, Liu et al. 2024): make responses better, round after round."""
