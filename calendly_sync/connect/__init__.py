"""The "Connect Calendly" button: the OAuth start view, the social-auth pipeline, and the catalog it loads."""
