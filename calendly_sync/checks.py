"""System checks: warn about settings that are fine for a sandbox but not for production."""
from __future__ import annotations

from django.conf import settings
from django.core.checks import Warning, register


@register()
def deployment_settings(app_configs, **kwargs):  # type: ignore[no-untyped-def]
    issues = []
    if not settings.DEBUG and settings.SECRET_KEY == settings.INSECURE_DEFAULT_SECRET_KEY:
        issues.append(Warning("SECRET_KEY is the insecure default.", hint="Set SECRET_KEY in the environment.",
                              id="calendly_sync.W001"))
    if not settings.FIELD_ENCRYPTION_KEYS and settings.SECRET_KEY == settings.INSECURE_DEFAULT_SECRET_KEY:
        issues.append(Warning(
            "Secrets are encrypted with a key derived from the default SECRET_KEY.",
            hint="Set FIELD_ENCRYPTION_KEYS (see README, 'Secrets at rest').", id="calendly_sync.W002"))
    return issues
