"""``python -m calendly_sync.sandbox``: run the simulated Calendly and Brevo together (the sandbox)."""

from __future__ import annotations

import argparse
import threading

from calendly_sync.sandbox.brevo import SANDBOX_API_KEY, BrevoSim
from calendly_sync.sandbox.calendly import SANDBOX_TOKEN, CalendlySim


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Run the Calendly and Brevo simulators for the sandbox.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--calendly-port", type=int, default=8025)
    parser.add_argument("--brevo-port", type=int, default=8026)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--events", type=int, default=40)
    args = parser.parse_args(argv)
    calendly = CalendlySim(
        args.host, args.calendly_port, seed=args.seed, events=args.events, allow_http_callbacks=True, default_token=True
    ).start()
    brevo = BrevoSim(args.host, args.brevo_port, rate_limit_per_second=10).start()
    print(f"Calendly simulator: {calendly.url}  (token {SANDBOX_TOKEN})")
    print(f"Brevo simulator:    {brevo.url}/v3  (api-key {SANDBOX_API_KEY})", flush=True)
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        pass
    finally:
        calendly.stop()
        brevo.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
