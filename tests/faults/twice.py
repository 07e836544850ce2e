"""``python -m tests.faults.twice <part>``: Herald with every broker publish sent twice.

The fault of a publisher that retries after a lost confirm, at its worst: every batch reaches
the queue two times, so two workers may hold the same ids at once (scenario 14).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

from herald import __main__ as cli
from herald.queue import rabbitmq

logger = logging.getLogger("herald.faults")
_publish = rabbitmq.RabbitQueue.publish


async def publish_twice(self: rabbitmq.RabbitQueue, batches: Sequence[Sequence[int]]) -> None:
    await _publish(self, batches)
    await _publish(self, batches)
    logger.warning("published twice", extra={"batches": len(batches)})


if __name__ == "__main__":
    rabbitmq.RabbitQueue.publish = publish_twice  # type: ignore[method-assign]
    cli.main()
