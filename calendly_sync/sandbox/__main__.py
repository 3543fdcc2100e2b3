"""``python -m calendly_sync.sandbox``: run the simulated Calendly and Brevo together (the sandbox).

With ``--state-file`` (``scripts/dev.py run`` passes ``.sandbox/simulators.json``) both simulators
are saved there as they change and at shutdown, and restored from it at the next start, so they
stay in step with the sandbox's database across restarts. Without a saved state, Calendly is
seeded with generated bookings (``--seed``). Either way its ids come from fresh randomness: a new
booking never takes an id that an earlier run of the sandbox gave out.

SIGTERM and Ctrl-C stop both servers and write the state file once more.
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from pathlib import Path
from types import FrameType

from calendly_sync.sandbox import statefile
from calendly_sync.sandbox.brevo import SANDBOX_API_KEY, BrevoSim
from calendly_sync.sandbox.calendly import SANDBOX_TOKEN, CalendlySim
from calendly_sync.sandbox.calendly.seeding import populate
from calendly_sync.sandbox.httpbase import Request


def build(args: argparse.Namespace) -> tuple[CalendlySim, BrevoSim, str]:
    """Both simulators, restored from the state file or freshly seeded, and a line saying which."""
    calendly = CalendlySim(args.host, args.calendly_port, allow_http_callbacks=True, default_token=True)
    brevo = BrevoSim(args.host, args.brevo_port, rate_limit_per_second=10)
    state = Path(args.state_file) if args.state_file else None
    if state is not None and statefile.restore(state, {"calendly": calendly, "brevo": brevo}):
        how = f"restored from {state} ({len(calendly.invitees)} invitees, {len(brevo.contacts)} Brevo contacts)"
    else:
        populate(calendly, args.seed, events=args.events)
        how = f"seeded with {len(calendly.invitees)} invitees (seed {args.seed})"
        if state is not None:
            how += f"; saved to {state} from now on"
    return calendly, brevo, how


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Run the Calendly and Brevo simulators for the sandbox.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--calendly-port", type=int, default=8025)
    parser.add_argument("--brevo-port", type=int, default=8026)
    parser.add_argument("--seed", type=int, default=1, help="the generated bookings, when there is no saved state")
    parser.add_argument("--events", type=int, default=40)
    parser.add_argument("--state-file", default=None, help="save both simulators here and restore them at start")
    args = parser.parse_args(argv)
    try:
        calendly, brevo, how = build(args)
    except statefile.StateFileError as exc:
        print(f"sandbox: {exc}. Delete it (and the sandbox's database) to start afresh.", file=sys.stderr)
        return 2
    sims: dict[str, statefile.Persistent] = {"calendly": calendly, "brevo": brevo}
    autosave = statefile.Autosave(Path(args.state_file), sims) if args.state_file else None
    if autosave is not None:

        def changed(req: Request) -> None:
            if not (req.method == "GET" and req.path == "/_sim/state"):
                autosave.changed()

        calendly.after_request = brevo.after_request = changed
        autosave.save()  # the file exists from the start, even if nothing happens
    stop = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    for sim, flag in ((calendly, "--calendly-port"), (brevo, "--brevo-port")):
        try:
            sim.start()
        except OSError as exc:
            calendly.stop()
            print(
                f"sandbox: cannot listen on {args.host}:{sim.port} ({exc.strerror}): another sandbox may still be "
                f"running; stop it, or choose another port with {flag}.",
                file=sys.stderr,
            )
            return 2
    print(f"Calendly simulator: {calendly.url}  (token {SANDBOX_TOKEN}); {how}")
    print(f"Brevo simulator:    {brevo.url}/v3  (api-key {SANDBOX_API_KEY})", flush=True)
    try:
        stop.wait()
    finally:
        calendly.stop()
        brevo.stop()
        if autosave is not None:
            autosave.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
