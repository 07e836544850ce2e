"""A TCP proxy of our own, put in front of the broker or the provider to cut or stall links.

Modes: ``pass`` forwards bytes both ways; ``stall`` keeps every connection open but forwards
nothing (a hung peer, a black-holed link), new connections included; ``cut`` aborts every
connection and aborts each new one as soon as it is accepted (a peer that is down).

A stall ends by resetting the connections it held, as a middlebox that timed them out would:
bytes a caller gave up on are never delivered afterwards, so a stall never creates a request
the caller does not know about.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import time

CHUNK = 64 * 1024


class Mode(enum.StrEnum):
    PASS = "pass"
    STALL = "stall"
    CUT = "cut"


class Proxy:
    def __init__(self, target_host: str, target_port: int) -> None:
        self.target_host, self.target_port = target_host, target_port
        self.mode = Mode.PASS
        self.accepted: list[float] = []  # when each connection came, cut ones included
        self._flowing = asyncio.Event()
        self._flowing.set()
        self._links: set[tuple[asyncio.StreamWriter, asyncio.StreamWriter]] = set()
        self._tasks: set[asyncio.Task[None]] = set()
        self._server: asyncio.Server | None = None
        self.port = 0

    @property
    def url_host(self) -> str:
        return f"127.0.0.1:{self.port}"

    async def start(self) -> Proxy:
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    def set(self, mode: Mode) -> None:
        self.mode = mode
        if mode is Mode.STALL:
            self._flowing.clear()
            return
        if not self._flowing.is_set() or mode is Mode.CUT:
            for client, upstream in list(self._links):
                _abort(client)
                _abort(upstream)
            self._links.clear()
        self._flowing.set()

    async def stop(self) -> None:
        self.set(Mode.CUT)
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.accepted.append(time.time())
        if self.mode is Mode.CUT:
            _abort(writer)
            return
        try:
            up_reader, up_writer = await asyncio.open_connection(self.target_host, self.target_port)
        except OSError:
            _abort(writer)
            return
        if self.mode is Mode.CUT:  # cut while connecting
            _abort(writer)
            _abort(up_writer)
            return
        link = (writer, up_writer)
        self._links.add(link)
        pumps = [
            asyncio.create_task(self._pump(reader, up_writer)),
            asyncio.create_task(self._pump(up_reader, writer)),
        ]
        self._tasks.update(pumps)
        try:
            await asyncio.wait(pumps, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for pump in pumps:
                pump.cancel()
            await asyncio.gather(*pumps, return_exceptions=True)
            self._tasks.difference_update(pumps)
            self._links.discard(link)
            _abort(writer)
            _abort(up_writer)

    async def _pump(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(OSError, ConnectionError):
            while data := await reader.read(CHUNK):
                await self._flowing.wait()
                if writer.is_closing():
                    return
                writer.write(data)
                await writer.drain()


def _abort(writer: asyncio.StreamWriter) -> None:
    with contextlib.suppress(Exception):
        writer.transport.abort()
