"""Webhook signature verification (connector side) against the simulator's signer."""

from __future__ import annotations

import pytest

from calendly_sync.calendly.signatures import RejectionKind, SignatureError, parse_signature_header, verify_signature
from calendly_sync.sandbox.signing import SIGNATURE_HEADER, build_delivery, sign

KEY = "5mEzn9C-I28UtwOjZJtFoob0sAAFZ95GbZkqj4y3i0I"
NOW = 1_800_000_000
BODY = b'{"created_at":"2027-01-15T08:00:00.000000Z","event":"invitee.created","payload":{"email":"a@b.example"}}'


def test_valid_signature_returns_the_key() -> None:
    assert verify_signature(BODY, sign(BODY, KEY, NOW), [KEY], now=NOW + 5) == KEY


def test_known_vector_matches_calendly_scheme() -> None:
    # HMAC-SHA256(key, "t.body") in lowercase hex, as in Calendly's Ruby example
    import hashlib
    import hmac

    expected = hmac.new(KEY.encode(), f"{NOW}.".encode() + BODY, hashlib.sha256).hexdigest()
    assert sign(BODY, KEY, NOW) == f"t={NOW},v1={expected}"


def test_wrong_key_is_a_mismatch() -> None:
    with pytest.raises(SignatureError, match="signature mismatch"):
        verify_signature(BODY, sign(BODY, KEY, NOW), ["another-key"], now=NOW)


def test_stale_timestamp_is_rejected_with_age() -> None:
    with pytest.raises(SignatureError) as err:
        verify_signature(BODY, sign(BODY, KEY, NOW - 181), [KEY], now=NOW)
    assert err.value.reason == "timestamp outside tolerance (181 s old)"
    # inside the tolerance it passes
    assert verify_signature(BODY, sign(BODY, KEY, NOW - 179), [KEY], now=NOW) == KEY


def test_future_timestamp_is_rejected() -> None:
    with pytest.raises(SignatureError, match=r"outside tolerance .*future"):
        verify_signature(BODY, sign(BODY, KEY, NOW + 600), [KEY], now=NOW)


@pytest.mark.parametrize("header", [None, "", "   "])
def test_missing_header(header: str | None) -> None:
    with pytest.raises(SignatureError, match="missing signature header"):
        verify_signature(BODY, header, [KEY], now=NOW)


@pytest.mark.parametrize(
    "header",
    [
        "garbage",
        "t=abc,v1=00",
        f"t={NOW}",
        "v1=abcdef",
        f"t={NOW},v1=xyz!",
        f"t={NOW},t={NOW},v1={'ab' * 32}",
        KEY,
        # a v1 signature is HMAC-SHA256 in hex: 64 digits, no fewer, no more
        "t=1,v1=00",
        f"t={NOW},v1={'a' * 63}",
        f"t={NOW},v1={'a' * 65}",
        f"t={NOW},v1={'g' * 64}",
        # longer than any real header (512 characters): refused before it is split
        f"t={NOW},v1={'a' * 64}," + "x=1," * 200,
    ],
)
def test_malformed_header(header: str) -> None:
    with pytest.raises(SignatureError, match="malformed signature header") as err:
        parse_signature_header(header)
    assert err.value.kind == RejectionKind.MALFORMED_HEADER


def test_well_formed_header_with_an_unknown_scheme_and_upper_case_hex() -> None:
    header = f"t={NOW},v0=whatever,v1={'AB' * 32}"
    assert parse_signature_header(header) == (NOW, ["ab" * 32])


@pytest.mark.parametrize(
    "header,keys,age,kind",
    [
        (None, [KEY], 0, RejectionKind.MALFORMED_HEADER),
        ("t=1,v1=00", [KEY], 0, RejectionKind.MALFORMED_HEADER),
        (sign(BODY, "wrong", NOW), [KEY], 5, RejectionKind.BAD_SIGNATURE),
        (sign(BODY, "wrong", NOW), [KEY], 181, RejectionKind.BAD_SIGNATURE_OLD),
        (sign(BODY, "wrong", NOW), [KEY], -181, RejectionKind.BAD_SIGNATURE_OLD),
        (sign(BODY, KEY, NOW), [], 5, RejectionKind.NO_SIGNING_KEY),
        (sign(BODY, KEY, NOW), [], 10_000, RejectionKind.BAD_SIGNATURE_OLD),
        (sign(BODY, KEY, NOW), [KEY], 181, RejectionKind.STALE_TIMESTAMP),
        (sign(BODY, KEY, NOW), [KEY], -181, RejectionKind.STALE_TIMESTAMP),
    ],
)
def test_each_failure_says_its_kind(header: str | None, keys: list[str], age: int, kind: RejectionKind) -> None:
    """A mismatch with a current timestamp is what a wrong key on a real delivery looks like; with an
    old one it is noise (Calendly signs with its current time). Only the key makes a stale one."""
    with pytest.raises(SignatureError) as err:
        verify_signature(BODY, header, keys, now=NOW + age)
    assert err.value.kind == kind


def test_several_v1_values_any_may_match() -> None:
    good = sign(BODY, KEY, NOW).split("v1=")[1]
    header = f"t={NOW},v1={'0' * 64},v1={good}"
    assert parse_signature_header(header) == (NOW, ["0" * 64, good])
    assert verify_signature(BODY, header, [KEY], now=NOW) == KEY


def test_rotated_key_second_in_list_verifies() -> None:
    new_key = "rotated-key"
    assert verify_signature(BODY, sign(BODY, new_key, NOW), [KEY, new_key], now=NOW) == new_key


def test_body_changed_by_one_byte_fails() -> None:
    header = sign(BODY, KEY, NOW)
    tampered = BODY.replace(b"a@b.example", b"a@c.example")
    assert len(tampered) == len(BODY)
    with pytest.raises(SignatureError, match="signature mismatch"):
        verify_signature(tampered, header, [KEY], now=NOW)


def test_mismatch_reported_before_staleness_and_no_key_material_in_reason() -> None:
    with pytest.raises(SignatureError) as err:
        verify_signature(BODY, sign(BODY, "wrong", NOW - 10_000), [KEY], now=NOW)
    assert err.value.reason == "signature mismatch"
    assert KEY not in str(err.value)


def test_no_keys_configured() -> None:
    with pytest.raises(SignatureError, match="no signing key"):
        verify_signature(BODY, sign(BODY, KEY, NOW), [], now=NOW)


def test_build_delivery_signs_exact_body() -> None:
    body, headers = build_delivery("invitee.created", {"uri": "x"}, "https://api.calendly.com/users/U", KEY, t=NOW)
    assert verify_signature(body, headers[SIGNATURE_HEADER], [KEY], now=NOW) == KEY
    assert b'"created_at": "2027-01-15T08:00:00.000000Z"' in body
    _, headers2 = build_delivery("invitee.created", {"uri": "x"}, "u", None, t=NOW)
    assert SIGNATURE_HEADER not in headers2
