"""Evol-Instruct (WizardLM, Xu et al. 2023): make instructions harder, round after round."""
