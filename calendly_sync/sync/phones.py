"""Phone numbers to E.164, for Brevo's SMS and WhatsApp attributes. Pure functions.

Brevo rejects a whole contact for one phone number without a country code, and Calendly has no
invitee country: a local number ("06 12 34 56 78") gets the country of the invitee's time zone,
read from the tz database (``zone.tab``) with a small built-in table as a fallback.
"""

from __future__ import annotations

import contextlib
import functools
import importlib.resources
import os
import re
import zoneinfo

import phonenumbers

__all__ = ["normalize_phone", "region_for_timezone"]

# -- time zone → country (for local phone numbers) ------------------------------------------------

#: Used when no zone.tab is readable, and for common legacy aliases.
_FALLBACK_ZONE_REGIONS: dict[str, str] = {
    "America/New_York": "US",
    "America/Chicago": "US",
    "America/Denver": "US",
    "America/Phoenix": "US",
    "America/Los_Angeles": "US",
    "America/Anchorage": "US",
    "Pacific/Honolulu": "US",
    "America/Detroit": "US",
    "US/Eastern": "US",
    "US/Central": "US",
    "US/Mountain": "US",
    "US/Pacific": "US",
    "America/Toronto": "CA",
    "America/Vancouver": "CA",
    "America/Edmonton": "CA",
    "America/Winnipeg": "CA",
    "America/Halifax": "CA",
    "America/Mexico_City": "MX",
    "America/Sao_Paulo": "BR",
    "America/Argentina/Buenos_Aires": "AR",
    "America/Bogota": "CO",
    "America/Lima": "PE",
    "America/Santiago": "CL",
    "Europe/London": "GB",
    "Europe/Dublin": "IE",
    "Europe/Paris": "FR",
    "Europe/Berlin": "DE",
    "Europe/Madrid": "ES",
    "Europe/Rome": "IT",
    "Europe/Amsterdam": "NL",
    "Europe/Brussels": "BE",
    "Europe/Zurich": "CH",
    "Europe/Vienna": "AT",
    "Europe/Lisbon": "PT",
    "Europe/Stockholm": "SE",
    "Europe/Oslo": "NO",
    "Europe/Copenhagen": "DK",
    "Europe/Helsinki": "FI",
    "Europe/Warsaw": "PL",
    "Europe/Prague": "CZ",
    "Europe/Athens": "GR",
    "Europe/Istanbul": "TR",
    "Europe/Kyiv": "UA",
    "Europe/Kiev": "UA",
    "Europe/Moscow": "RU",
    "Asia/Kolkata": "IN",
    "Asia/Calcutta": "IN",
    "Asia/Tokyo": "JP",
    "Asia/Shanghai": "CN",
    "Asia/Hong_Kong": "HK",
    "Asia/Singapore": "SG",
    "Asia/Dubai": "AE",
    "Asia/Seoul": "KR",
    "Asia/Jakarta": "ID",
    "Asia/Manila": "PH",
    "Asia/Bangkok": "TH",
    "Asia/Karachi": "PK",
    "Asia/Jerusalem": "IL",
    "Asia/Riyadh": "SA",
    "Australia/Sydney": "AU",
    "Australia/Melbourne": "AU",
    "Australia/Brisbane": "AU",
    "Australia/Perth": "AU",
    "Pacific/Auckland": "NZ",
    "Africa/Lagos": "NG",
    "Africa/Johannesburg": "ZA",
    "Africa/Cairo": "EG",
    "Africa/Nairobi": "KE",
    "Africa/Casablanca": "MA",
}


def _tzdata_dirs() -> list[str]:
    """Directories that may hold zone.tab: the ``tzdata`` wheel first, then the system TZPATH."""
    dirs: list[str] = []
    with contextlib.suppress(ModuleNotFoundError):  # tzdata not installed (it is optional on Linux)
        dirs.append(str(importlib.resources.files("tzdata") / "zoneinfo"))
    dirs.extend(zoneinfo.TZPATH)
    dirs.append("/usr/share/zoneinfo")
    return list(dict.fromkeys(dirs))


def _read_lines(path: str) -> list[str]:
    try:
        with open(path, encoding="utf-8") as fh:
            return fh.read().splitlines()
    except OSError:
        return []


