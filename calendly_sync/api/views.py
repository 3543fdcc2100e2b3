"""The API's views: read the request, call :mod:`calendly_sync.scheduling.service`, answer.

Each view checks the request's shape with its serializer, picks the connection (``?connection=``
or ``"connection"`` in the body), and lets the service do the rest; every refusal becomes the
one error shape of ``errors.py``. Bodies are JSON only.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.exceptions import ParseError
from rest_framework.parsers import JSONParser
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from calendly_sync.api.auth import AUTHENTICATION, PERMISSIONS
from calendly_sync.api.errors import api_exception_handler
from calendly_sync.api.serializers import (
    AvailableTimesQuerySerializer,
    AvailableTimesSerializer,
    BookingRequestSerializer,
    BookingSerializer,
    ConnectionQuerySerializer,
    ErrorSerializer,
    EventTypeListSerializer,
    SchedulingLinkRequestSerializer,
    SchedulingLinkSerializer,
)
from calendly_sync.scheduling import service
from calendly_sync.scheduling.service import BookingRequest, Invitee
from calendly_sync.storable import unstorable


def _errors(*codes: int) -> dict[int, OpenApiResponse]:
    reasons = {
        400: "Invalid request (the field and the reason in errors), or a connection to name",
        401: "No or bad credentials",
        403: "Not allowed, or a Calendly scope missing (named in missing_scopes)",
        404: "No such event type",
        409: "The start time is no longer available",
        429: "A booking quota is used up (Calendly's or the plan's, counted by the connector): see Retry-After",
        503: "Calendly is unavailable, or the connection needs attention",
    }
    return {code: OpenApiResponse(ErrorSerializer, description=reasons[code]) for code in codes}


class StorableJSONParser(JSONParser):
    """JSON whose strings (keys too) are text: a NUL or an unpaired surrogate escape is a 400.

    DRF's CharFields refuse them, but not an answer (a JSONField), nor a key: an unknown field named
    ``"\\ud800"`` was echoed in the error and failed the response's UTF-8 encoding (a 500), and an
    answer went to Calendly, whose webhook for the booking could then not be stored.
    """

    def parse(self, stream: Any, media_type: str | None = None, parser_context: Any = None) -> Any:
        data = super().parse(stream, media_type, parser_context)
        problem = unstorable(data)
        if problem:
            raise ParseError(f"JSON body {problem}.")
        return data


class ApiView(APIView):
    """Token or staff-session access, JSON bodies, and the API's error shape."""

    authentication_classes = AUTHENTICATION
    permission_classes = PERMISSIONS
    parser_classes = [StorableJSONParser]

    def get_exception_handler(self) -> Callable[[Exception, dict[str, Any]], Response | None]:
        return api_exception_handler

    @staticmethod
    def connection_name(request: Request, body: dict[str, Any] | None = None) -> str | None:
        name = (body or {}).get("connection") or request.query_params.get("connection")
        return str(name) if name else None


class EventTypeListView(ApiView):
    @extend_schema(
        summary="The connection's active event types",
        parameters=[ConnectionQuerySerializer],
        responses={200: EventTypeListSerializer, **_errors(400, 401, 403, 429, 503)},
    )
    def get(self, request: Request) -> Response:
        query = ConnectionQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        connection = service.choose_connection(self.connection_name(request, query.validated_data))
        items = service.list_event_types(connection)
        return Response(EventTypeListSerializer({"collection": items}).data)


class AvailableTimesView(ApiView):
    @extend_schema(
        summary="Open times of an event type",
        description="A range longer than Calendly accepts in one call (31 days) is fetched window by window "
        "and merged in order.",
        parameters=[
            OpenApiParameter("uuid", str, OpenApiParameter.PATH, description="The event type's UUID."),
            AvailableTimesQuerySerializer,
        ],
        responses={200: AvailableTimesSerializer, **_errors(400, 401, 403, 404, 429, 503)},
    )
    def get(self, request: Request, uuid: str) -> Response:
        query = AvailableTimesQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        data = query.validated_data
        connection = service.choose_connection(self.connection_name(request, data))
        slots = service.available_times(connection, uuid, data["start_time"], data["end_time"])
        return Response(AvailableTimesSerializer({"collection": slots}).data)


class BookingCreateView(ApiView):
    @extend_schema(
        summary="Book a meeting (Calendly's Scheduling API)",
        description="Answers are checked against the event type's questions before Calendly is called; the "
        "booking then reaches Brevo through Calendly's webhook (or the next sync).",
        parameters=[ConnectionQuerySerializer],
        request=BookingRequestSerializer,
        responses={201: BookingSerializer, **_errors(400, 401, 403, 404, 409, 429, 503)},
    )
    def post(self, request: Request) -> Response:
        body = BookingRequestSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        data = body.validated_data
        connection = service.choose_connection(self.connection_name(request, data))
        inv = data["invitee"]
        booking = service.book(
            connection,
            BookingRequest(
                event_type=data["event_type"],
                start_time=data["start_time"],
                invitee=Invitee(
                    email=inv["email"],
                    timezone=inv["timezone"],
                    name=inv.get("name", ""),
                    first_name=inv.get("first_name", ""),
                    last_name=inv.get("last_name", ""),
                    text_reminder_number=inv.get("text_reminder_number", ""),
                ),
                answers=data["answers"],
                location=data.get("location"),
                tracking=data.get("tracking"),
                guests=data["guests"],
            ),
        )
        return Response(BookingSerializer(booking).data, status=status.HTTP_201_CREATED)


class SchedulingLinkCreateView(ApiView):
    @extend_schema(
        summary="A single-use booking link, pre-filled",
        description="max_event_count 1; name, email and tracking are added to the URL as Calendly's booking "
        "pages read them.",
        parameters=[ConnectionQuerySerializer],
        request=SchedulingLinkRequestSerializer,
        responses={201: SchedulingLinkSerializer, **_errors(400, 401, 403, 404, 429, 503)},
    )
    def post(self, request: Request) -> Response:
        body = SchedulingLinkRequestSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        data = body.validated_data
        connection = service.choose_connection(self.connection_name(request, data))
        url = service.scheduling_link(
            connection, data["event_type"], prefill=data.get("prefill"), tracking=data.get("tracking")
        )
        return Response(SchedulingLinkSerializer({"booking_url": url}).data, status=status.HTTP_201_CREATED)
