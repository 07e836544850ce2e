"""The rules of a client's fields: phone, operator code, tag, time zone."""

from __future__ import annotations

import re
import zoneinfo

PHONE = re.compile(r"7\d{10}")
OPERATOR_CODE = re.compile(r"\d{3}")
TAG_MAX = 64


def normalise_phone(value: object) -> str:
    """Accepts ``79001234567`` as a string or an integer; returns the string form.

    Raises:
        ValueError: not 7 followed by 10 digits.
    """
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise ValueError("must be a string or an integer")
    text = str(value).strip()
    if not PHONE.fullmatch(text) or not text.isascii():
        raise ValueError("must be 7 followed by 10 digits, e.g. 79001234567")
    return text


def operator_code_of(phone: str) -> str:
    """The default operator code: digits 2 to 4 of the phone."""
    return phone[1:4]


def check_operator_code(value: str) -> str:
    if not OPERATOR_CODE.fullmatch(value) or not value.isascii():
        raise ValueError("must be exactly 3 digits")
    return value


def check_tag(value: str) -> str:
    if len(value) > TAG_MAX:
        raise ValueError(f"must be at most {TAG_MAX} characters")
    return value


def check_timezone(value: str) -> str:
    """Accepts an IANA time zone name such as ``Europe/Moscow``."""
    try:
        zoneinfo.ZoneInfo(value)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError) as exc:
        raise ValueError("must be an IANA time zone name, e.g. Europe/Moscow") from exc
    return value
