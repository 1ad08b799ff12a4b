"""Tests of the conversation app, against the real servers."""
