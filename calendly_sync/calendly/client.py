"""Calendly API v2 client.

Why hand-written: the connector needs exact control over retries (429 waits for
``X-RateLimit-Reset``; 5xx/timeouts back off within a bound; 401 triggers one token refresh),
checkpointable cursor pagination, and typed errors that never leak the token.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, TypedDict, Unpack
from urllib.parse import parse_qs, urlsplit

import requests

from calendly_sync.calendly.auth import StaticToken, TokenSource
from calendly_sync.calendly.errors import (
    CalendlyAuthError,
    CalendlyError,
    CalendlyRateLimited,
    CalendlyServerError,
    CalendlyTransportError,
    error_for_status,
)
from calendly_sync.calendly.invitee import TRACKING_KEYS
from calendly_sync.calendly.ratelimit import RateLimiter
from calendly_sync.http import DEFAULT_TIMEOUT, RetryPolicy, header_seconds, new_session

logger = logging.getLogger("calendly_sync.calendly")

DEFAULT_BASE_URL = "https://api.calendly.com"
PAGE_SIZE = 100
IDEMPOTENT = frozenset({"GET", "HEAD", "PUT", "DELETE", "OPTIONS"})


def format_time(value: datetime | str) -> str:
    """UTC with microseconds and ``Z`` (``2020-01-02T03:04:05.678123Z``); naive = UTC; str passes."""
    if isinstance(value, str):
        return value
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def uuid_from_uri(uri: str) -> str:
    """The last path segment of a Calendly URI (Calendly objects carry no separate UUID field)."""
    return [p for p in urlsplit(uri).path.split("/") if p][-1]


@dataclass
class Page:
    """One page of a collection; ``next_page_token`` is the checkpoint to resume from."""

    items: list[dict[str, Any]]
    next_page_token: str | None
    previous_page_token: str | None = None
    page_token: str | None = None  # the token that fetched this page (None for the first)
    raw_pagination: dict[str, Any] = field(default_factory=dict)


class ScheduledEventFilters(TypedDict, total=False):
    """The filters of ``GET /scheduled_events`` (see :meth:`CalendlyClient.scheduled_events_params`)."""

    user: str | None
    organization: str | None
    group: str | None
    status: str | None
    min_start_time: datetime | str | None
    max_start_time: datetime | str | None
    invitee_email: str | None
    sort: str | None


class CalendlyClient:
    """Thin, retrying client for api.calendly.com (or the simulator at ``base_url``)."""

    def __init__(
        self,
        token: str | TokenSource,
        base_url: str = DEFAULT_BASE_URL,
        *,
        session: requests.Session | None = None,
        retry: RetryPolicy = RetryPolicy(),
        sleep: Callable[[float], None] = time.sleep,
        rate_limiter: RateLimiter | None = None,
        timeout: float | tuple[float, float] = DEFAULT_TIMEOUT,
    ) -> None:
        self.tokens: TokenSource = StaticToken(token) if isinstance(token, str) else token
        self.base_url = base_url.rstrip("/")
        self.session = session or new_session("calendly")
        self.retry = retry
        self.sleep = sleep
        self.rate_limiter = rate_limiter
        self.timeout = timeout
        self._stats_lock = threading.Lock()
        # calls: HTTP requests sent; rate_limited: 429s seen; retries: re-sends after 429/5xx/transport/401
        self.stats: dict[str, int] = {"calls": 0, "rate_limited": 0, "retries": 0}

    def __repr__(self) -> str:
        return f"CalendlyClient(base_url={self.base_url!r})"

    def _bump(self, key: str) -> None:
        with self._stats_lock:
            self.stats[key] += 1

    # -- URLs ----------------------------------------------------------------------------------
    def _url(self, path_or_uri: str) -> str:
        """Full URIs from any host are rebased onto ``base_url`` (so the simulator/proxies work)."""
        if "://" in path_or_uri:
            split = urlsplit(path_or_uri)
            path = split.path + (f"?{split.query}" if split.query else "")
        else:
            path = path_or_uri if path_or_uri.startswith("/") else "/" + path_or_uri
        return self.base_url + path

    @staticmethod
    def _path(kind: str, uri_or_uuid: str) -> str:
        """``/kind/<uuid>`` for a bare UUID, else the URI's own path."""
        if "/" in uri_or_uuid:
            return urlsplit(uri_or_uuid).path
        return f"/{kind}/{uri_or_uuid}"

    @staticmethod
    def _clean(params: Mapping[str, Any] | None) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for key, value in (params or {}).items():
            if value is None:
                continue
            if isinstance(value, bool):
                value = "true" if value else "false"
            elif isinstance(value, datetime):
                value = format_time(value)
            out[key] = value
        return out

    # -- core request loop -----------------------------------------------------------------------
    def request(self, method: str, path: str, *, params: Mapping[str, Any] | None = None, json: Any = None) -> Any:
        """Send with retries; return parsed JSON (None for empty bodies) or raise a CalendlyError."""
        method = method.upper()
        url = self._url(path)
        where = urlsplit(url).path
        query = self._clean(params)
        transient = 0  # 5xx + transport failures
        limited = 0  # 429s
        refreshed = False
        while True:
            if self.rate_limiter is not None:
                self.rate_limiter.acquire()
            headers = {"Authorization": f"Bearer {self.tokens.access_token()}", "Accept": "application/json"}
            self._bump("calls")
            try:
                resp = self.session.request(
                    method, url, params=query or None, json=json, headers=headers, timeout=self.timeout
                )
            except requests.RequestException as exc:
                ambiguous = isinstance(exc, requests.ReadTimeout) and method not in IDEMPOTENT
                transient += 1
                kind = type(exc).__name__
                if (
                    ambiguous
                    or transient > self.retry.max_retries
                    or not isinstance(exc, (requests.Timeout, requests.ConnectionError))
                ):
                    note = " (the request may have been applied; not retried)" if ambiguous else ""
                    raise CalendlyTransportError(
                        None,
                        kind,
                        f"{kind} after {transient} attempt(s){note}",
                        method=method,
                        path=where,
                        host=self.base_url,
                    ) from None
                delay = self.retry.backoff(transient)
                logger.warning(
                    "Calendly %s %s%s failed (%s); retry %d in %.2fs",
                    method,
                    self.base_url,
                    where,
                    kind,
                    transient,
                    delay,
                )
                self._bump("retries")
                self.sleep(delay)
                continue

            status = resp.status_code
            if status == 429:
                self._bump("rate_limited")
                limited += 1
                reset = header_seconds(resp.headers, "X-RateLimit-Reset", "Retry-After")
                if limited > self.retry.max_retries or not self.retry.wait_on_rate_limit:
                    raise self._error(resp, method, where, reset_seconds=reset)
                delay = min(reset, self.retry.max_rate_limit_wait) if reset is not None else self.retry.backoff(limited)
                logger.warning("Calendly %s %s rate limited; waiting %.2fs (attempt %d)", method, where, delay, limited)
                deadline = self.rate_limiter.block_for(delay) if self.rate_limiter is not None else None
                self._bump("retries")
                self.sleep(delay)  # other threads sharing this user's limiter wait in acquire()
                if self.rate_limiter is not None and deadline is not None:
                    self.rate_limiter.release(deadline)
                continue

            if self.rate_limiter is not None:
                self.rate_limiter.update_from_headers(resp.headers)

            if status >= 500:
                transient += 1
                if transient > self.retry.max_retries:
                    raise self._error(resp, method, where)
                delay = self.retry.backoff(transient)
                logger.warning("Calendly %s %s returned %d; retry %d in %.2fs", method, where, status, transient, delay)
                self._bump("retries")
                self.sleep(delay)
                continue

            if status == 401:
                err = self._error(resp, method, where)
                if not refreshed and self.tokens.refresh_after_unauthorized(err):
                    refreshed = True
                    self._bump("retries")
                    continue
                raise err

            if status >= 400:
                raise self._error(resp, method, where)

            if status == 204 or not resp.content:
                return None
            try:
                return resp.json()
            except ValueError:
                raise CalendlyError(
                    status, "Invalid Response", "Calendly returned a non-JSON body", method=method, path=where
                ) from None

    @staticmethod
    def _error(resp: requests.Response, method: str, path: str, reset_seconds: float | None = None) -> CalendlyError:
        try:
            body = resp.json()
        except ValueError:
            body = None
        return error_for_status(
            resp.status_code,
            body,
            method=method,
            path=path,
            text=resp.text if body is None else "",
            reset_seconds=reset_seconds,
        )

    def _resource(self, method: str, path: str, **kwargs: Any) -> dict[str, Any]:
        data = self.request(method, path, **kwargs)
        return data.get("resource", data) if isinstance(data, dict) else {}

    # -- pagination ------------------------------------------------------------------------------
    def iter_pages(
        self, path: str, params: Mapping[str, Any] | None = None, page_token: str | None = None
    ) -> Iterator[Page]:
        """Yield pages, re-sending the original filters with each ``page_token`` (§6, §13.11)."""
        base = self._clean(params)
        base.setdefault("count", PAGE_SIZE)
        token = page_token
        while True:
            query = dict(base)
            if token:
                query["page_token"] = token
            data = self.request("GET", path, params=query) or {}
            pagination = data.get("pagination") or {}
            next_token = pagination.get("next_page_token")
            if not next_token and pagination.get("next_page"):
                next_token = (parse_qs(urlsplit(pagination["next_page"]).query).get("page_token") or [None])[0]
            yield Page(
                items=list(data.get("collection") or []),
                next_page_token=next_token,
                previous_page_token=pagination.get("previous_page_token"),
                page_token=token,
                raw_pagination=pagination,
            )
            if not next_token:
                return
            token = next_token

    def iter_collection(self, path: str, params: Mapping[str, Any] | None = None) -> Iterator[dict[str, Any]]:
        """Every item of a collection, 100 per request."""
        for page in self.iter_pages(path, params):
            yield from page.items

    # -- users / event types ---------------------------------------------------------------------
    def get_current_user(self) -> dict[str, Any]:
        return self._resource("GET", "/users/me")

    def list_event_types(
        self,
        *,
        user: str | None = None,
        organization: str | None = None,
        active: bool | None = None,
        sort: str | None = None,
    ) -> Iterator[dict[str, Any]]:
        return self.iter_collection(
            "/event_types", {"user": user, "organization": organization, "active": active, "sort": sort}
        )

    def get_event_type(self, uri_or_uuid: str) -> dict[str, Any]:
        return self._resource("GET", self._path("event_types", uri_or_uuid))

    # -- scheduled events / invitees -------------------------------------------------------------
    def scheduled_events_params(
        self,
        *,
        user: str | None = None,
        organization: str | None = None,
        group: str | None = None,
        status: str | None = None,
        min_start_time: datetime | str | None = None,
        max_start_time: datetime | str | None = None,
        invitee_email: str | None = None,
        sort: str | None = None,
    ) -> dict[str, Any]:
        """The query for /scheduled_events (public so sync code can checkpoint with iter_pages)."""
        return self._clean(
            {
                "user": user,
                "organization": organization,
                "group": group,
                "status": status,
                "min_start_time": format_time(min_start_time) if min_start_time is not None else None,
                "max_start_time": format_time(max_start_time) if max_start_time is not None else None,
                "invitee_email": invitee_email,
                "sort": sort,
            }
        )

    def list_scheduled_events(self, **filters: Unpack[ScheduledEventFilters]) -> Iterator[dict[str, Any]]:
        """Every scheduled event matching the filters of :meth:`scheduled_events_params`, page by page."""
        return self.iter_collection("/scheduled_events", self.scheduled_events_params(**filters))

    def get_scheduled_event(self, uri_or_uuid: str) -> dict[str, Any]:
        return self._resource("GET", self._path("scheduled_events", uri_or_uuid))

    def list_invitees(
        self, event_uri_or_uuid: str, *, status: str | None = None, email: str | None = None, sort: str | None = None
    ) -> Iterator[dict[str, Any]]:
        path = self._path("scheduled_events", event_uri_or_uuid).rstrip("/") + "/invitees"
        return self.iter_collection(path, {"status": status, "email": email, "sort": sort})

    def get_invitee(self, invitee_uri: str) -> dict[str, Any]:
        return self._resource("GET", self._path("invitees", invitee_uri))

    def cancel_event(self, event_uri: str, reason: str | None = None) -> dict[str, Any]:
        path = self._path("scheduled_events", event_uri).rstrip("/") + "/cancellation"
        return self._resource("POST", path, json={"reason": reason} if reason is not None else {})

    # -- no-shows --------------------------------------------------------------------------------
    def get_invitee_no_show(self, uri: str) -> dict[str, Any]:
        return self._resource("GET", self._path("invitee_no_shows", uri))

    def create_invitee_no_show(self, invitee_uri: str) -> dict[str, Any]:
        return self._resource("POST", "/invitee_no_shows", json={"invitee": invitee_uri})

    def delete_invitee_no_show(self, uri: str) -> None:
        self.request("DELETE", self._path("invitee_no_shows", uri))

    # -- data compliance -------------------------------------------------------------------------
    def delete_invitee_data(self, emails: list[str]) -> None:
        """``POST /data_compliance/deletion/invitees`` with ``{"emails": [...]}``: 202, done within 7 days.

        Calendly removes these invitees' data from every event of the organization. Enterprise
        plans only, with the ``data_compliance:write`` scope: otherwise a
        :class:`~calendly_sync.calendly.errors.CalendlyPermissionError` (403).
        """
        self.request("POST", "/data_compliance/deletion/invitees", json={"emails": list(emails)})

    # -- webhooks --------------------------------------------------------------------------------
    def list_webhook_subscriptions(
        self, *, organization: str, scope: str, user: str | None = None, group: str | None = None
    ) -> Iterator[dict[str, Any]]:
        return self.iter_collection(
            "/webhook_subscriptions", {"organization": organization, "scope": scope, "user": user, "group": group}
        )

    def create_webhook_subscription(
        self,
        *,
        url: str,
        events: list[str],
        organization: str,
        scope: str,
        user: str | None = None,
        group: str | None = None,
        signing_key: str | None = None,
    ) -> dict[str, Any]:
        body = self._clean(
            {
                "url": url,
                "events": list(events),
                "organization": organization,
                "scope": scope,
                "user": user,
                "group": group,
                "signing_key": signing_key,
            }
        )
        return self._resource("POST", "/webhook_subscriptions", json=body)

    def get_webhook_subscription(self, uri: str) -> dict[str, Any]:
        return self._resource("GET", self._path("webhook_subscriptions", uri))

    def delete_webhook_subscription(self, uri: str) -> None:
        self.request("DELETE", self._path("webhook_subscriptions", uri))

    # -- scheduling ------------------------------------------------------------------------------
    def create_scheduling_link(self, event_type_uri: str, max_event_count: int = 1) -> dict[str, Any]:
        return self._resource(
            "POST",
            "/scheduling_links",
            json={"max_event_count": max_event_count, "owner": event_type_uri, "owner_type": "EventType"},
        )

    def list_available_times(
        self, event_type_uri: str, start_time: datetime | str, end_time: datetime | str
    ) -> list[dict[str, Any]]:
        data = self.request(
            "GET",
            "/event_type_available_times",
            params={
                "event_type": event_type_uri,
                "start_time": format_time(start_time),
                "end_time": format_time(end_time),
            },
        )
        return list((data or {}).get("collection") or [])

    def create_invitee(
        self,
        event_type_uri: str,
        start_time: datetime | str,
        invitee: dict[str, Any],
        questions_and_answers: list[dict[str, Any]] | None = None,
        location: dict[str, Any] | None = None,
        tracking: dict[str, Any] | None = None,
        event_guests: list[str] | None = None,
    ) -> dict[str, Any]:
        """Scheduling API booking. ``tracking`` is completed to all six keys as Calendly requires."""
        body: dict[str, Any] = {"event_type": event_type_uri, "start_time": format_time(start_time), "invitee": invitee}
        if questions_and_answers is not None:
            body["questions_and_answers"] = [
                {"question": qa["question"], "answer": qa["answer"], "position": qa.get("position", i)}
                for i, qa in enumerate(questions_and_answers)
            ]
        if location is not None:
            body["location"] = location
        if tracking is not None:
            body["tracking"] = {key: tracking.get(key) for key in TRACKING_KEYS}
        if event_guests:
            body["event_guests"] = list(event_guests)
        return self._resource("POST", "/invitees", json=body)


__all__ = [
    "DEFAULT_BASE_URL",
    "TRACKING_KEYS",
    "CalendlyAuthError",
    "CalendlyClient",
    "CalendlyRateLimited",
    "CalendlyServerError",
    "Page",
    "format_time",
    "uuid_from_uri",
]
