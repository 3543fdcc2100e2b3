from __future__ import annotations

from django.db import models


class Delivery(models.Model):
    """One verified webhook body, as received."""

    body = models.TextField()
    signature = models.CharField(max_length=64)
    received_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return f"delivery {self.pk}"
