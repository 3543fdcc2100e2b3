"""Calendly → Brevo sync: the Django app."""