@functools.lru_cache(maxsize=1)
def _zone_regions() -> tuple[dict[str, str], dict[str, str]]:
    """(zone → ISO country, link/alias → canonical zone), read once from the tz database files.

    ``zone.tab`` gives one country per zone and wins; ``zone1970.tab`` lists the most populous
    country first and fills the gaps. ``tzdata.zi`` "L" lines resolve legacy names such as
    ``Asia/Calcutta``.
    """
    regions: dict[str, str] = {}
    links: dict[str, str] = {}
    for directory in _tzdata_dirs():
        for name in ("zone.tab", "zone1970.tab"):
            for line in _read_lines(os.path.join(directory, name)):
                if not line or line.startswith("#"):
                    continue
                cols = line.split("\t")
                if len(cols) >= 3:
                    country = cols[0].split(",")[0].strip().upper()
                    if len(country) == 2:
                        regions.setdefault(cols[2].strip(), country)
        for line in _read_lines(os.path.join(directory, "tzdata.zi")):
            if line.startswith("L "):
                parts = line.split()
                if len(parts) == 3:
                    links.setdefault(parts[2], parts[1])
    return regions, links


def region_for_timezone(tz: str | None) -> str | None:
    """ISO 3166 country of an IANA time zone (``Europe/Paris`` → ``FR``), or None.

    Calendly has no invitee country; the booking page's time zone is the best hint for the country
    code a local phone number ("06 12 34 56 78") was typed without. Zones spanning no country
    (``UTC``, ``Etc/*``) give None.
    """
    if not tz or not isinstance(tz, str):
        return None
    name = tz.strip().replace(" ", "_")
    regions, links = _zone_regions()
    seen: set[str] = set()
    current = name
    while current and current not in seen:
        seen.add(current)
        if current in regions:
            return regions[current]
        if current in _FALLBACK_ZONE_REGIONS:
            return _FALLBACK_ZONE_REGIONS[current]
        current = links.get(current, "")
    return None


# -- phone numbers ---------------------------------------------------------------------------------


def _phone_candidates(raw: str) -> str:
    text = raw.strip()
    compact = re.sub(r"[\s().\-/]", "", text)
    if compact.startswith("00"):
        # International "00" prefix (Europe, India, …): phonenumbers only reads it for a region
        # whose exit code is 00, so rewrite it to "+" to parse it without a region.
        return "+" + compact[2:]
    return text


def normalize_phone(raw: str | None, *, timezone: str | None = None, default_region: str | None = None) -> str | None:
    """E.164 (``+33612345678``) or None when the number is not a valid one.

    Cached: a contact's refresh maps each of its bookings' answers, so one number is parsed several
    times per delivery, and ``phonenumbers.parse`` was a tenth of the drain's CPU (a profile of
    1,000 deliveries: 3,000 parses, 0.7 of 4.7 profiled seconds). A pure function of its arguments;
    arguments that cannot be a cache key (a list where an answer was expected) are parsed uncached.
    """
    if raw is None:
        return None
    try:
        return _normalize_cached(str(raw), timezone, default_region)
    except TypeError:  # unhashable time zone or region from a malformed payload
        return _normalize(str(raw), timezone, default_region)


@functools.lru_cache(maxsize=4096)
def _normalize_cached(raw: str, timezone: str | None, default_region: str | None) -> str | None:
    return _normalize(raw, timezone, default_region)


def _normalize(raw: str | None, timezone: str | None = None, default_region: str | None = None) -> str | None:
    """The parse behind :func:`normalize_phone`.

    Brevo answers 400 "Invalid phone number" for numbers without a country code, and that fails the
    whole contact; so numbers are normalised here and invalid ones are refused before sending.
    International numbers (``+``/``00``) are parsed as written; local ones get the country of the
    invitee's time zone, then ``default_region``.
    """
    if raw is None:
        return None
    raw = str(raw).strip()
    if not raw:
        return None
    text = _phone_candidates(raw)
    if text.startswith("+"):
        regions: list[str | None] = [None]
    else:
        regions = [r for r in dict.fromkeys((region_for_timezone(timezone), default_region)) if r]
    for region in regions:
        try:
            number = phonenumbers.parse(text, region.upper() if region else None)
        except phonenumbers.NumberParseException:
            continue
        if phonenumbers.is_valid_number(number):
            return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
    return None
