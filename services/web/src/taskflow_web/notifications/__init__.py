"""The notification feed, the unread badge, email preferences and the live stream (/events)."""
