"""Load on the review queue: requests/s of ``GET /queue`` and ``POST /queue/decide`` with
10 concurrent clients, and ``admedtagger sql`` and ``status`` from another process during the load.

A real ``admedtagger serve`` process on a copy of a flagged project (default: the demo's
``demo-project``; without one, the bundled corpus is ingested, labelled with the keyword
LFs, modelled and flagged first). Each client is its own session with its own reviewer
name. Decisions are skips on the client's own share of the queue (a skip is one
``reviews`` row through the same path as any decision, and leaves the document in the
queue, so the load can run as long as asked). One client alone is the baseline.

    python -m bench.web                      # 10 clients, 10 s per phase
    python -m bench.web --clients 20 --seconds 20 --project path/to/project
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
EXE = Path(sys.executable).parent / "admedtagger"
CORPUS = ROOT / "demo" / "data" / "demo_pl.jsonl"


def cli(folder: Path, *args: str, timeout: float = 600) -> subprocess.CompletedProcess:
    return subprocess.run([str(EXE), *args], cwd=folder, capture_output=True, text=True, timeout=timeout)


def prepare(project: Path | None, folder: Path) -> None:
    """A flagged project in ``folder``: a copy of ``project``, else built from the demo corpus."""
    if project is not None and (project / "admedtagger.duckdb").exists():
        for name in ("admedtagger.toml", "admedtagger.duckdb"):
            shutil.copy(project / name, folder / name)
        done = cli(folder, "init")  # brings an older warehouse's schema up to date
        if done.returncode != 0:
            sys.exit(f"init failed: {done.stderr.strip()}")
        return
    print(f"building a flagged project from {CORPUS.name} in {folder} ...", flush=True)
    for args in (["init"], ["ingest", str(CORPUS), "--id-col", "id", "--label-col", "label"],
                 ["label", "--kind", "keyword"], ["label-model"], ["flag"]):
        done = cli(folder, *args)
        if done.returncode != 0:
            sys.exit(f"{' '.join(args)} failed: {done.stderr.strip()}")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class Client:
    """One reviewer's browser session."""

    def __init__(self, base: str, name: str):
        self.http = httpx.Client(base_url=base, follow_redirects=False, timeout=120)
        self.csrf = re.search(r'name="csrf" value="([^"]+)"', self.http.get("/reviewer").text).group(1)
        assert self.http.post("/reviewer", data={"csrf": self.csrf, "name": name}).status_code == 303

    def get_queue(self) -> None:
        answer = self.http.get("/queue")
        if answer.status_code != 200:
            raise RuntimeError(f"GET /queue: {answer.status_code}")

    def skip(self, doc_id: str) -> None:
        answer = self.http.post("/queue/decide", data={"csrf": self.csrf, "doc_id": doc_id, "choice": "skip"})
        if answer.status_code != 303 or "saved=" not in answer.headers["location"]:
            raise RuntimeError(f"POST /queue/decide: {answer.status_code} {answer.headers.get('location')}")


def load(clients: list[Client], work, seconds: float) -> tuple[int, float, list[float]]:
    """Run ``work(client, i)`` in every client's thread for ``seconds``; (requests, wall s, latencies)."""
    latencies: list[list[float]] = [[] for _ in clients]
    errors: list[BaseException] = []
    stop = time.perf_counter() + seconds

    def loop(k: int) -> None:
        i = 0
        try:
            while time.perf_counter() < stop:
                started = time.perf_counter()
                work(clients[k], k, i)
                latencies[k].append(time.perf_counter() - started)
                i += 1
        except BaseException as exc:  # noqa: BLE001 - reported after the run
            errors.append(exc)

    threads = [threading.Thread(target=loop, args=(k,)) for k in range(len(clients))]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    wall = time.perf_counter() - started
    if errors:
        raise errors[0]
    flat = [x for per in latencies for x in per]
    return len(flat), wall, flat


PROBES = {  # other processes' commands during the load
    "sql": ("sql", "select count(*) as reviews from reviews", "--format", "csv"),
    "status": ("status",),
}


