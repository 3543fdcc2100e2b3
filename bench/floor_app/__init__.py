"""The bare floor for the webhook endpoint: a minimal Django + DRF app that does only what any
webhook receiver must (bench/floor.py runs it side by side with the connector's endpoint)."""
