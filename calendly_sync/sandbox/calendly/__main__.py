"""``python -m calendly_sync.sandbox.calendly --port 8025 --seed 1``: run the simulated Calendly alone until Ctrl-C."""

from calendly_sync.sandbox.calendly.server import main

if __name__ == "__main__":
    raise SystemExit(main())
