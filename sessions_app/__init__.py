"""Live conversation sessions: presence, endings, recording, reports."""
