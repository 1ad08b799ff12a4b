"""Tests of the sessions_app app, against the real servers."""
