"""Conversation topics curated by staff."""
