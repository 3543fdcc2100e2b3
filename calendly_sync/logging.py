"""A logging filter that removes secrets from every record the connector writes.

Belt and braces: code never logs tokens on purpose, and this filter catches what slips through
(an exception that echoes a header, a URL with a token).
"""

from __future__ import annotations

import logging
import re

_PATTERNS = [
    (re.compile(r"(?i)(authorization:?\s*['\"]?(?:bearer|basic)\s+)[^\s'\",]+"), r"\1[redacted]"),
    (re.compile(r"(?i)(api-key['\"]?\s*[:=]\s*['\"]?)[^\s'\",]+"), r"\1[redacted]"),
    (re.compile(r"xkeysib-[A-Za-z0-9-]+"), "xkeysib-[redacted]"),
    (re.compile(r"(?i)(v1=)[0-9a-f]{16,}"), r"\1[redacted]"),
    (re.compile(r"(?i)((?:access|refresh)_token['\"]?\s*[:=]\s*['\"]?)[^\s'\",&]+"), r"\1[redacted]"),
    (
        re.compile(r"(?i)((?:client_secret|signing_key|code_verifier)['\"]?\s*[:=]\s*['\"]?)[^\s'\",&]+"),
        r"\1[redacted]",
    ),
    (re.compile(r"eyJ[A-Za-z0-9_-]{10,}\.[A-Za-z0-9_-]{10,}(?:\.[A-Za-z0-9_-]+)?"), "[redacted-jwt]"),
]


def redact(text: str) -> str:
    for pattern, replacement in _PATTERNS:
        text = pattern.sub(replacement, text)
    return text


class RedactSecretsFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # noqa: BLE001  (a broken format string is not ours to fix here)
            return True
        cleaned = redact(message)
        if cleaned != message or record.args:
            record.msg, record.args = cleaned, None
        if record.exc_info and record.exc_info[1] is not None:
            record.exc_text = redact(logging.Formatter().formatException(record.exc_info))
        return True
