"""The practice page: a reference web client of the public API, served by the service."""
