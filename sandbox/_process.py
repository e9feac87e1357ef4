"""Process, port and pid-file helpers shared by the sandbox services."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import ssl
import subprocess
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import httpx

# Popen objects of children started by this interpreter, kept so they can be reaped (no zombies,
# no "subprocess still running" warnings) when `down` runs in the same process.
_CHILDREN: dict[int, subprocess.Popen[bytes]] = {}

PIDS_FILE = "pids.json"


class SandboxError(RuntimeError):
    """A sandbox service could not be set up, started or stopped."""


def require_binary(name: str, package: str, hint: str = "") -> str:
    """Return the absolute path of `name` on PATH or raise naming the package to install."""
    path = shutil.which(name)
    if path is None:
        extra = f" {hint}" if hint else ""
        raise SandboxError(
            f"`{name}` not found on PATH: install the `{package}` package "
            f"(e.g. `apt-get install {package}`).{extra}"
        )
    return path


def free_port(host: str = "127.0.0.1") -> int:
    """Ask the kernel for a currently free TCP port on `host`."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def port_free(port: int, host: str = "127.0.0.1") -> bool:
    """True if a server could bind `port` on `host` now.

    Binds as a server does (``SO_REUSEADDR``): a port a stopped server left in TIME_WAIT is free.
    """
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True


def _proc_start_time(pid: int) -> int | None:
    """Kernel start time of `pid` (clock ticks since boot), or None if unknown/absent."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # The command name (field 2) may contain spaces; fields after the closing paren are fixed.
    fields = stat[stat.rindex(")") + 2 :].split()
    try:
        return int(fields[19])  # field 22 overall: starttime
    except (IndexError, ValueError):
        return None


def _proc_state(pid: int) -> str | None:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return stat[stat.rindex(")") + 2 :].split()[0]


def _reap(pid: int) -> None:
    child = _CHILDREN.get(pid)
    if child is not None:
        if child.poll() is not None:
            _CHILDREN.pop(pid, None)
        return
    with contextlib.suppress(ChildProcessError, OSError):
        os.waitpid(pid, os.WNOHANG)


def pid_alive(pid: int, start_time: int | None = None) -> bool:
    """True if `pid` runs (not a zombie) and, when given, still has the recorded start time."""
    _reap(pid)
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    if _proc_state(pid) == "Z":
        return False
    return not (start_time is not None and _proc_start_time(pid) not in (None, start_time))


def start_process(
    name: str,
    argv: Sequence[str],
    log_dir: Path,
    env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
    inherit_env: bool = True,
) -> dict[str, Any]:
    """Start `argv` detached in its own session, output to `<log_dir>/<name>.log`.

    The child gets this process's environment plus `env` (only `env` when not
    `inherit_env`). Returns the pid record stored in pids.json: pid, start_time, argv[0], log.
    """
    log_dir.mkdir(parents=True, exist_ok=True)
    log_path = log_dir / f"{name}.log"
    full_env = dict(os.environ) if inherit_env else {}
    if env:
        full_env.update(env)
    with open(log_path, "ab") as log:
        proc = subprocess.Popen(
            list(argv),
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            env=full_env,
            cwd=str(cwd) if cwd else None,
            start_new_session=True,
        )
    _CHILDREN[proc.pid] = proc
    return {
        "pid": proc.pid,
        "start_time": _proc_start_time(proc.pid),
        "program": str(argv[0]),
        "log": str(log_path),
    }


def start_service(
    name: str,
    argv: Sequence[str],
    log_dir: Path,
    ready: Callable[[], bool] | None,
    *,
    what: str | None = None,
    timeout: float = 30.0,
    env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
    inherit_env: bool = True,
) -> dict[str, Any]:
    """Start `argv` as :func:`start_process` does, then wait until `ready()` is True.

    `ready` is the service's own check (its port answers, its health URL says 200); None for a
    process that serves no port (it is only started). If the process exits first, or is not
    ready within `timeout` seconds, it is stopped and :class:`SandboxError` names `what`
    (default `name`), the log file and the log's last lines. Returns the pid record.
    """
    proc = start_process(name, argv, log_dir, env=env, cwd=cwd, inherit_env=inherit_env)
    if ready is None:
        return proc
    try:
        wait_for(what or name, ready, timeout=timeout, pid=proc["pid"], log=proc["log"])
    except BaseException:
        stop_pid(int(proc["pid"]), proc["start_time"])
        raise
    return proc


def stop_pid(pid: int, start_time: int | None = None, timeout: float = 10.0) -> bool:
    """SIGTERM `pid` (and its process group if it leads one), SIGKILL after `timeout`.

    Returns True if a live process was stopped, False if it was already gone.
    """
    if not pid_alive(pid, start_time):
        _CHILDREN.pop(pid, None)
        return False

    def _signal(sig: int) -> None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            if os.getpgid(pid) == pid:
                os.killpg(pid, sig)
            else:
                os.kill(pid, sig)

    _signal(signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not pid_alive(pid):
            break
        time.sleep(0.05)
    else:
        _signal(signal.SIGKILL)
        end = time.monotonic() + 5
        while pid_alive(pid) and time.monotonic() < end:
            time.sleep(0.05)
    child = _CHILDREN.pop(pid, None)
    if child is not None:
        with contextlib.suppress(subprocess.TimeoutExpired):
            child.wait(timeout=1)
    return True


def read_pids(root: Path, name: str = PIDS_FILE) -> dict[str, dict[str, Any]]:
    """The pid records in `<root>/<name>` (empty if absent or unreadable)."""
    path = root / name
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    return {k: v for k, v in data.items() if isinstance(v, dict) and "pid" in v}


def write_pids(root: Path, pids: Mapping[str, Mapping[str, Any]], name: str = PIDS_FILE) -> None:
    """Atomically write `<root>/<name>` (default ``pids.json``)."""
    write_json(root / name, dict(pids))


def write_json(path: Path, data: Any, mode: int = 0o644) -> None:
    """Write JSON atomically (temp file + rename) with the given file mode."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps(data, indent=2, sort_keys=False) + "\n")
    os.chmod(tmp, mode)
    tmp.replace(path)


def write_secret(path: Path, text: str) -> None:
    """Write `text` to `path` with mode 0600 from the start."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(text)
    os.chmod(tmp, 0o600)
    tmp.replace(path)


def wait_for(
    what: str,
    check: Callable[[], bool],
    timeout: float = 30.0,
    pid: int | None = None,
    log: str | Path | None = None,
) -> None:
    """Poll `check` until it returns True; fail early if `pid` dies, naming the log file."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if pid is not None and not pid_alive(pid):
            tail = _tail(log)
            raise SandboxError(f"{what} exited during start-up (log: {log}){tail}")
        try:
            if check():
                return
        except Exception:
            pass
        time.sleep(0.1)
    raise SandboxError(
        f"{what} did not become ready within {timeout:.0f}s (log: {log}){_tail(log)}"
    )


def _tail(log: str | Path | None, lines: int = 15) -> str:
    if not log:
        return ""
    try:
        text = Path(log).read_text(errors="replace").splitlines()[-lines:]
    except OSError:
        return ""
    return "\n  " + "\n  ".join(text) if text else ""


def http_answers(url: str, ca_bundle: Path | None = None, ok: Sequence[int] = ()) -> bool:
    """True if `url` answers HTTP at all (or with a status in `ok`, when given)."""
    verify: ssl.SSLContext | bool = True
    if ca_bundle is not None:
        verify = ssl.create_default_context(cafile=str(ca_bundle))
    resp = httpx.get(url, verify=verify, timeout=2.0)
    return not ok or resp.status_code in ok
