"""Parses and validates a client CSV (``phone,operator_code,tag,timezone`` with a header)."""

from __future__ import annotations

import csv
import dataclasses
import io
from collections.abc import Callable, Iterator

from herald.domain import clients as rules

COLUMNS = ("phone", "operator_code", "tag", "timezone")
Row = tuple[int, str, str, str, str]  # line, phone, operator_code, tag, timezone


@dataclasses.dataclass(frozen=True, slots=True)
class LineError:
    line: int
    field: str
    message: str


@dataclasses.dataclass(slots=True)
class Parsed:
    rows: list[Row] = dataclasses.field(default_factory=list)
    errors: list[LineError] = dataclasses.field(default_factory=list)


def parse(text: str) -> Parsed:
    """Every good line becomes a row; every bad one an error naming its line and field.

    A file whose header is not the expected one yields a single error for line 1.
    """
    parsed = Parsed()
    for chunk in parse_chunks(text, size=0):
        parsed.rows += chunk.rows
        parsed.errors += chunk.errors
    return parsed


def parse_chunks(text: str, size: int) -> Iterator[Parsed]:
    """Like :func:`parse`, in pieces of about ``size`` good rows (0: one piece), so that a
    large file is never held in memory as rows all at once."""
    reader = csv.reader(io.StringIO(text))
    header = [h.strip().lower() for h in next(reader, [])]
    if tuple(header) != COLUMNS:
        yield Parsed(errors=[LineError(1, "header", f"must be {','.join(COLUMNS)}")])
        return
    chunk = Parsed()
    for fields in reader:
        if fields:
            _take(chunk, reader.line_num, fields)
        if size and len(chunk.rows) >= size:
            yield chunk
            chunk = Parsed()
    yield chunk


def _take(parsed: Parsed, line: int, fields: list[str]) -> None:
    if len(fields) != len(COLUMNS):
        parsed.errors.append(LineError(line, "line", f"must have {len(COLUMNS)} fields"))
        return
    try:
        parsed.rows.append((line, *_validated(fields)))
    except _InvalidError as exc:
        parsed.errors.append(LineError(line, exc.field, exc.message))


class _InvalidError(Exception):
    def __init__(self, field: str, message: str) -> None:
        self.field, self.message = field, message


def _validated(fields: list[str]) -> tuple[str, str, str, str]:
    raw_phone, code, tag, tz = (f.strip() for f in fields)
    if any("\x00" in f for f in fields):
        raise _InvalidError("line", "must not contain a NUL character")
    phone = _check("phone", rules.normalise_phone, raw_phone)
    code = _check("operator_code", rules.check_operator_code, code or rules.operator_code_of(phone))
    return (
        phone,
        code,
        _check("tag", rules.check_tag, tag),
        _check("timezone", rules.check_timezone, tz or "UTC"),
    )


def _check(field: str, rule: Callable[[str], str], value: str) -> str:
    try:
        return rule(value)
    except ValueError as exc:
        raise _InvalidError(field, str(exc)) from None
