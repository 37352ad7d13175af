"""APIGen (Liu et al. 2024): generate function-calling data, execute it, check it."""
