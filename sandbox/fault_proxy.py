"""Streaming HTTPS reverse proxy with fault injection, for a registry (or any HTTP backend).

Faults: answer `status` (default 429) with ``Retry-After`` for the first `burst` matching
requests and/or a fraction `rate` of them (seeded RNG); add `latency_ms` to matching requests.
A request matches when its path matches `path_regex` (if set) and its method is in `methods`
(if set). The config is one rule of the sandbox's fault engine (:mod:`sandbox.faults`).
Adjust at run time without restart:

- ``GET /_sandbox/faults``: ``{"config": {...}, "counters": {...}}``
- ``PUT /_sandbox/faults``: JSON config (missing keys take defaults); resets the burst budget,
  the RNG and the counters (add ``?keep_counters=1`` to keep counters)
- ``DELETE /_sandbox/faults``: no faults any more (counters kept)

Bodies stream both ways (no whole blob in memory); absolute ``Location`` headers pointing at the
backend are rewritten to the proxy. In-process: ``with FaultProxy(...) as proxy``; as a process:
``python -m sandbox.fault_proxy --backend URL --port P --cert C --key K --ca CA``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import json
import re
import socket
import ssl
import threading
import time
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from starlette.applications import Starlette
from starlette.background import BackgroundTask
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from sandbox import faults
from sandbox.faults import Rule, Rules, check_keys

HOP_BY_HOP = frozenset(
    {
        "connection",
        "keep-alive",
        "proxy-authenticate",
        "proxy-authorization",
        "proxy-connection",
        "te",
        "trailer",
        "trailers",
        "transfer-encoding",
        "upgrade",
        "host",
    }
)
ALL_METHODS = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]


@dataclass
class FaultConfig:
    """Which requests get a fault, and what the fault looks like."""

    status: int = 429
    retry_after: int = 1
    rate: float = 0.0
    burst: int = 0
    path_regex: str | None = None
    methods: list[str] | None = None
    latency_ms: int = 0
    seed: int = 0

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> FaultConfig:
        """Build from JSON; unknown keys or bad values raise ValueError."""
        check_keys(cls, data)
        cfg = cls(**dict(data))
        cfg.validate()
        return cfg

    def validate(self) -> None:
        if not 100 <= int(self.status) <= 599:
            raise ValueError("status must be an HTTP status code")
        if not 0.0 <= float(self.rate) <= 1.0:
            raise ValueError("rate must be within [0, 1]")
        if int(self.burst) < 0 or int(self.latency_ms) < 0 or int(self.retry_after) < 0:
            raise ValueError("burst, latency_ms and retry_after must be >= 0")
        if self.path_regex is not None:
            re.compile(self.path_regex)
        if self.methods is not None:
            self.methods = [m.upper() for m in self.methods]

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def rule(self) -> Rule:
        """This config as the fault engine's rule."""
        return Rule(
            status=self.status,
            retry_after=self.retry_after,
            rate=self.rate,
            burst=self.burst,
            path_regex=self.path_regex,
            methods=frozenset(self.methods) if self.methods is not None else None,
            latency_ms=self.latency_ms,
        )


@dataclass
class FaultCounters:
    requests_seen: int = 0
    requests_matched: int = 0
    faults_injected: int = 0
    passed_through: int = 0
    backend_errors: int = 0


