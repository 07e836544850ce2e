"""Loads the named SQL blocks of ``storage/sql/<aggregate>.sql``.

A block starts with ``-- name: <name>`` and runs to the next such line; the comment lines right
after the name say why the query exists.
"""

from __future__ import annotations

import functools
import re
from pathlib import Path

SQL_DIR = Path(__file__).parent / "sql"
_NAME = re.compile(r"^--\s*name:\s*(\w+)\s*$", re.MULTILINE)


def parse(text: str) -> dict[str, str]:
    """Splits a SQL file into its named blocks.

    Raises:
        ValueError: a name appears twice, or a block is empty.
    """
    parts = _NAME.split(text)
    found: dict[str, str] = {}
    for name, body in zip(parts[1::2], parts[2::2], strict=True):
        sql = body.strip()
        if name in found or not sql:
            raise ValueError(f"query {name!r} is duplicated or empty")
        found[name] = sql
    return found


@functools.cache
def load(aggregate: str) -> dict[str, str]:
    """Returns the named queries of one aggregate's SQL file."""
    return parse((SQL_DIR / f"{aggregate}.sql").read_text(encoding="utf-8"))


def all_queries() -> dict[str, str]:
    """Every named query of every SQL file, keyed ``aggregate.name`` (for the prepare test)."""
    return {
        f"{path.stem}.{name}": sql
        for path in sorted(SQL_DIR.glob("*.sql"))
        for name, sql in load(path.stem).items()
    }
