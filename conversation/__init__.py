"""Shared kernel: stores, authentication, vocabularies, clock, errors and events."""
