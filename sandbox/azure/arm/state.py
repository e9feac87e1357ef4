"""The ARM stand-in's own state: the shared context plus its operations and import workers."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from sandbox.azure.arm.operations import Operation
from sandbox.azure.context import Context
from sandbox.azure.faults import ArmFaults
from sandbox.azure.store import Store


@dataclass
class Arm:
    """One ARM app's state; every handler takes it first."""

    ctx: Context
    ops: dict[str, Operation] = field(default_factory=dict)
    #: At most this many imports copy at once.
    import_gate: asyncio.Semaphore = field(default_factory=lambda: asyncio.Semaphore(8))
    #: Running import jobs (kept referenced until done).
    tasks: set[asyncio.Task[None]] = field(default_factory=set)

    @property
    def store(self) -> Store:
        return self.ctx.store

    @property
    def faults(self) -> ArmFaults:
        return self.ctx.faults

    def base_url(self) -> str:
        return self.ctx.url("arm")


#: ``handler(arm, request, claims, path params, api-version)``.
Handler = Callable[[Arm, Request, dict[str, Any], dict[str, str], str], Awaitable[Response]]
