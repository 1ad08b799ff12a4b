"""Tests of the topics app, against the real servers."""
