"""The one view: parse the signature header, HMAC-SHA256 over ``t.body``, constant-time compare, one insert."""

from __future__ import annotations

import hashlib
import hmac

from django.conf import settings
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from floor_app.models import Delivery

KEY = settings.SIGNING_KEY.encode()


class Hook(APIView):
    authentication_classes: list[type] = []
    permission_classes: list[type] = []

    def post(self, request: Request) -> Response:
        body = request.body
        header = request.headers.get("Calendly-Webhook-Signature", "")
        parts = dict(p.split("=", 1) for p in header.split(",") if "=" in p)
        t, v1 = parts.get("t", ""), parts.get("v1", "")
        if not t.isdigit():
            return Response({"detail": "bad signature"}, status=401)
        mac = hmac.new(KEY, t.encode("ascii") + b"." + body, hashlib.sha256).hexdigest()
        if not hmac.compare_digest(mac, v1):
            return Response({"detail": "bad signature"}, status=401)
        delivery = Delivery.objects.create(body=body.decode("utf-8"), signature=v1)
        return Response({"id": delivery.pk})
