"""Writes and domain rules of matchmaking."""
