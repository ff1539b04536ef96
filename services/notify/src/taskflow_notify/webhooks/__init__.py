"""Signed webhooks: a team's HTTPS endpoints, and the deliveries of its events to them."""
