"""Moderation: the report queue, suspensions, blocks and the learner view, for staff."""
