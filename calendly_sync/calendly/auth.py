"""Where the client gets its bearer token from.

Why a protocol: a PAT never changes, while an OAuth token must be refreshed (single-use,
rotating refresh tokens, serialized per account) by code that owns persistence. The client only
needs "give me a token" and "that one was rejected: can you get a fresh one?".
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable


@runtime_checkable
class TokenSource(Protocol):
    def access_token(self) -> str:
        """The bearer token to send now."""
        ...

    def refresh_after_unauthorized(self, error: Exception) -> bool:
        """Called after a 401. Return True if a fresh token is now available (retry once)."""
        ...


class StaticToken:
    """A Personal Access Token: nothing to refresh."""

    def __init__(self, token: str) -> None:
        self._token = token

    def access_token(self) -> str:
        return self._token

    def refresh_after_unauthorized(self, error: Exception) -> bool:
        return False

    def __repr__(self) -> str:  # never show the secret
        return "StaticToken(<redacted>)"
