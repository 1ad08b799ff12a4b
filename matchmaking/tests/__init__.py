"""Tests of the matchmaking app, against the real servers."""
