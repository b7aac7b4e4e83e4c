"""Shared pieces of the benchmarks: servers on free ports, wrk runs, parsed results."""

from __future__ import annotations

import http.client
import re
import socket
import subprocess
import sys
import time
import urllib.parse
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
VENV_BIN = Path(sys.executable).parent


@dataclass
class Result:
    name: str
    rps: float
    p50_ms: float
    p99_ms: float
    requests: int
    non_2xx_3xx: int
    errors: str


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_ready(url: str, timeout: float = 20.0) -> None:
    parts = urllib.parse.urlsplit(url)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=1)
        try:
            conn.request("GET", parts.path)
            conn.getresponse().read()
            return
        except OSError:  # not up yet
            time.sleep(0.2)
        finally:
            conn.close()
    raise RuntimeError(f"server at {url} did not come up")


def _ms(text: str) -> float:
    value, unit = re.match(r"([\d.]+)(us|ms|s)", text).groups()  # type: ignore[union-attr]
    return float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]


def run_wrk(
    name: str,
    url: str,
    duration: int,
    connections: int,
    headers: tuple[str, ...] = (),
    script: str | None = None,
) -> Result:
    argv = ["wrk", "-t2", f"-c{connections}", f"-d{duration}s", "--latency"]
    for header in headers:
        argv += ["-H", header]
    if script:
        argv += ["-s", script]
    out = subprocess.run([*argv, url], capture_output=True, text=True, check=True).stdout
    if "Latency Distribution" not in out or "Requests/sec" not in out:
        raise RuntimeError(f"unexpected wrk output:\n{out}")
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    p50 = _ms(re.search(r"^\s+50%\s+(\S+)", out, re.M).group(1))  # type: ignore[union-attr]
    p99 = _ms(re.search(r"^\s+99%\s+(\S+)", out, re.M).group(1))  # type: ignore[union-attr]
    requests = int(re.search(r"(\d+) requests in", out).group(1))  # type: ignore[union-attr]
    non = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    errors = re.search(r"Socket errors:.*", out)
    return Result(name, rps, p50, p99, requests, int(non.group(1)) if non else 0,
                  errors.group(0) if errors else "")  # fmt: skip


class Server:
    """A server process in its own session, stopped with SIGTERM (then SIGKILL)."""

    def __init__(self, argv: list[str], env: dict[str, str], ready_url: str) -> None:
        self.proc = subprocess.Popen(  # noqa: S603 - our own commands
            argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            start_new_session=True,
        )  # fmt: skip
        wait_ready(ready_url)

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


def gunicorn_argv(app: str, port: int, worker_class: str, workers: int, threads: int) -> list[str]:
    """gunicorn serving a module of bench/ the way `affiliates serve` serves the project."""
    return [str(VENV_BIN / "gunicorn"), "--bind", f"127.0.0.1:{port}", "--workers",
            str(workers), "--worker-class", worker_class, "--threads", str(threads),
            "--backlog", "2048", "--chdir", str(ROOT / "bench"),
            app]  # fmt: skip


def print_table(runs: list[Result], ceiling: Result) -> None:
    print(f"{'server':40} {'req/s':>9} {'p50 ms':>8} {'p99 ms':>8} {'ratio':>7}")
    for run in runs:
        print(f"{run.name:40} {run.rps:9.0f} {run.p50_ms:8.2f} {run.p99_ms:8.2f} "
              f"{run.rps / ceiling.rps:7.2f}")  # fmt: skip
        if run.errors:
            print(f"   {run.errors}")


def seed(env: dict[str, str], body: str) -> str:
    """Migrate the bench database, then run `body` (indented for an app context, with `db`,
    `api_keys`, `links` and `program` at hand); returns the last line it prints."""
    subprocess.run([str(VENV_BIN / "affiliates"), "db", "upgrade"], env=env, check=True,
                   capture_output=True)  # fmt: skip
    script = (
        "from affiliates import create_app\n"
        "from affiliates.extensions import db\n"
        "from affiliates.services import api_keys, links, program\n"
        "app = create_app()\n"
        "with app.app_context():\n"
        "    offer = program.create_offer(db.session, {'name': 'Bench shop',"
        " 'destination_url': 'https://shop.example.com/item'})\n"
        "    partner = program.create_partner(db.session, 'Bench partner', 'bench@example.com')\n"
        + body
    )
    out = subprocess.run([sys.executable, "-c", script], env=env, check=True,
                         capture_output=True, text=True).stdout  # fmt: skip
    return out.strip().splitlines()[-1]
