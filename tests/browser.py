"""What the browser tests share: Debian's Chromium through Playwright, screenshots, an admin signed in.

Playwright for Python drives Debian's Chromium (``/usr/bin/chromium``; no ``playwright install``)
against pytest-django's ``live_server``. A test module takes a page with ``page_fixture`` (each its
own screenshot prefix under ``artifacts/screenshots/``) and starts with
``if isinstance(page, str): browser_missing(page)``: without Chromium or Playwright the fixture
yields the reason, and the test is skipped with it, unless ``CONNECTOR_REQUIRE_BROWSER=1`` (CI sets
it), where it fails instead.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

# Playwright's sync API runs an event loop in this thread; the ORM calls the tests make between
# browser steps are ordinary synchronous ones.
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")

SCREENSHOTS = Path(__file__).resolve().parent.parent / "artifacts" / "screenshots"
CHROMIUM_ARGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
ADMIN_USERNAME = "operator"
ADMIN_PASSWORD = "browser-test-password"


def chromium_path() -> str | None:
    """``CONNECTOR_CHROMIUM`` when set (and only it), else Debian's chromium."""
    explicit = os.environ.get("CONNECTOR_CHROMIUM")
    candidates = (
        [explicit] if explicit else ["/usr/bin/chromium", shutil.which("chromium"), shutil.which("chromium-browser")]
    )
    return next((c for c in candidates if c and os.path.exists(c)), None)


def browser_missing(reason: str) -> None:
    if os.environ.get("CONNECTOR_REQUIRE_BROWSER") == "1":
        pytest.fail(f"CONNECTOR_REQUIRE_BROWSER=1 but {reason}")
    pytest.skip(
        f"{reason} (install Debian's chromium, or set CONNECTOR_CHROMIUM; "
        "CONNECTOR_REQUIRE_BROWSER=1 turns this skip into a failure)"
    )


def chromium_page(prefix: str = "", **context_options: Any) -> Iterator[Any]:
    """A Chromium page, or a string saying why there is none (the test then skips or fails).

    Screenshots a previous run left under ``prefix`` (``<prefix>NN-*.png``) are removed first. The
    browser context is 1400×1000 with a 15 s default timeout unless ``context_options`` say otherwise.
    """
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        yield "Playwright for Python is not installed"
        return
    executable = chromium_path()
    if executable is None:
        yield f"no Chromium found at {os.environ.get('CONNECTOR_CHROMIUM') or '/usr/bin/chromium or on PATH'}"
        return
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    for old in SCREENSHOTS.glob(f"{prefix}[0-9][0-9]-*.png"):
        old.unlink()
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
        context = browser.new_context(**{"viewport": {"width": 1400, "height": 1000}, **context_options})
        context.set_default_timeout(15_000)
        try:
            yield context.new_page()
        finally:
            context.close()
            browser.close()


def page_fixture(prefix: str = "", *, name: str = "page", **context_options: Any) -> Any:
    """A fixture ``name`` giving :func:`chromium_page` (``page = page_fixture("dashboard-")`` in a test module)."""

    @pytest.fixture(name=name)
    def fixture() -> Iterator[Any]:
        yield from chromium_page(prefix, **context_options)

    return fixture


class Shots:
    """Numbered full-page screenshots: ``shot("step")`` saves ``<prefix>NN-step.png`` and returns its path."""

    def __init__(self, page: Any, prefix: str = "") -> None:
        self.page = page
        self.prefix = prefix
        self.n = 0
        self.last: Path | None = None

    def __call__(self, step: str) -> Path:
        self.n += 1
        path = SCREENSHOTS / f"{self.prefix}{self.n:02d}-{step}.png"
        self.page.screenshot(path=str(path), full_page=True)
        self.last = path
        return path


def sign_in_to_admin(
    page: Any, base: str, django_user_model: Any, *, before_submit: Callable[[], object] | None = None
) -> None:
    """Create the superuser ``operator`` and sign in as it on the admin's login page.

    ``before_submit`` runs with the form filled in (a screenshot of it, say).
    """
    django_user_model.objects.create_superuser(ADMIN_USERNAME, f"{ADMIN_USERNAME}@example.com", ADMIN_PASSWORD)
    page.goto(f"{base}/admin/login/?next=/admin/")
    page.fill("#id_username", ADMIN_USERNAME)
    page.fill("#id_password", ADMIN_PASSWORD)
    if before_submit is not None:
        before_submit()
    page.click("input[type=submit]")
    page.wait_for_url(f"{base}/admin/")
