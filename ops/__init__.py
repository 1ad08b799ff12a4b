"""The operations dashboard for staff: live queues and sessions, recent activity, charts."""
