"""Behaviour shared by steps and LLMs."""
