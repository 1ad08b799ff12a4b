"""Pairs two learners of the same language and level."""
