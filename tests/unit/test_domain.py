"""The pure rules: client fields, CSV parsing, retry policy, counts."""

from __future__ import annotations

import random

import pytest

from herald.domain import clients, csv_import
from herald.domain.retry import RetryPolicy, retry_delay
from herald.domain.statuses import MessageStatus, counts_from, zero_counts


@pytest.mark.parametrize("value", ["79001234567", 79001234567, " 79001234567 "])
def test_phone_accepts_string_or_integer(value: object) -> None:
    assert clients.normalise_phone(value) == "79001234567"


@pytest.mark.parametrize(
    "value",
    [
        "89001234567",
        "7900123456",
        "790012345678",
        "7900123456x",
        "\u06679001234567",
        True,
        7.9,
        None,
    ],
)
def test_phone_refuses_anything_else(value: object) -> None:
    with pytest.raises(ValueError, match="must be"):
        clients.normalise_phone(value)


def test_operator_code_defaults_to_digits_two_to_four() -> None:
    assert clients.operator_code_of("79161234567") == "916"


@pytest.mark.parametrize("value", ["12", "1234", "12a", "١٢٣"])
def test_operator_code_is_three_ascii_digits(value: str) -> None:
    with pytest.raises(ValueError, match="3 digits"):
        clients.check_operator_code(value)


def test_timezone_must_be_iana() -> None:
    assert clients.check_timezone("Asia/Kolkata") == "Asia/Kolkata"
    for bad in ("Mars/Olympus", "", "../etc/passwd", "UTC+3"):
        with pytest.raises(ValueError, match="IANA"):
            clients.check_timezone(bad)


def test_csv_reports_each_bad_line_by_number_and_field() -> None:
    parsed = csv_import.parse(
        "phone,operator_code,tag,timezone\r\n"
        "79000000001,,vip,\r\n"
        "\r\n"
        "7900,900,x,UTC\r\n"
        '79000000002,900,"a, quoted tag",Europe/Moscow\r\n'
        "79000000003,900,x,UTC,extra\r\n"
        "79000000004,900," + "t" * 65 + ",UTC\r\n"
    )
    assert parsed.rows == [
        (2, "79000000001", "900", "vip", "UTC"),
        (5, "79000000002", "900", "a, quoted tag", "Europe/Moscow"),
    ]
    assert [(e.line, e.field) for e in parsed.errors] == [(4, "phone"), (6, "line"), (7, "tag")]


def test_csv_needs_the_header() -> None:
    parsed = csv_import.parse("79000000001,900,vip,UTC\n")
    assert parsed.rows == []
    assert parsed.errors[0].field == "header"
    assert csv_import.parse("").errors[0].line == 1


def test_backoff_grows_is_capped_and_jittered() -> None:
    policy = RetryPolicy(max_attempts=5, base=1.0, cap=10.0)
    rng = random.Random(1)
    delays = [policy.delay(n, rng) for n in range(1, 8)]
    for n, delay in enumerate(delays, start=1):
        ceiling = min(10.0, 2 ** (n - 1))
        assert ceiling / 2 <= delay <= ceiling
    assert len({round(d, 6) for d in delays}) == len(delays)
    assert policy.exhausted(5)
    assert not policy.exhausted(4)


def test_retry_after_is_a_floor() -> None:
    policy = RetryPolicy(max_attempts=5, base=0.1, cap=1.0)
    assert retry_delay(policy, 1, 30.0) == 30.0
    assert retry_delay(policy, 1, None) <= 0.1


def test_counts_have_every_status() -> None:
    assert list(zero_counts()) == [s.value for s in MessageStatus]
    counts = counts_from([("sent", 3), ("failed", 1), ("sent", 2)])
    assert counts["sent"] == 5
    assert counts["pending"] == 0
    assert sum(counts.values()) == 6
