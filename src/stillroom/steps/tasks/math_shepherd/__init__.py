"""Math-Shepherd (Wang et al. 2024): step-by-step solutions, labelled per step by completions."""
