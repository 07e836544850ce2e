"""Herald's parts as real processes (``herald scheduler``, ``herald worker``) for tests."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from collections.abc import Mapping

from herald.config import REPO_ROOT


class Processes:
    """Starts ``herald <part>`` subprocesses with one environment and stops them all."""

    def __init__(self, env: Mapping[str, str]) -> None:
        self.env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), **env}
        self.running: list[asyncio.subprocess.Process] = []

    async def start(self, part: str, **extra_env: str) -> asyncio.subprocess.Process:
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "herald",
            part,
            env=self.env | extra_env,
            cwd=REPO_ROOT,
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.DEVNULL,
        )
        self.running.append(proc)
        return proc

    async def stop(self, proc: asyncio.subprocess.Process, sig: int = signal.SIGTERM) -> int:
        if proc.returncode is None:
            proc.send_signal(sig)
        code = await asyncio.wait_for(proc.wait(), 30)
        return code

    async def stop_all(self) -> None:
        for proc in self.running:
            if proc.returncode is None:
                proc.kill()
            await proc.wait()
