"""Shared fixtures. Simulator fixtures live in their own plugin modules."""
pytest_plugins = ["tests.fixtures_calendly", "tests.fixtures_brevo"]
