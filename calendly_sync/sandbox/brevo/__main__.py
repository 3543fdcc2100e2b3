"""``python -m calendly_sync.sandbox.brevo --port 8026``: run the simulated Brevo alone until Ctrl-C."""

from calendly_sync.sandbox.brevo.server import main

if __name__ == "__main__":
    raise SystemExit(main())
