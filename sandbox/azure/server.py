"""Run the stand-in: Entra, ARM and one data plane per slot, several uvicorn servers on one
asyncio loop sharing one :class:`~sandbox.azure.context.Context`."""

from __future__ import annotations

import argparse
import asyncio
import ssl
from pathlib import Path
from typing import Any

import httpx
import uvicorn
from starlette.responses import JSONResponse

from sandbox.azure import arm, dataplane, entra
from sandbox.azure.backend import Backend
from sandbox.azure.context import Context
from sandbox.azure.index import Index
from sandbox.azure.store import STATE_FILE, Store
from sandbox.azure.strict import ERRORS_FILE, ErrorLog
from sandbox.azure.tokens import Signer


class ErrorTrap:
    """ASGI wrapper: an exception escaping a handler is logged to the error log and answered
    500, never swallowed silently.

    Starlette sends its own 500 before re-raising; a 500 is held back until the handler is
    done, so the log entry exists before the caller sees the answer.
    """

    def __init__(self, app: Any, name: str, log: ErrorLog) -> None:
        self.app, self.name, self.log = app, name, log

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False
        held: list[Any] = []

        async def tracked(message: Any) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
                if message.get("status") == 500:
                    held.append(message)
                    return
            if held:
                held.append(message)
                return
            await send(message)

        try:
            await self.app(scope, receive, tracked)
        except Exception as exc:
            self.log.record(f"{self.name} {scope.get('method')} {scope.get('path')}", exc)
            if not started:
                body = {"error": {"code": "InternalServerError", "message": f"sandbox: {exc!r}"}}
                await JSONResponse(body, status_code=500)(scope, receive, send)
        finally:
            for message in held:
                await send(message)


async def serve(root: Path, cert: Path, key: Path, ca: Path) -> None:
    store = Store(root / "azure" / STATE_FILE)
    signer = Signer(Path(store.data["signing_key"]))
    verify = ssl.create_default_context(cafile=str(ca))
    timeout = httpx.Timeout(connect=10.0, read=300.0, write=300.0, pool=120.0)
    limits = httpx.Limits(max_connections=200, max_keepalive_connections=50)
    async with httpx.AsyncClient(verify=verify, timeout=timeout, limits=limits) as client:
        errors = ErrorLog(root / "azure" / ERRORS_FILE)
        ctx = Context(store=store, signer=signer, client=client, errors=errors)
        for name, slot in store.data["slots"].items():
            ctx.backends[name] = Backend(slot["backend"]["url"], slot["backend"]["auth"], client)
            ctx.indexes[name] = Index(store, name, lambda: ctx.behaviour.replica_lag_seconds)
        host = store.data["host"]
        apps = {
            "entra": entra.create_app(store, signer, ctx.url("entra"), ctx.behaviour),
            "arm": arm.create_app(ctx),
        }
        for name in store.data["slots"]:
            apps[name] = dataplane.create_app(ctx, name)
        servers = []
        for name, app in apps.items():
            port = ctx.port(name) if name in ("entra", "arm") else store.data["slots"][name]["port"]
            config = uvicorn.Config(
                ErrorTrap(app, name, errors),
                host=host,
                port=int(port),
                ssl_certfile=str(cert),
                ssl_keyfile=str(key),
                log_level="warning",
                access_log=False,
                lifespan="off",
                timeout_keep_alive=30,
            )
            servers.append(uvicorn.Server(config))
        # uvicorn captures SIGTERM/SIGINT per server (and re-raises them on exit); whichever
        # server stops first, all stop.
        runners = [asyncio.create_task(s.serve()) for s in servers]
        done, _ = await asyncio.wait(runners, return_when=asyncio.FIRST_COMPLETED)
        for s in servers:
            s.should_exit = True
        await asyncio.gather(*runners, return_exceptions=True)
        store.save()
        for task in done:
            if task.exception() is not None:
                raise task.exception()  # type: ignore[misc]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m sandbox.azure")
    parser.add_argument("--root", type=Path, required=True, help="sandbox root")
    parser.add_argument("--cert", type=Path, required=True)
    parser.add_argument("--key", type=Path, required=True)
    parser.add_argument("--ca", type=Path, required=True)
    args = parser.parse_args(argv)
    asyncio.run(serve(args.root, args.cert, args.key, args.ca))