@dataclass
class FaultState:
    """Thread-safe fault configuration, decision logic and counters."""

    config: FaultConfig = field(default_factory=FaultConfig)
    counters: FaultCounters = field(default_factory=FaultCounters)

    def __post_init__(self) -> None:
        self._lock = threading.Lock()
        self._apply(self.config, keep_counters=True)

    def _apply(self, config: FaultConfig, keep_counters: bool) -> None:
        config.validate()
        self.config = config
        self._rules = Rules([config.rule()], config.seed)
        if not keep_counters:
            self.counters = FaultCounters()

    def set(self, config: FaultConfig, keep_counters: bool = False) -> None:
        with self._lock:
            self._apply(config, keep_counters)

    def decide(self, method: str, path: str) -> tuple[bool, float]:
        """Count the request; return (inject fault?, latency seconds)."""
        with self._lock:
            self.counters.requests_seen += 1
            decision = self._rules.decide(method, path)
            if not decision.matched:
                return False, 0.0
            self.counters.requests_matched += 1
            fault = decision.rule is not None
            if fault:
                self.counters.faults_injected += 1
            return fault, decision.latency

    def snapshot(self) -> dict[str, Any]:
        with self._lock:
            return {
                "config": self.config.to_dict(),
                "counters": dataclasses.asdict(self.counters),
                "burst_remaining": self._rules.burst_remaining(),
            }

    def count(self, attr: str) -> None:
        with self._lock:
            setattr(self.counters, attr, getattr(self.counters, attr) + 1)


def _fault_response(cfg: FaultConfig) -> Response:
    code = "TOOMANYREQUESTS" if cfg.status == 429 else "UNAVAILABLE"
    body = {"errors": [{"code": code, "message": "injected by sandbox fault proxy"}]}
    return JSONResponse(body, status_code=cfg.status, headers={"Retry-After": str(cfg.retry_after)})


async def forward(
    request: Request,
    client: httpx.AsyncClient,
    backend: httpx.URL,
    *,
    headers: list[tuple[str, str]] | None = None,
    content: Any = None,
    rewrite: Callable[[httpx.Response, list[tuple[bytes, bytes]]], None] | None = None,
) -> Response:
    """Stream `request` to `backend` (same raw path and query) and stream the answer back.

    `headers` replaces the forwarded request headers (default: the request's minus hop-by-hop);
    `content` replaces the body (default: the request stream, if it has one). Absolute
    ``Location`` headers pointing at the backend are rewritten to this server; `rewrite` may
    edit the outgoing header list further. Raises ``httpx.HTTPError`` if the backend fails.
    """
    backend_prefix = str(backend).rstrip("/")
    raw_path = request.scope.get("raw_path") or request.url.path.encode()
    query = request.scope.get("query_string") or b""
    url = backend.copy_with(raw_path=raw_path + (b"?" + query if query else b""))
    if headers is None:
        headers = [(k, v) for k, v in request.headers.items() if k.lower() not in HOP_BY_HOP]
    if content is None:
        has_body = "transfer-encoding" in request.headers or request.headers.get(
            "content-length", "0"
        ) not in ("", "0")
        content = request.stream() if has_body else None
    upstream = client.build_request(request.method, url, headers=headers, content=content)
    resp = await client.send(upstream, stream=True)
    public = f"{request.url.scheme}://{request.headers.get('host', request.url.netloc)}"
    out_headers: list[tuple[bytes, bytes]] = []
    for key, value in resp.headers.multi_items():
        lk = key.lower()
        if lk in HOP_BY_HOP:
            continue
        if lk == "location" and value.startswith(backend_prefix):
            value = public + value[len(backend_prefix) :]
        out_headers.append((lk.encode("latin-1"), value.encode("latin-1")))
    if rewrite is not None:
        rewrite(resp, out_headers)
    response = StreamingResponse(
        resp.aiter_raw(), status_code=resp.status_code, background=BackgroundTask(resp.aclose)
    )
    response.raw_headers = out_headers
    return response


