"""BOOKING_FRAME_ANCESTORS → the booking page's CSP (pure: no database, no request)."""

from __future__ import annotations

import pytest

from calendly_sync.booking_page.frames import content_security_policy, frame_ancestors, origin_problem


@pytest.mark.parametrize(
    "origin",
    ["https://www.example.com", "http://localhost:8080", "https://*.example.org", "http://[::1]:3000", "https://a.b/"],
)
def test_origins(origin: str) -> None:
    assert origin_problem(origin) is None


@pytest.mark.parametrize(
    "value",
    [
        "",
        "example.com",
        "ftp://example.com",
        "https://example.com/path",
        "https://example.com#x",
        "https://example.com?",
        "https://a.com, https://b.com",
        "https://a.com;frame-ancestors *",
        "https://'self'",
        "https://:443",
        "https://x:0",
        "https://-bad-.com",
        42,
        None,
    ],
)
def test_not_origins(value: object) -> None:
    assert origin_problem(value)


def test_the_site_itself_always_and_only_well_formed_origins_once_each() -> None:
    assert frame_ancestors([]) == "frame-ancestors 'self'"
    given = [
        "HTTPS://Shop.Example.com/",
        "https://shop.example.com",
        " http://localhost:8080 ",
        "https://x.com; script-src *",
    ]
    assert frame_ancestors(given) == "frame-ancestors 'self' https://shop.example.com http://localhost:8080"


def test_the_whole_policy_loads_only_the_sites_own_assets() -> None:
    policy = content_security_policy(["https://shop.example.com"])
    directives = [d.strip() for d in policy.split(";")]
    assert "default-src 'self'" in directives and "form-action 'self'" in directives
    assert directives[-1] == "frame-ancestors 'self' https://shop.example.com"
    assert "unsafe-inline" not in policy
