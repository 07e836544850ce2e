"""Logging, the SQL loader and the API's error shape: the plumbing every part relies on."""

from __future__ import annotations

import json
import logging

import pytest

from herald import logs
from herald.api.errors import field_errors
from herald.api.routes.stats import provider_state
from herald.dispatch.worker import UNAUTHORIZED
from herald.storage import queries


def _record(**extra: object) -> logging.LogRecord:
    record = logging.getLogger("herald.test").makeRecord(
        "herald.test", logging.INFO, __file__, 1, "provider call", (), None, extra=extra
    )
    return record


def test_json_log_lines_carry_the_extra_fields() -> None:
    line = json.loads(logs.JsonFormatter().format(_record(message_id=7, mailing_id=3)))
    assert line["msg"] == "provider call"
    assert line["message_id"] == 7
    assert line["mailing_id"] == 3
    assert line["level"] == "info"


def test_text_log_lines_are_readable() -> None:
    text = logs.TextFormatter().format(_record(client_id=5))
    assert text.endswith("herald.test: provider call client_id=5")


def test_sql_blocks_are_named_and_unique() -> None:
    parsed = queries.parse("-- name: a\n-- why\nSELECT 1;\n\n-- name: b\nSELECT 2;\n")
    assert parsed == {"a": "-- why\nSELECT 1;", "b": "SELECT 2;"}
    with pytest.raises(ValueError, match="duplicated"):
        queries.parse("-- name: a\nSELECT 1;\n-- name: a\nSELECT 2;\n")
    assert "messages.claim" in queries.all_queries()


def test_field_errors_name_the_field_without_its_location() -> None:
    errors = field_errors(
        [
            {"loc": ("body", "phone"), "msg": "Value error, must be 7...", "type": "value_error"},
            {"loc": ("body", "start_at"), "msg": "x", "type": "timezone_aware"},
            {"loc": ("query", "limit"), "msg": "too big", "type": "less_than_equal"},
            {"loc": ("body",), "msg": "Field required", "type": "missing"},
        ]
    )
    assert errors == [
        {"field": "phone", "message": "must be 7..."},
        {"field": "start_at", "message": "an offset is required, e.g. 2026-12-04T10:00:00+03:00"},
        {"field": "limit", "message": "too big"},
        {"field": "body", "message": "required"},
    ]


def test_provider_state_from_worker_breakers() -> None:
    assert provider_state([], []) == "unknown"
    assert provider_state(["closed", "closed"], [None, None]) == "healthy"
    assert provider_state(["closed", "open"], [None, "timeout"]) == "failing"
    assert provider_state(["open"], [UNAUTHORIZED]) == "paused"
