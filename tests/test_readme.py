"""The README's sandbox examples, run as a reader would paste them, so they cannot drift again.

Every ``sh`` block of the README that calls a ``/_sim/`` route runs in bash against the sandbox's
simulators, built by the same code as ``python -m calendly_sync.sandbox`` (seeded, on free ports:
the README's ports are rewritten). ``curl`` fails on an HTTP error here, so an example the
simulators refuse (like the reschedule that answered 400 ``'start_time'``) fails the test.
"""

from __future__ import annotations

import argparse
import re
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from calendly_sync.sandbox.__main__ import build
from calendly_sync.sandbox.brevo import BrevoSim
from calendly_sync.sandbox.calendly import CalendlySim

README = Path(__file__).resolve().parents[1] / "README.md"
BLOCK = re.compile(r"^```sh\n(.*?)^```", re.MULTILINE | re.DOTALL)
STRICT_CURL = 'curl() { command curl --fail-with-body --silent --show-error "$@"; }\n'


def sim_blocks() -> list[str]:
    return [block for block in BLOCK.findall(README.read_text()) if "/_sim/" in block]


@pytest.fixture(scope="module")
def sandbox_sims() -> Iterator[tuple[CalendlySim, BrevoSim]]:
    args = argparse.Namespace(host="127.0.0.1", calendly_port=0, brevo_port=0, seed=1, events=40, state_file=None)
    calendly, brevo, _ = build(args)
    calendly.start()
    brevo.start()
    try:
        yield calendly, brevo
    finally:
        calendly.stop()
        brevo.stop()


def test_the_readme_has_sandbox_examples() -> None:
    blocks = sim_blocks()
    routes = set(re.findall(r"/_sim/(\w+)", "\n".join(blocks)))
    assert {"book", "cancel", "reschedule", "no_show", "state"} <= routes


@pytest.mark.parametrize("index", range(len(sim_blocks())))
def test_readme_sandbox_example_runs(index: int, sandbox_sims: tuple[CalendlySim, BrevoSim]) -> None:
    calendly, brevo = sandbox_sims
    block = sim_blocks()[index]
    script = block.replace("http://127.0.0.1:8025", calendly.url).replace("http://127.0.0.1:8026", brevo.url)
    assert "127.0.0.1:802" not in script, "an example uses a port the sandbox does not have"
    bash = shutil.which("bash")
    assert bash is not None
    done = subprocess.run(
        [bash, "-euo", "pipefail", "-c", STRICT_CURL + script], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, f"README example failed:\n{block}\nstdout: {done.stdout}\nstderr: {done.stderr}"
