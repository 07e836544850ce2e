"""Message and mailing statuses, and the counts-by-status shape every report uses."""

from __future__ import annotations

import enum
from collections.abc import Iterable


class MessageStatus(enum.StrEnum):
    PENDING = "pending"
    QUEUED = "queued"
    SENDING = "sending"
    SENT = "sent"
    FAILED = "failed"
    EXPIRED = "expired"
    CANCELLED = "cancelled"


class MailingStatus(enum.StrEnum):
    SCHEDULED = "scheduled"
    RUNNING = "running"
    PAUSED = "paused"
    FINISHED = "finished"
    CANCELLED = "cancelled"


TERMINAL = frozenset(
    {MessageStatus.SENT, MessageStatus.FAILED, MessageStatus.EXPIRED, MessageStatus.CANCELLED}
)
UNSENT = frozenset(set(MessageStatus) - TERMINAL)
ACTIVE_MAILING = frozenset({MailingStatus.SCHEDULED, MailingStatus.RUNNING, MailingStatus.PAUSED})


def zero_counts() -> dict[str, int]:
    """Every message status with a zero count, in the order of the lifecycle."""
    return {status.value: 0 for status in MessageStatus}


def counts_from(pairs: Iterable[tuple[str, int]]) -> dict[str, int]:
    """Counts by status with every status present, zeros included."""
    counts = zero_counts()
    for status, n in pairs:
        counts[status] += n
    return counts
