"""Simulated Calendly and Brevo: real HTTP servers for tests and the no-account sandbox.

They follow the documented behaviour in ``shared/reference`` (pagination, 429s, token expiry,
signatures, validation errors), not whatever the connector happens to do.
"""
