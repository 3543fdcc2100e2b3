"""Print a ``bench/floor.py --timeline`` file: what happened after each round's last acknowledgement.

    python bench/timeline/show.py FILE [--app embedded] [--round 1] [--from -3]

Times are seconds relative to the round's last acknowledgement (wrk's end). Each Brevo call is
shown with its start and duration (a call's duration includes the client's own pacing); drain
batches (apply), rounds pushed to Brevo (push_round), waits for imports and the drain's sleeps are
shown as spans; "idle" lines mark gaps of more than 0.25 s in which the connector sent nothing to
Brevo and applied nothing.
"""

from __future__ import annotations

import argparse
import json
from collections import Counter


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("file")
    parser.add_argument("--app", default="embedded")
    parser.add_argument("--round", type=int, default=1)
    parser.add_argument("--from", dest="start", type=float, default=-3.0, help="seconds relative to the last ack")
    args = parser.parse_args()
    with open(args.file) as f:
        lines = [json.loads(x) for x in f if x.strip()]
    marks = {(x["kind"], x.get("app"), x.get("round")): x["t"] for x in lines if "app" in x}
    ack = marks[("last_ack", args.app, args.round)]
    load = marks[("load_start", args.app, args.round)]
    done = marks.get(("brevo_complete", args.app, args.round), ack + 600)
    spans = [x for x in lines if "t0" in x and load <= x["t"] and x["t0"] <= done + 0.5]
    spans.sort(key=lambda x: x["t0"])
    print(f"load {load - ack:+.2f} s, last ack 0.00 s, Brevo complete {done - ack:+.2f} s")
    calls = Counter(x["call"] for x in spans if x["kind"] == "brevo" and x["t0"] >= ack)
    print("Brevo calls after the last ack:", dict(calls))
    sleeps = [x for x in spans if x["kind"] == "drain_sleep"]
    slept = sum(x["t"] - x["t0"] for x in sleeps if x["t0"] < ack)
    print(f"drain sleeps during the load: {slept:.2f} s in {len(sleeps)}")
    busy_until = None
    for x in spans:
        if x["t"] < ack + args.start or x["kind"] == "drain_sleep":
            continue
        if busy_until is not None and x["t0"] - busy_until > 0.25 and x["kind"] in ("brevo", "apply"):
            print(f"{busy_until - ack:+8.2f} .. {x['t0'] - ack:+8.2f}  idle {x['t0'] - busy_until:.2f} s")
        if x["kind"] in ("brevo", "apply"):
            busy_until = max(busy_until or x["t"], x["t"])
        extra = {k: v for k, v in x.items() if k not in ("kind", "t", "t0", "pid", "th")}
        print(
            f"{x['t0'] - ack:+8.2f} .. {x['t'] - ack:+8.2f}  {x['t'] - x['t0']:6.2f} s  {x['kind']:<16} "
            f"{x.get('th', ''):<12} {' '.join(f'{k}={v}' for k, v in extra.items())}"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
