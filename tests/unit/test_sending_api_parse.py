"""The sending-API adapter's pure parts: Retry-After, body validation, classification."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import pytest

from herald.providers import base, fake, sending_api

NOW = datetime(2030, 1, 2, 3, 4, 5, tzinfo=UTC)


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("5", 5.0),
        ("0", 0.0),
        (" 120 ", 120.0),
        ("1.5", 1.5),
        (None, None),
        ("", None),
        ("-1", None),
        ("soon", None),
        ("nan", None),
        ("inf", None),
        ("1e3", None),
        ("1_000", None),
        ("Wed, 99 Foo 2030 25:61:61 GMT", None),
    ],
)
def test_retry_after_seconds_and_garbage(header: str | None, expected: float | None) -> None:
    assert sending_api.parse_retry_after(header, NOW) == expected


def test_retry_after_http_date_in_the_future() -> None:
    header = format_datetime(NOW + timedelta(seconds=30), usegmt=True)
    assert sending_api.parse_retry_after(header, NOW) == 30.0


def test_retry_after_http_date_in_the_past_means_now() -> None:
    header = format_datetime(NOW - timedelta(hours=1), usegmt=True)
    assert sending_api.parse_retry_after(header, NOW) == 0.0


def test_retry_after_date_without_zone_is_gmt() -> None:
    assert sending_api.parse_retry_after("Wed, 02 Jan 2030 03:04:15 -0000", NOW) == 10.0


@pytest.mark.parametrize(
    "body", [b'{"code": 0, "message": "OK"}', b'{"code":0}', b'{"message": "OK", "code": 0}']
)
def test_success_body(body: bytes) -> None:
    assert sending_api.is_success_body(body)


@pytest.mark.parametrize(
    "body",
    [
        b"",
        b"<html>oops",
        b'{"code": 1}',
        b'{"code": 1, "message": "OK"}',
        b'{"message": "OK"}',
        b"{}",
        b"[0]",
        b"0",
        b"null",
        b'{"code": false}',
        b'{"code": 0.0}',
        b'{"code": "0"}',
        b'{"code": null}',
        b'{"code": 0',
        b"\xff\xfe\x00garbage",
        b"[" * 50_000,
    ],
)
def test_garbage_body(body: bytes) -> None:
    assert not sending_api.is_success_body(body)


@pytest.mark.parametrize(
    ("status", "outcome"),
    [
        (200, base.Outcome.SENT),
        (400, base.Outcome.FAILED),
        (404, base.Outcome.FAILED),
        (422, base.Outcome.FAILED),
        (401, base.Outcome.UNAUTHORIZED),
        (403, base.Outcome.UNAUTHORIZED),
        (429, base.Outcome.RATE_LIMITED),
        (500, base.Outcome.RETRY),
        (503, base.Outcome.RETRY),
        (201, base.Outcome.RETRY),
        (204, base.Outcome.RETRY),
        (301, base.Outcome.RETRY),
        (302, base.Outcome.RETRY),
        (405, base.Outcome.RETRY),
        (418, base.Outcome.RETRY),
    ],
)
def test_classify_status(status: int, outcome: base.Outcome) -> None:
    assert sending_api.classify_status(status) is outcome


def test_interpret_sent() -> None:
    result = sending_api.interpret(200, None, b'{"code": 0, "message": "OK"}')
    assert result == base.SendResult(base.Outcome.SENT, status=200)


def test_interpret_oversized_200_is_garbage() -> None:
    result = sending_api.interpret(200, None, None)
    assert result == base.SendResult(base.Outcome.RETRY, sending_api.GARBAGE, status=200)


def test_interpret_429_carries_retry_after() -> None:
    result = sending_api.interpret(429, "3", b"")
    assert result == base.SendResult(base.Outcome.RATE_LIMITED, "http 429", 3.0, 429)


def test_interpret_429_without_retry_after() -> None:
    result = sending_api.interpret(429, None, b"")
    assert result.outcome is base.Outcome.RATE_LIMITED
    assert result.retry_after is None


def test_interpret_failed_names_the_status() -> None:
    result = sending_api.interpret(422, "3", b'{"code": 0}')
    assert result == base.SendResult(base.Outcome.FAILED, "http 422", status=422)


def test_concurrency_must_be_positive() -> None:
    with pytest.raises(ValueError, match="concurrency"):
        sending_api.SendingApiProvider("http://127.0.0.1:1", "t", 0)


def test_repr_hides_the_token() -> None:
    provider = sending_api.SendingApiProvider("http://127.0.0.1:1", "s3cr3t", 4)
    assert "s3cr3t" not in repr(provider)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (b'{"id": 7, "phone": 79001234567, "text": "hi"}', (79001234567, "hi")),
        (b'{"id": 8, "phone": 79001234567, "text": "hi"}', None),
        (b'{"id": 7, "phone": "79001234567", "text": "hi"}', None),
        (b'{"id": 7, "phone": 79001234567, "text": 5}', None),
        (b'{"id": true, "phone": 79001234567, "text": "hi"}', None),
        (b"[7]", None),
        (b"not json", None),
    ],
)
def test_fake_parses_send_bodies(raw: bytes, expected: tuple[int, str] | None) -> None:
    assert fake.parse_send_body(raw, 7) == expected


@pytest.mark.parametrize(
    "changes",
    [
        {"error_rate": 1.5},
        {"error_rate": 0.6, "garbage_rate": 0.6},
        {"latency": -1},
        {"latency": "slow"},
        {"hang": 1},
        {"error_status": 200},
        {"error_status": 500.0},
        {"retry_after": float("inf")},
    ],
)
def test_fake_faults_reject_bad_values(changes: dict[str, object]) -> None:
    with pytest.raises(ValueError, match="must"):
        fake.Faults(**changes)  # type: ignore[arg-type]
