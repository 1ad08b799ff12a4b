"""Writes and domain rules of live sessions, split by concern."""
