"""What the API reads and writes: request bodies and queries, checked by DRF; responses, documented.

Request serializers refuse fields they do not know (a typo such as ``"answer"`` would otherwise be
dropped silently and the booking refused for a "missing" answer). What they check is the shape;
what depends on the event type (its questions, locations) is the scheduling service's to check.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from rest_framework import serializers

from calendly_sync.calendly.invitee import TRACKING_KEYS
from calendly_sync.calendly.limits import EVENT_GUESTS_MAX

CONNECTION_HELP = "The connection's name; may be left out when exactly one connection is enabled."


class StrictSerializer(serializers.Serializer[Any]):
    """A request serializer that refuses unknown fields, naming them."""

    def to_internal_value(self, data: Any) -> Any:
        if isinstance(data, Mapping):
            unknown = sorted(str(key) for key in data if key not in self.fields)
            if unknown:
                raise serializers.ValidationError(
                    {key: [f"unknown field (expected: {', '.join(self.fields)})"] for key in unknown}
                )
        return super().to_internal_value(data)


class ConnectionQuerySerializer(StrictSerializer):
    connection = serializers.CharField(required=False, allow_blank=True, max_length=100, help_text=CONNECTION_HELP)


class AvailableTimesQuerySerializer(ConnectionQuerySerializer):
    start_time = serializers.DateTimeField(help_text="ISO 8601; a start in the past begins now.")
    end_time = serializers.DateTimeField(help_text="ISO 8601; at most 366 days after the start.")


class TrackingSerializer(StrictSerializer):
    """Calendly's tracking keys (UTM parameters and ``salesforce_uuid``), each optional."""

    def get_fields(self) -> dict[str, serializers.Field[Any, Any, Any, Any]]:
        return {
            key: serializers.CharField(required=False, allow_null=True, allow_blank=True, max_length=255)
            for key in TRACKING_KEYS
        }


class InviteeSerializer(StrictSerializer):
    name = serializers.CharField(
        required=False, allow_blank=True, max_length=200, help_text="Full name (or give first_name)."
    )
    email = serializers.EmailField(max_length=254)
    timezone = serializers.CharField(max_length=64, help_text="IANA time zone, e.g. Europe/Paris.")
    first_name = serializers.CharField(required=False, allow_blank=True, max_length=100)
    last_name = serializers.CharField(required=False, allow_blank=True, max_length=100)
    text_reminder_number = serializers.CharField(
        required=False, allow_blank=True, max_length=40, help_text="Phone number for SMS reminders."
    )


class LocationSerializer(StrictSerializer):
    kind = serializers.CharField(max_length=100, help_text="One of the event type's location kinds.")
    location = serializers.CharField(
        required=False, allow_blank=True, max_length=500, help_text="Address or phone number, where the kind needs one."
    )


class BookingRequestSerializer(StrictSerializer):
    connection = serializers.CharField(required=False, allow_blank=True, max_length=100, help_text=CONNECTION_HELP)
    event_type = serializers.CharField(max_length=300, help_text="The event type's UUID or URI.")
    start_time = serializers.DateTimeField(help_text="ISO 8601; one of the event type's open times.")
    invitee = InviteeSerializer()
    answers = serializers.DictField(
        child=serializers.JSONField(),
        required=False,
        default=dict,
        help_text="Answers keyed by question text; a list (or one choice) for a multiple-choice question.",
    )
    location = LocationSerializer(required=False, allow_null=True)
    tracking = TrackingSerializer(required=False)
    guests = serializers.ListField(
        child=serializers.EmailField(max_length=254), required=False, default=list, max_length=EVENT_GUESTS_MAX
    )


class PrefillSerializer(StrictSerializer):
    name = serializers.CharField(required=False, allow_blank=True, max_length=200)
    email = serializers.EmailField(required=False, allow_blank=True, max_length=254)


class SchedulingLinkRequestSerializer(StrictSerializer):
    connection = serializers.CharField(required=False, allow_blank=True, max_length=100, help_text=CONNECTION_HELP)
    event_type = serializers.CharField(max_length=300, help_text="The event type's UUID or URI.")
    prefill = PrefillSerializer(required=False)
    tracking = TrackingSerializer(required=False)


# -- responses --------------------------------------------------------------------------------
class CustomQuestionSerializer(serializers.Serializer[Any]):
    name = serializers.CharField()
    type = serializers.CharField(help_text="string, text, single_select, multi_select or phone_number")
    # DRF's metaclass takes declared fields off the class, so the name may shadow Field.required.
    required = serializers.BooleanField()  # type: ignore[assignment]
    answer_choices = serializers.ListField(child=serializers.CharField())
    position = serializers.IntegerField()


class EventTypeSerializer(serializers.Serializer[Any]):
    uri = serializers.CharField()
    uuid = serializers.CharField()
    name = serializers.CharField()
    slug = serializers.CharField()
    duration = serializers.IntegerField(allow_null=True, help_text="Minutes.")
    scheduling_url = serializers.CharField()
    locations = serializers.ListField(child=serializers.DictField(), help_text="Calendly's location options.")
    custom_questions = CustomQuestionSerializer(many=True)


class EventTypeListSerializer(serializers.Serializer[Any]):
    collection = EventTypeSerializer(many=True)


class AvailableTimeSerializer(serializers.Serializer[Any]):
    start_time = serializers.DateTimeField()
    status = serializers.CharField()
    invitees_remaining = serializers.IntegerField(allow_null=True)


class AvailableTimesSerializer(serializers.Serializer[Any]):
    collection = AvailableTimeSerializer(many=True)


class BookingSerializer(serializers.Serializer[Any]):
    invitee_uri = serializers.CharField()
    event_uri = serializers.CharField()
    start_time = serializers.DateTimeField()
    end_time = serializers.DateTimeField()
    cancel_url = serializers.CharField()
    reschedule_url = serializers.CharField()


class SchedulingLinkSerializer(serializers.Serializer[Any]):
    booking_url = serializers.CharField(help_text="Single-use; name, email and tracking in its query.")


class ErrorSerializer(serializers.Serializer[Any]):
    detail = serializers.CharField()
    code = serializers.CharField(
        help_text="invalid, not_found, slot_unavailable, missing_scope, forbidden, quota_exceeded, "
        "connection_unusable, calendly_unavailable, or DRF's (not_authenticated, parse_error, …)"
    )
    # A declared field, taken off the class by DRF's metaclass: it does not shadow Serializer.errors.
    errors = serializers.DictField(child=serializers.ListField(child=serializers.CharField()))  # type: ignore[assignment]
    missing_scopes = serializers.ListField(child=serializers.CharField(), required=False)
    retry_after = serializers.IntegerField(required=False, help_text="Seconds, also sent as Retry-After.")
    limited_by = serializers.ChoiceField(choices=["calendly", "connector"], required=False)
