"""The dispatch channel: the only package that imports aio_pika, plus an in-process twin."""
