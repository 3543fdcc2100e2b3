"""Stored webhook deliveries turned into observations, and the webhook subscriptions that bring them."""
