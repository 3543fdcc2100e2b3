"""The charts in Chromium, inside the admin's page: drawn, styled by the shipped stylesheet, in both themes."""

from __future__ import annotations

from typing import Any

import pytest

from tests.browser import SCREENSHOTS, browser_missing, page_fixture
from tests.overview.test_charts import NOW, at, booking, delivery

pytestmark = [pytest.mark.browser, pytest.mark.urls("tests.overview.chart_page")]

page = page_fixture("charts-")


@pytest.mark.django_db(transaction=True)
def test_the_charts_are_drawn_in_the_light_and_the_dark_theme(page: Any, live_server: Any) -> None:
    if isinstance(page, str):
        browser_missing(page)
    from calendly_sync.models import Connection

    connection = Connection.objects.create(name="main")
    for day in (1, 2, 3):
        booking(connection, invitee_created_at=at(day, 10))
    booking(connection, invitee_created_at=at(2, 11), status="canceled", canceled_at=at(3, 9))
    delivery(connection, at(3, 11, 5), status="processed", processed_at=at(3, 11, 5, 2))

    colours = {}
    for scheme in ("light", "dark"):
        page.emulate_media(color_scheme=scheme)
        page.goto(f"{live_server.url}/charts/?now={NOW.isoformat().replace('+', '%2B')}")
        svgs = page.locator("svg.cs-chart-svg")
        assert svgs.count() == 3
        for i in range(3):
            box = svgs.nth(i).bounding_box()
            assert box and box["width"] > 400 and box["height"] > 100
        # The hidden tables are there for screen readers, and take no room on screen.
        tables = page.locator(".cs-visually-hidden")
        assert tables.count() == 3
        assert all((tables.nth(i).bounding_box() or {"width": 0})["width"] <= 1 for i in range(3))
        assert page.locator(".cs-chart-bar rect").count() == 48
        colours[scheme] = page.eval_on_selector(
            ".cs-chart-line .cs-series-1 polyline", "e => [getComputedStyle(e).stroke, getComputedStyle(e).fill]"
        )
        colours[f"{scheme}-3"] = page.eval_on_selector(".cs-chart-line .cs-series-3", "e => getComputedStyle(e).color")
        background = page.eval_on_selector(".cs-chart", "e => getComputedStyle(e).backgroundColor")
        colours[f"{scheme}-bg"] = background
        page.screenshot(path=str(SCREENSHOTS / f"charts-{scheme}.png"), full_page=True)

    # The stylesheet applies (admin's --link-fg for the first series, no fill under a line) and
    # follows the theme through the admin's CSS variables, and its own amber/yellow for the third.
    assert colours["light"] == ["rgb(65, 120, 147)", "none"]
    assert colours["dark"] == ["rgb(129, 212, 250)", "none"]
    assert colours["light-3"] == "rgb(168, 100, 0)" and colours["dark-3"] == "rgb(245, 221, 93)"
    assert colours["light-bg"] == "rgb(255, 255, 255)" and colours["dark-bg"] != colours["light-bg"]
