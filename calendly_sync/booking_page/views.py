"""``/book/<event type uuid>/``: the booking page (read the request, call the scheduling service, render).

Every decision lives elsewhere: the connection, the event type, the booking and the translation of
Calendly's refusals in :mod:`calendly_sync.scheduling.service`; time zones and the grouping of open
times in :mod:`.slots`; the form and its token in :mod:`.forms`; the frame policy in :mod:`.frames`.

Every answer of this view, errors included, may be framed by the origins of
``BOOKING_FRAME_ANCESTORS`` (a CSP ``frame-ancestors``; exempt from ``X-Frame-Options: DENY``) and
is never a 5xx for a visitor's input: an unknown event type or connection is a 404 page, a choice of
connection left to make a 400 page, Calendly's refusals re-render the form with the visitor's input.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import wraps
from typing import Any
from urllib.parse import urlencode

from django.core.cache import cache
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import timezone
from django.views.decorators.clickjacking import xframe_options_exempt
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods

from calendly_sync.booking_page.forms import FORM_MAX_AGE, BookingForm, check_token, issue_token, location_choices
from calendly_sync.booking_page.frames import content_security_policy
from calendly_sync.booking_page.notices import Notice, notice_for
from calendly_sync.booking_page.slots import (
    Day,
    Window,
    Zone,
    group_by_day,
    meeting_label,
    moment_label,
    page_window,
    parse_start,
    resolve_timezone,
    timezone_choices,
)
from calendly_sync.conf import app_settings
from calendly_sync.models import Connection
from calendly_sync.scheduling import service
from calendly_sync.scheduling.answers import Question, questions_of
from calendly_sync.scheduling.errors import InvalidRequest, NotFound, SchedulingError

TEMPLATE = "calendly_sync/booking_page/page.html"
CONFIRMED = "calendly_sync/booking_page/confirmed.html"
UNAVAILABLE = "calendly_sync/booking_page/unavailable.html"


def framable(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """Send the page's CSP (with ``frame-ancestors`` from ``BOOKING_FRAME_ANCESTORS``) and skip X-Frame-Options."""

    @wraps(view)
    def wrapped(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        response = view(request, *args, **kwargs)
        response["Content-Security-Policy"] = content_security_policy(app_settings.BOOKING_FRAME_ANCESTORS)
        response["Cache-Control"] = "no-store"  # open times change; a form token must not be shared
        return response

    return xframe_options_exempt(wrapped)


def _unavailable(request: HttpRequest, title: str, message: str, status: int, retry: int | None = None) -> HttpResponse:
    response = render(request, UNAVAILABLE, {"title": title, "message": message}, status=status)
    if retry:
        response["Retry-After"] = str(retry)
    return response


def _connection(name: str | None) -> Connection | Notice:
    """The connection the page books through (same rules as the API), or what to tell the visitor.

    The visitor is not told the names of the site's connections (the API's message lists them).
    """
    try:
        return service.choose_connection(name)
    except InvalidRequest:
        if name:
            return Notice("This booking page does not exist.", 404)
        if Connection.objects.filter(enabled=True).exists():
            return Notice(
                "This booking page needs to say which calendar to use: the site owner should add "
                "?connection=<name> to its address.",
                400,
            )
        return Notice("This booking page does not exist.", 404)


# -- the page ---------------------------------------------------------------------------------
@dataclass
class Times:
    """The open times shown: grouped by day, within a window, or why none could be read."""

    window: Window
    days: list[Day]
    notice: Notice | None = None


def _times(connection: Connection, uuid: str, zone: Zone, raw_from: str | None) -> Times:
    window = page_window(raw_from, timezone.now(), zone.name)
    try:
        slots = service.available_times(connection, uuid, window.start, window.end)
    except SchedulingError as exc:
        return Times(window, [], notice_for(exc))
    return Times(window, group_by_day(slots, zone.name))


def _query(request: HttpRequest, **changes: str) -> str:
    """This page's query string (the parameters it reads) with ``changes``."""
    params = {k: v for k, v in request.GET.items() if k in ("connection", "tz", "from", "name", "email")}
    params.update(changes)
    return f"?{urlencode(params)}" if params else ""


def _render_page(
    request: HttpRequest,
    *,
    page: Page,
    form: BookingForm,
    zone: Zone,
    times: Times,
    notices: list[str],
    status: int,
    retry_after: int | None = None,
) -> HttpResponse:
    picked = form["start_time"].value() if form.is_bound else None
    # A fresh token on every rendering: the visitor may take a while to fix the form.
    token = issue_token(page.uuid)
    picked_start = parse_start(picked)
    offered = {slot.value: day.label for day in times.days for slot in day.slots}
    context = {
        "event_type": page.event_type,
        "form": form,
        "token": token,
        "location_field": form["location"] if "location" in form.fields else None,
        "zone": zone,
        "timezones": timezone_choices(),
        "times": times,
        "picked": picked if picked in offered else None,
        # the day of the time picked is shown open, else the first day; the others are one click away
        "open_day": offered.get(picked or "") or (times.days[0].label if times.days else ""),
        "picked_gone": moment_label(picked_start, zone.name) if picked_start and picked not in offered else "",
        "notices": notices,
        "detect_tz": request.method == "GET" and "tz" not in request.GET,
        "earlier_url": _query(request, **{"from": times.window.previous.isoformat()}) if times.window.previous else "",
        "later_url": _query(request, **{"from": times.window.next.isoformat()}) if times.window.next else "",
        "connection": request.GET.get("connection", ""),
        "from": request.GET.get("from", ""),
        "action": _query(request),
    }
    response = render(request, TEMPLATE, context, status=status)
    if retry_after:
        response["Retry-After"] = str(retry_after)
    return response


@dataclass(frozen=True)
class Page:
    """What every answer of the page needs: the connection, the event type and its form's parts."""

    connection: Connection
    uuid: str
    event_type: dict[str, Any]  # service.describe_event_type's shape
    questions: list[Question]
    locations: list[tuple[str, str]]


@framable
@csrf_exempt  # the signed form token replaces the CSRF cookie here: see calendly_sync/booking_page/forms.py
@require_http_methods(["GET", "HEAD", "POST"])
def booking_page(request: HttpRequest, uuid: str) -> HttpResponse:
    """Show the event type's open times and questions; on ``POST``, book and confirm."""
    connection = _connection(request.GET.get("connection") or None)
    if isinstance(connection, Notice):
        title = "Booking page not found" if connection.status == 404 else "Booking page not set up"
        return _unavailable(request, title, connection.message, connection.status)
    try:
        raw = service.resolve_event_type(connection, uuid, field_name="uuid")
    except (InvalidRequest, NotFound):
        return _unavailable(request, "Booking page not found", "This meeting type does not exist.", 404)
    except SchedulingError as exc:
        notice = notice_for(exc)
        return _unavailable(request, "Booking unavailable", notice.message, notice.status, notice.retry_after)
    event_type = service.describe_event_type(raw)
    page = Page(
        connection, event_type["uuid"] or uuid, event_type, questions_of(raw), location_choices(event_type["locations"])
    )
    if request.method == "POST":
        return _book(request, page)
    zone = resolve_timezone(request.GET.get("tz"))
    prefill = {k: request.GET[k][:254] for k in ("name", "email") if request.GET.get(k)}
    form = BookingForm(page.questions, page.locations, initial=prefill)
    times = _times(connection, page.uuid, zone, request.GET.get("from"))
    notices = [times.notice.message] if times.notice else []
    return _render_page(
        request,
        page=page,
        form=form,
        zone=zone,
        times=times,
        notices=[*notices, zone.message] if zone.message else notices,
        status=times.notice.status if times.notice else 200,
        retry_after=times.notice.retry_after if times.notice else None,
    )


def _book(request: HttpRequest, page: Page) -> HttpResponse:
    """Check the form and its token, book, and confirm; or show the form again with the reasons."""
    zone = resolve_timezone(request.POST.get("tz"))
    state, nonce = check_token(str(request.POST.get("token") or ""), page.uuid)
    if state == "invalid":
        return _unavailable(
            request,
            "Form not accepted",
            "This form could not be verified. Please reload the booking page and try again.",
            403,
        )
    done = cache.get(f"booking_page:{nonce}") if nonce else None
    if done:  # the same form sent again (a double click, a reload): show the first confirmation
        return render(request, CONFIRMED, done)
    form = BookingForm(page.questions, page.locations, request.POST)
    notices = [zone.message] if zone.message else []
    status, retry_after = 400, None
    if state == "expired":
        form.is_valid()  # show what is wrong with it too
        notices.insert(0, "This form was open for too long. Please check the time and submit it again.")
    elif not form.is_valid():
        notices.insert(0, "Please check the highlighted fields.")
    else:
        try:
            booking = service.book(page.connection, form.booking_request(page.uuid, zone.name))
        except SchedulingError as exc:
            notice = notice_for(exc)
            status, retry_after = notice.status, notice.retry_after
            unplaced = form.add_scheduling_errors(exc.errors) if isinstance(exc, InvalidRequest) else []
            notices = [notice.message, *unplaced, *notices]
        else:
            confirmed = {
                "event_type": {"name": page.event_type["name"], "duration": page.event_type["duration"]},
                "when": meeting_label(booking.start_time, booking.end_time, zone.name),
                "name": form.cleaned_data["name"],
                "email": form.cleaned_data["email"],
                "cancel_url": booking.cancel_url,
                "reschedule_url": booking.reschedule_url,
            }
            cache.set(f"booking_page:{nonce}", confirmed, timeout=FORM_MAX_AGE)
            return render(request, CONFIRMED, confirmed)
    return _render_page(
        request,
        page=page,
        form=form,
        zone=zone,
        times=_times(page.connection, page.uuid, zone, request.GET.get("from")),
        notices=notices,
        status=status,
        retry_after=retry_after,
    )
