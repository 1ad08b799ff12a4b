"""Tests of the ops app, against the real servers."""