def command_during(folder: Path, db: Path, probe: str, delay: float, out: list) -> threading.Thread:
    """``admedtagger PROBE`` from another process, ``delay`` seconds into the load."""
    def run() -> None:
        time.sleep(delay)
        started = time.perf_counter()
        done = cli(folder, "--db", str(db), *PROBES[probe], timeout=120)
        last = (done.stdout.strip().splitlines() or [""])[-1] if done.returncode == 0 else done.stderr.strip()[:160]
        out.append((probe, time.perf_counter() - started, done.returncode, last))

    thread = threading.Thread(target=run)
    thread.start()
    return thread


def report(label: str, n: int, wall: float, latencies: list[float]) -> float:
    rate = n / wall
    ordered = sorted(latencies)
    p95 = ordered[int(0.95 * (len(ordered) - 1))]
    print(f"{label:44s} {rate:7.1f} req/s   p50 {1000 * statistics.median(ordered):6.0f} ms   "
          f"p95 {1000 * p95:6.0f} ms   ({n} requests)", flush=True)
    return rate


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--project", type=Path, default=Path("demo-project"),
                        help="flagged project folder to copy (default: ./demo-project; built when absent)")
    parser.add_argument("--clients", type=int, default=10)
    parser.add_argument("--seconds", type=float, default=10.0, help="length of each measured phase")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-web-") as tmp:
        folder = Path(tmp)
        prepare(args.project if args.project.is_dir() else None, folder)
        db = folder / "admedtagger.duckdb"
        port = free_port()
        server = subprocess.Popen([str(EXE), "--db", str(db), "serve", "--port", str(port)], cwd=folder,
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            base = f"http://127.0.0.1:{port}"
            print(server.stdout.readline().strip(), flush=True)
            deadline = time.monotonic() + 60
            while True:
                try:
                    httpx.get(base + "/reviewer", timeout=5)
                    break
                except httpx.TransportError:
                    if time.monotonic() > deadline or server.poll() is not None:
                        sys.exit(f"the server did not start: {server.stderr.read()}")
                    time.sleep(0.2)
            run_phases(base, folder, db, args.clients, args.seconds)
        finally:
            server.terminate()
            server.wait(30)


def run_phases(base: str, folder: Path, db: Path, n_clients: int, seconds: float) -> None:
    listed = cli(folder, "--db", str(db), "review", "list", "--limit", "0", "--format", "json")
    doc_ids = [json.loads(line)["doc_id"] for line in listed.stdout.splitlines() if line.strip()]
    if not doc_ids:
        sys.exit("the queue is empty: nothing to decide")
    print(f"queue: {len(doc_ids)} documents; {n_clients} clients, {seconds:.0f} s per phase", flush=True)
    clients = [Client(base, f"bench-{k:02d}") for k in range(n_clients)]

    def get(client: Client, k: int, i: int) -> None:
        client.get_queue()

    def decide(client: Client, k: int, i: int) -> None:
        client.skip(doc_ids[(k + i * n_clients) % len(doc_ids)])

    def decide_and_next(client: Client, k: int, i: int) -> None:
        decide(client, k, i)
        client.get_queue()

    clients[0].get_queue()  # the keyword matcher is built on the first page
    figures = {}
    for label, work in (("GET /queue", get), ("POST /queue/decide (skip)", decide),
                        ("decision + next page (a reviewer's click)", decide_and_next)):
        one = report(f"{label}, 1 client", *load(clients[:1], work, seconds / 2))
        probes: list = []
        threads = [command_during(folder, db, name, seconds * share, probes)
                   for name, share in (("sql", 0.1), ("status", 0.3), ("sql", 0.5), ("status", 0.7), ("sql", 0.8))]
        many = report(f"{label}, {n_clients} clients", *load(clients, work, seconds))
        for thread in threads:
            thread.join()
        for probe in PROBES:
            runs = [(latency, code, last) for name, latency, code, last in probes if name == probe]
            ok = [latency for latency, code, _ in runs if code == 0]
            failed = [last for _, code, last in runs if code != 0]
            print(f"  `admedtagger {probe}` from another process mid-load: {len(ok)}/{len(runs)} ok"
                  + (f", {min(ok):.2f}-{max(ok):.2f} s" if ok else "")
                  + (f"; failed: {failed[0]}" if failed else ""), flush=True)
        figures[label] = (one, many)
    for client in clients:
        client.http.close()
    print()
    for label, (one, many) in figures.items():
        print(f"{label}: {many:.1f} req/s with {n_clients} clients ({many / one:.2f}x one client's {one:.1f})")


if __name__ == "__main__":
    main()
