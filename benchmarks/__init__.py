"""Benchmarks that print figures measured against real servers (run via make bench-*)."""