def create_app(
    backend_url: str, state: FaultState, verify: ssl.SSLContext | bool = True
) -> Starlette:
    """The proxy ASGI app forwarding to `backend_url` under the control of `state`."""
    backend = httpx.URL(backend_url.rstrip("/"))
    holder: dict[str, httpx.AsyncClient] = {}

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        timeout = httpx.Timeout(connect=10.0, read=300.0, write=300.0, pool=60.0)
        async with httpx.AsyncClient(verify=verify, timeout=timeout) as client:
            holder["client"] = client
            yield

    async def proxy(request: Request) -> Response:
        fault, latency = state.decide(request.method, request.url.path)
        if latency:
            await asyncio.sleep(latency)
        if fault:
            return _fault_response(state.config)
        try:
            response = await forward(request, holder["client"], backend)
        except httpx.HTTPError as exc:
            state.count("backend_errors")
            return JSONResponse(
                {"errors": [{"code": "UNAVAILABLE", "message": f"backend error: {exc!r}"}]},
                status_code=502,
            )
        state.count("passed_through")
        return response

    return Starlette(
        routes=[
            *faults.control_routes(
                state, FaultConfig.from_dict, FaultConfig, keep_counters_by_default=False
            ),
            Route("/{path:path}", proxy, methods=ALL_METHODS),
        ],
        lifespan=lifespan,
    )


def _verify(ca_bundle: Path | None) -> ssl.SSLContext | bool:
    return ssl.create_default_context(cafile=str(ca_bundle)) if ca_bundle else True


class FaultProxy:
    """The proxy running in-process (uvicorn on a daemon thread), as a context manager.

    ``with FaultProxy(backend, certfile=..., keyfile=..., ca_bundle=...) as p: p.url``
    """

    def __init__(
        self,
        backend_url: str,
        *,
        certfile: Path,
        keyfile: Path,
        ca_bundle: Path | None = None,
        faults: FaultConfig | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
    ) -> None:
        self.backend_url = backend_url
        self.state = FaultState(faults or FaultConfig())
        self._app = create_app(backend_url, self.state, _verify(ca_bundle))
        self._certfile, self._keyfile = certfile, keyfile
        self._host, self._port = host, port
        self._server: Any = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"https://{self._host}:{self._port}"

    def start(self) -> FaultProxy:
        import uvicorn

        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((self._host, self._port))
        self._port = sock.getsockname()[1]
        config = uvicorn.Config(
            self._app,
            ssl_certfile=str(self._certfile),
            ssl_keyfile=str(self._keyfile),
            log_level="warning",
            access_log=False,
            lifespan="on",
        )
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(
            target=self._server.run, kwargs={"sockets": [sock]}, name="fault-proxy", daemon=True
        )
        self._thread.start()
        deadline = time.monotonic() + 15
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("fault proxy failed to start")
            time.sleep(0.02)
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout=10)
        self._server = self._thread = None

    def __enter__(self) -> FaultProxy:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def set_faults(self, config: FaultConfig | None = None, **changes: Any) -> None:
        """Replace the fault config (resets burst budget, RNG and counters).

        ``set_faults(burst=2)`` starts from defaults; pass `config` to start from it instead.
        """
        base = config or FaultConfig()
        self.state.set(dataclasses.replace(base, **changes))

    def clear_faults(self) -> None:
        self.state.set(FaultConfig(), keep_counters=True)

    def snapshot(self) -> dict[str, Any]:
        return self.state.snapshot()

    @property
    def counters(self) -> dict[str, int]:
        return dict(self.state.snapshot()["counters"])


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m sandbox.fault_proxy")
    parser.add_argument("--backend", required=True, help="backend base URL")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--cert", type=Path, required=True, help="TLS server cert (PEM)")
    parser.add_argument("--key", type=Path, required=True, help="TLS server key (PEM)")
    parser.add_argument("--ca", type=Path, default=None, help="CA bundle to verify the backend")
    parser.add_argument("--faults", default="{}", help="initial fault config (JSON)")
    args = parser.parse_args(argv)
    import uvicorn

    state = FaultState(FaultConfig.from_dict(json.loads(args.faults)))
    uvicorn.run(
        create_app(args.backend, state, _verify(args.ca)),
        host=args.host,
        port=args.port,
        ssl_certfile=str(args.cert),
        ssl_keyfile=str(args.key),
        log_level="warning",
        access_log=False,
    )


if __name__ == "__main__":
    main()
