"""Benchmark: Gatekeeper launches per second and latency through the real server, beside
nginx serving a static file (targets: ≥ 2,000 launches/s and p99 ≤ 25 ms on PostgreSQL
at 64 connections on the 2-core machine).

    .venv/bin/python bench/gatekeeper_launch.py [--duration 15] [--connections 64]
        [--databases postgres,sqlite] [--licenses 8] [--threads 8] [--src DIR]

What runs, in one go on the same machine:

- **nginx** (Debian's) from a throwaway config in a temporary directory, serving one small
  static JSON file, and ``wrk`` against it: the ceiling this machine gives a web server.
- For **PostgreSQL** (its own database ``bench_gatekeeper``, dropped afterwards) and for
  **SQLite** (the embedded default: a file in the temporary state directory, WAL), each
  in a child process of this script with its own settings: a fresh state directory,
  ``migrate``, an organisation whose course went through the real actions (created,
  submitted, approved by a reviewer, deployed to staging, promoted to production), and
  licenses issued by ``issue_license`` (an allowed origin, learner and launch caps, so
  every check and both conditional counter updates run). Then **granian** serves
  ``coursewright.wsgi:application`` as production would, and ``wrk`` posts launches.
- **The load**: ``wrk`` (C, event-driven; 2 threads, 64 connections, keep-alive) with a
  generated Lua script: each request is ``POST /launch/v1`` with ``Origin`` and JSON
  ``{token, course, learner}``; the token is one of the licenses' (spread evenly: client
  LMSes), the learner a returning one from a pool of 2,000 per run in nine of ten
  launches and a never-seen one in the tenth. A warm-up run, then the measured run.
- **Full write path**: nothing is cached; each launch verifies the token, reads the
  license, writes its LaunchSession, LaunchEvent, learner row and counters. After the
  measured run (once the rows stop changing) the LaunchEvent rows written during it are
  counted: one per response wrk saw, plus at most one per connection for the requests
  still in flight when wrk stopped; and one LaunchSession per launched event.
- **Revocation under load**: half-way through the measured run a separate license is
  launched (must be 200), revoked with ``revoke_license`` (the real action, its audit
  row included), and launched again at once: that launch must be a 403 ``revoked``. The
  script exits non-zero when it is not, when any launch failed, or when the event count
  does not match.

Server choices (production-like, documented in bench/RESULTS.md): DEBUG off, the
settings' own database configuration, granian WSGI with one worker per core, HTTP/1
only, no access log, ``--threads`` blocking threads per worker (each keeps its own
database connection when the settings make them persistent). granian's backpressure
stays at its default (backlog / workers): in HTTP/1 it caps the *connections* a worker
accepts, so setting it to the thread count leaves most of the 64 connections unaccepted
in the listen queue for seconds. ``--src`` runs another copy of ``src/`` (e.g. with a
patch applied) for before/after comparisons.

wrk runs on the same two cores as the server and takes CPU from it; the figures report
its share (CPU seconds per wall second) and how busy the whole machine was. Besides the
rates, the script reports the CPU per launch (CPU seconds of the server's processes, the
database's backends and wrk during the measured run, divided by the launches) and what
that would give on idle cores: the rates drop when other work shares the machine, the
CPU per launch much less.
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
VENV_BIN = Path(sys.executable).parent
PG_ADMIN_URL = "postgres://postgres@127.0.0.1:5432/test"
PG_DATABASE = "bench_gatekeeper"
ORIGIN = "https://lms.bench.example"
LEARNER_POOL = 2000
NEW_LEARNER_SHARE = 0.1
TARGET_LAUNCHES = 2000
TARGET_P99_MS = 25.0

# --- small helpers ---------------------------------------------------------------------


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def wait_for_port(port: int, process: subprocess.Popen[bytes], timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"the server on port {port} exited with {process.returncode}")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.2):
            return
        time.sleep(0.1)
    raise SystemExit(f"nothing listens on port {port} after {timeout:.0f} s")


def stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def cpu_times() -> tuple[int, int]:
    """(busy, total) jiffies of the whole machine, from /proc/stat."""
    fields = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = fields[3] + fields[4]  # idle + iowait
    return sum(fields) - idle, sum(fields)


def process_cpu(pid: int) -> float:
    """CPU seconds (user + system) a process has used; 0 when it is gone."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def descendants(pid: int) -> list[int]:
    found, queue = [pid], [pid]
    while queue:
        parent = queue.pop()
        for task in Path(f"/proc/{parent}/task").glob("*"):
            with contextlib.suppress(OSError):
                children = [int(c) for c in (task / "children").read_text().split()]
                found.extend(children)
                queue.extend(children)
    return found


def database_backends(database: str) -> list[int]:
    """The PostgreSQL backend processes connected to ``database``."""
    pids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError):
                title = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
                if title.startswith("postgres: ") and f" {database} " in title:
                    pids.append(int(entry.name))
    return pids


class CpuMeter:
    """CPU used by the server's processes (and the database's backends) over a span:
    unlike throughput, it hardly changes when other work shares the machine."""

    def __init__(self, server_pid: int, database: str | None) -> None:
        self.server_pid, self.database = server_pid, database
        self.start = self._sample()

    def _sample(self) -> dict[str, dict[int, float]]:
        sample = {"app": {pid: process_cpu(pid) for pid in descendants(self.server_pid)}}
        sample["db"] = ({pid: process_cpu(pid) for pid in database_backends(self.database)}
                        if self.database else {})
        return sample

    def used(self) -> dict[str, float]:
        end = self._sample()
        return {part: sum(cpu - self.start[part].get(pid, 0.0)
                          for pid, cpu in end[part].items())
                for part in ("app", "db")}


# --- the load generator ----------------------------------------------------------------

# done() prints one JSON line the script reads; latencies are in microseconds.
WRK_DONE = r"""
function done(summary, latency, requests)
  io.write(string.format(
    'WRK_JSON {"requests":%d,"duration_us":%d,"connect":%d,"read":%d,"write":%d,' ..
    '"status":%d,"timeout":%d,"p50_us":%d,"p90_us":%d,"p99_us":%d,"max_us":%d,' ..
    '"mean_us":%.1f}\n',
    summary.requests, summary.duration, summary.errors.connect, summary.errors.read,
    summary.errors.write, summary.errors.status, summary.errors.timeout,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max,
    latency.mean))
end
"""

LAUNCH_SCRIPT = r"""
-- generated by bench/gatekeeper_launch.py: POST /launch/v1 with varying learners
local tokens = {%(tokens)s}
local course = "%(course)s"
local pool = %(pool)d
local new_share = %(new_share)s
local counter = 0
local run = "run"
local threads = {}

function setup(thread)
  table.insert(threads, thread)
  thread:set("tid", #threads)
end

function init(args)
  run = args[1] or "run"
  math.randomseed(tid * 7919 + os.time())
  wrk.method = "POST"
  wrk.path = "/launch/v1"
  wrk.headers["Content-Type"] = "application/json"
  wrk.headers["Origin"] = "%(origin)s"
end

function request()
  counter = counter + 1
  local learner
  if math.random() < new_share then
    learner = "new-" .. run .. "-" .. tid .. "-" .. counter
  else
    learner = "returning-" .. run .. "-" .. math.random(pool)
  end
  local body = '{"token":"' .. tokens[math.random(#tokens)] .. '","course":"' .. course ..
               '","learner":"' .. learner .. '"}'
  return wrk.format(nil, nil, nil, body)
end
"""


class Wrk:
    """One wrk run in the background; ``result()`` waits for it and adds its CPU cost."""

    def __init__(self, url: str, script: Path, *, connections: int, threads: int,
                 duration: int, tag: str) -> None:
        self.duration = duration
        self.started = time.monotonic()
        self.cpu_before = cpu_times()
        self.process = subprocess.Popen(
            ["wrk", f"-t{threads}", f"-c{connections}", f"-d{duration}s", "--timeout", "5s",
             "-s", str(script), url, "--", tag],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE)

    def result(self) -> dict[str, Any]:
        _, status, usage = os.wait4(self.process.pid, 0)
        self.process.returncode = os.waitstatus_to_exitcode(status)
        wall = time.monotonic() - self.started
        busy_after, total_after = cpu_times()
        busy = (busy_after - self.cpu_before[0]) / max(1, total_after - self.cpu_before[1])
        assert self.process.stdout is not None
        assert self.process.stderr is not None
        out = self.process.stdout.read().decode()
        lines = [ln for ln in out.splitlines() if ln.startswith("WRK_JSON ")]
        if self.process.returncode != 0 or not lines:
            raise SystemExit(f"wrk failed ({self.process.returncode}):\n{out}\n"
                             f"{self.process.stderr.read().decode()}")
        figures: dict[str, Any] = json.loads(lines[-1].removeprefix("WRK_JSON "))
        seconds = figures["duration_us"] / 1e6
        figures["rate"] = figures["requests"] / seconds
        figures["socket_errors"] = sum(figures[k] for k in ("connect", "read", "write",
                                                            "timeout"))
        figures["wrk_cpu"] = (usage.ru_utime + usage.ru_stime) / wall
        figures["machine_busy"] = busy
        return figures


def write_script(path: Path, body: str) -> Path:
    path.write_text(body + WRK_DONE, encoding="utf-8")
    return path


# --- nginx -----------------------------------------------------------------------------

NGINX_CONF = """
worker_processes auto;
pid {dir}/nginx.pid;
error_log {dir}/error.log warn;
events {{ worker_connections 4096; }}
http {{
    access_log off;
    sendfile on;
    tcp_nopush on;
    keepalive_requests 1000000;
    client_body_temp_path {dir}/body;
    proxy_temp_path {dir}/proxy;
    fastcgi_temp_path {dir}/fastcgi;
    uwsgi_temp_path {dir}/uwsgi;
    scgi_temp_path {dir}/scgi;
    default_type application/json;
    server {{
        listen 127.0.0.1:{port};
        root {dir}/www;
        location / {{ }}
    }}
}}
"""


def bench_nginx(work: Path, args: argparse.Namespace) -> dict[str, Any]:
    directory = work / "nginx"
    (directory / "www").mkdir(parents=True)
    # a file the size of a launch answer
    (directory / "www" / "launch.json").write_text(json.dumps({"launch": {
        "session": "x" * 43, "course": "0" * 36, "deployment": "0" * 36, "version": 1,
        "entry": "http://127.0.0.1:8000/launch/v1/play/" + "x" * 43 + "/",
        "expires_at": "2026-01-01T00:00:00+00:00"}}))
    for path in (work, directory, directory / "www"):
        path.chmod(0o755)  # nginx's workers may run as nobody
    port = free_port()
    conf = directory / "nginx.conf"
    conf.write_text(NGINX_CONF.format(dir=directory, port=port))
    nginx = shutil.which("nginx") or "/usr/sbin/nginx"
    process = subprocess.Popen([nginx, "-c", str(conf), "-p", str(directory),
                                "-g", "daemon off;"], stderr=subprocess.DEVNULL)
    try:
        wait_for_port(port, process)
        script = write_script(work / "static.lua", "")
        url = f"http://127.0.0.1:{port}/launch.json"
        log(f"nginx: warm-up {args.warmup} s, then {args.duration} s at "
            f"{args.connections} connections")
        Wrk(url, script, connections=args.connections, threads=args.wrk_threads,
            duration=args.warmup, tag="warmup").result()
        figures = Wrk(url, script, connections=args.connections, threads=args.wrk_threads,
                      duration=args.duration, tag="measured").result()
    finally:
        stop(process)
    return figures


# --- one database: runs in its own process (settings are per process) -----------------


def recreate_pg_database() -> None:
    import psycopg

    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as admin:
        admin.execute(f"DROP DATABASE IF EXISTS {PG_DATABASE} WITH (FORCE)")
        admin.execute(f"CREATE DATABASE {PG_DATABASE}")


def drop_pg_database() -> None:
    import psycopg

    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as admin:
        admin.execute(f"DROP DATABASE IF EXISTS {PG_DATABASE} WITH (FORCE)")


def seed(licenses: int) -> dict[str, Any]:
    """An organisation with a course live in production and ``licenses`` + 1 licenses,
    all through the real actions."""
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    from coursewright.accounts.models import User
    from coursewright.audit.actor import Actor
    from coursewright.courses import actions as courses
    from coursewright.delivery import deployments
    from coursewright.delivery.licenses import issue_license
    from coursewright.orgs.actions import add_member, create_organisation
    from coursewright.orgs.models import Role
    from package_build import course_of

    owner = User.objects.create_user("owner@gatekeeper.bench", "x" * 12)
    reviewer = User.objects.create_user("reviewer@gatekeeper.bench", "x" * 12)
    org = create_organisation(name="Bench", region="eu", owner=owner, actor=Actor.system())
    add_member(org, reviewer, Role.REVIEWER, actor=Actor.person(owner))
    content, _ = course_of(25)
    version = courses.create_course(org, content=content, actor=Actor.person(owner))
    version = courses.submit_for_review(version, actor=Actor.person(owner))
    version = courses.approve_version(version, actor=Actor.person(reviewer),
                                      confirm_unsupported=True)
    deployments.deploy_to_staging(version, actor=Actor.person(owner))
    deployments.promote(version.course, actor=Actor.person(owner), reason="benchmark")
    issued = [issue_license(org, name=f"Client LMS {n}", courses=[version.course],
                            allowed_origins=[ORIGIN], max_learners=1_000_000,
                            max_launches=2_000_000_000, actor=Actor.person(owner))
              for n in range(licenses + 1)]
    return {"owner": owner, "course": str(version.course.uid),
            "tokens": [token for _, token in issued[:-1]], "revoked": issued[-1]}


def post_launch(port: int, token: str, course: str, learner: str) -> tuple[int, dict[str, Any],
                                                                            float]:
    body = json.dumps({"token": token, "course": course, "learner": learner})
    started = time.perf_counter()
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        connection.request("POST", "/launch/v1", body=body,
                           headers={"Content-Type": "application/json", "Origin": ORIGIN})
        response = connection.getresponse()
        data = response.read()
    finally:
        connection.close()
    took = (time.perf_counter() - started) * 1000
    try:
        answer = json.loads(data)
    except ValueError:
        answer = {"raw": data[:200].decode(errors="replace")}
    return response.status, answer, took


def check_revocation(port: int, state: dict[str, Any]) -> dict[str, Any]:
    """Launch with a license, revoke it through the action, launch again: refused?"""
    from coursewright.audit.actor import Actor
    from coursewright.delivery.licenses import license_token, revoke_license

    license = state["revoked"][0]
    token = license_token(license, actor=Actor.person(state["owner"]))  # a fresh mint
    before, _, before_ms = post_launch(port, token, state["course"], "revocation-learner")
    started = time.perf_counter()
    revoke_license(license, actor=Actor.person(state["owner"]), reason="benchmark: mid-run")
    revoke_ms = (time.perf_counter() - started) * 1000
    after, answer, after_ms = post_launch(port, token, state["course"], "revocation-learner")
    code = answer.get("error", {}).get("code") if isinstance(answer.get("error"), dict) else None
    return {"before_status": before, "before_ms": before_ms, "revoke_ms": revoke_ms,
            "after_status": after, "after_code": code, "after_ms": after_ms,
            "ok": before == 200 and after == 403 and code == "revoked"}


def event_counts() -> dict[str, int]:
    from coursewright.delivery.models import LaunchEvent, LaunchOutcome, LaunchSession

    return {"events": LaunchEvent.objects.count(),
            "launched": LaunchEvent.objects.filter(outcome=LaunchOutcome.LAUNCHED).count(),
            "sessions": LaunchSession.objects.count()}


def settled_counts(timeout: float = 30) -> dict[str, int]:
    """The counts once the server has finished what wrk left in flight (requests it had
    read before wrk closed their connections): unchanged for a second."""
    from django.db import connection

    counts, deadline = event_counts(), time.monotonic() + timeout
    while time.monotonic() < deadline:
        time.sleep(1)
        again = event_counts()
        if again == counts:
            break
        counts = again
    connection.close()
    return counts


def run_target(args: argparse.Namespace) -> None:
    state_dir = Path(args.state)
    port = free_port()
    env = {**os.environ, "COURSEWRIGHT_VAR_DIR": str(state_dir),
           "DJANGO_SETTINGS_MODULE": "coursewright.settings", "COURSEWRIGHT_DEBUG": "false",
           "COURSEWRIGHT_BASE_URL": f"http://127.0.0.1:{port}",
           "COURSEWRIGHT_LOG_LEVEL": "ERROR",
           "PYTHONPATH": os.pathsep.join([args.src, str(ROOT)])}
    env.pop("DATABASE_URL", None)
    if args.target == "postgres":
        recreate_pg_database()
        env["DATABASE_URL"] = f"postgres://postgres@127.0.0.1:5432/{PG_DATABASE}"
    os.environ.clear()
    os.environ.update(env)
    import django

    django.setup()
    from django.conf import settings
    from django.db import connection

    started = time.monotonic()
    state = seed(args.licenses)
    log(f"{args.target}: seeded in {time.monotonic() - started:.1f} s "
        f"({args.licenses} licenses + 1 to revoke)")
    database = settings.DATABASES["default"]
    script = write_script(state_dir / "launch.lua", LAUNCH_SCRIPT % {
        "tokens": ", ".join(f'"{t}"' for t in state["tokens"]), "course": state["course"],
        "pool": LEARNER_POOL, "new_share": NEW_LEARNER_SHARE, "origin": ORIGIN})
    connection.close()  # the server has the database to itself until the revocation

    server = subprocess.Popen(
        [str(VENV_BIN / "granian"), "--interface", "wsgi", "--host", "127.0.0.1",
         "--port", str(port), "--workers", str(args.workers), "--blocking-threads",
         str(args.threads), "--http", "1", "--no-ws",
         "--no-access-log", "--log-level", "error", "coursewright.wsgi:application"],
        env=env, cwd=state_dir)
    result: dict[str, Any] = {"target": args.target, "ok": False}
    try:
        wait_for_port(port, server)
        for n in range(args.workers * 4):  # every worker imports and connects
            status, answer, _ = post_launch(port, state["tokens"][0], state["course"],
                                            f"probe-{n}")
            if status != 200:
                raise SystemExit(f"{args.target}: a probe launch got {status}: {answer}")
        url = f"http://127.0.0.1:{port}/launch/v1"
        log(f"{args.target}: warm-up {args.warmup} s, then {args.duration} s at "
            f"{args.connections} connections (revocation half-way)")
        Wrk(url, script, connections=args.connections, threads=args.wrk_threads,
            duration=args.warmup, tag="warmup").result()
        before = settled_counts()
        meter = CpuMeter(server.pid, PG_DATABASE if args.target == "postgres" else None)
        measured = Wrk(url, script, connections=args.connections, threads=args.wrk_threads,
                       duration=args.duration, tag="measured")
        time.sleep(args.duration / 2)
        revocation = check_revocation(port, state)
        connection.close()
        figures = measured.result()
        used = meter.used()
        after = settled_counts()
        written = {k: after[k] - before[k] for k in after}
        # every response wrk saw is a row; so may be a request still in flight when wrk
        # stopped (at most one per connection); + the revocation check's two launches
        expected = figures["requests"] + 2
        slack = args.connections
        write_ok = (expected <= written["events"] <= expected + slack
                    and written["sessions"] == written["launched"] == written["events"] - 1)
        figures["app_ms"] = used["app"] * 1000 / figures["requests"]
        figures["db_ms"] = used["db"] * 1000 / figures["requests"]
        result.update(figures, revocation=revocation, written=written,
                      expected_events=expected, write_ok=write_ok,
                      database=f"{database['ENGINE'].rsplit('.', 1)[-1]} "
                               f"(CONN_MAX_AGE={database.get('CONN_MAX_AGE', 0)})")
        result["ok"] = (revocation["ok"] and write_ok and figures["status"] == 0
                        and figures["socket_errors"] == 0)
    finally:
        stop(server)
        connection.close()
        if args.target == "postgres":
            drop_pg_database()
    print("RESULT " + json.dumps(result), flush=True)


# --- the whole run ---------------------------------------------------------------------


def run_child(target: str, work: Path, args: argparse.Namespace) -> dict[str, Any]:
    state = work / target
    state.mkdir()
    command = [sys.executable, __file__, "--target", target, "--state", str(state),
               "--src", args.src, "--duration", str(args.duration), "--warmup",
               str(args.warmup), "--connections", str(args.connections), "--licenses",
               str(args.licenses), "--threads", str(args.threads), "--workers",
               str(args.workers), "--wrk-threads", str(args.wrk_threads)]
    done = subprocess.run(command, stdout=subprocess.PIPE, text=True, check=False)
    lines = [ln for ln in done.stdout.splitlines() if ln.startswith("RESULT ")]
    if done.returncode != 0 or not lines:
        return {"target": target, "ok": False, "failed": f"exit {done.returncode}"}
    result: dict[str, Any] = json.loads(lines[-1].removeprefix("RESULT "))
    return result


def report(nginx: dict[str, Any], results: list[dict[str, Any]],
           args: argparse.Namespace, took: float) -> None:
    print(f"\nload average before the run: {args.load_before:.2f} (1 min; other work on the "
          "machine skews every figure)")
    print(f"Gatekeeper launches through granian (WSGI, {args.workers} workers x "
          f"{args.threads} threads) vs nginx static, wrk -t{args.wrk_threads} "
          f"-c{args.connections}, {args.duration} s measured after {args.warmup} s warm-up; "
          f"{os.cpu_count()} cores, python {sys.version.split()[0]}")
    header = (f"  {'target':<22} {'req/s':>9} {'p50 ms':>8} {'p99 ms':>8} {'max ms':>8} "
              f"{'non-2xx':>8} {'sock err':>8} {'wrk cpu':>8} {'busy':>6} {'x nginx':>8}")
    print(header)

    def row(name: str, f: dict[str, Any]) -> None:
        print(f"  {name:<22} {f['rate']:>9,.0f} {f['p50_us'] / 1000:>8.2f} "
              f"{f['p99_us'] / 1000:>8.2f} {f['max_us'] / 1000:>8.1f} {f['status']:>8} "
              f"{f['socket_errors']:>8} {f['wrk_cpu']:>8.2f} {f['machine_busy']:>6.0%} "
              f"{f['rate'] / nginx['rate']:>8.3f}")

    row("nginx static file", nginx)
    for result in results:
        if "rate" not in result:
            print(f"  {result['target']:<22} FAILED ({result.get('failed', '?')})")
            continue
        row(f"launch, {result['target']}", result)
    cores = os.cpu_count() or 1
    print("\n  CPU per launch (CPU seconds the processes used during the measured run / "
          "launches; less moved by other work on the machine than the rates):")
    print(f"  {'target':<22} {'server':>8} {'database':>9} {'wrk':>6} {'total':>7} "
          f"{'= launches/s on ' + str(cores) + ' idle cores':>32}")
    for result in results:
        if "rate" not in result:
            continue
        wrk_ms = result["wrk_cpu"] * 1000 / result["rate"]
        total = result["app_ms"] + result["db_ms"] + wrk_ms
        print(f"  {'launch, ' + result['target']:<22} {result['app_ms']:>6.2f}ms "
              f"{result['db_ms']:>7.2f}ms {wrk_ms:>4.2f}ms {total:>5.2f}ms "
              f"{cores * 1000 / total:>32,.0f}")
    for result in results:
        if "rate" not in result:
            continue
        rev, written = result["revocation"], result["written"]
        print(f"\n  {result['target']} ({result['database']}):")
        print(f"    written during the measured run: {written['events']:,} LaunchEvents "
              f"({written['launched']:,} launched), {written['sessions']:,} LaunchSessions; "
              f"wrk completed {result['expected_events'] - 2:,} + 2 revocation launches: "
              f"{'OK' if result['write_ok'] else 'MISMATCH'}")
        print(f"    revocation mid-run: launch before {rev['before_status']} "
              f"({rev['before_ms']:.1f} ms), revoke_license {rev['revoke_ms']:.1f} ms, "
              f"next launch {rev['after_status']} {rev['after_code']} "
              f"({rev['after_ms']:.1f} ms): {'OK' if rev['ok'] else 'FAILED'}")
        if result["target"] == "postgres":
            met = (result["rate"] >= TARGET_LAUNCHES
                   and result["p99_us"] / 1000 <= TARGET_P99_MS)
            print(f"    target >= {TARGET_LAUNCHES:,}/s and p99 <= {TARGET_P99_MS:.0f} ms: "
                  f"{'met' if met else 'NOT met'}")
    print(f"\n  whole benchmark: {took:.0f} s")


def main() -> None:
    parser = argparse.ArgumentParser(description="Gatekeeper launches/s vs nginx")
    parser.add_argument("--duration", type=int, default=15, help="measured seconds (15)")
    parser.add_argument("--warmup", type=int, default=3, help="warm-up seconds (3)")
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--databases", default="postgres,sqlite")
    parser.add_argument("--licenses", type=int, default=8,
                        help="licenses the load spreads over (8 client LMSes)")
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1,
                        help="granian worker processes (one per core)")
    parser.add_argument("--threads", type=int, default=8,
                        help="granian blocking threads per worker (8)")
    parser.add_argument("--wrk-threads", type=int, default=2)
    parser.add_argument("--src", default=str(ROOT / "src"),
                        help="the source tree to serve (another copy for before/after)")
    parser.add_argument("--no-nginx", action="store_true", help="skip the nginx run")
    parser.add_argument("--target", choices=["postgres", "sqlite"], help=argparse.SUPPRESS)
    parser.add_argument("--state", help=argparse.SUPPRESS)
    args = parser.parse_args()
    args.src = str(Path(args.src).resolve())
    sys.path[:0] = [args.src, str(ROOT), str(ROOT / "bench")]
    if args.target:
        run_target(args)
        return

    missing = [tool for tool in ("wrk", "nginx")
               if not shutil.which(tool) and not Path(f"/usr/sbin/{tool}").exists()]
    if missing:
        raise SystemExit(f"missing {', '.join(missing)}: `make bench-gatekeeper` installs "
                         "them (apt-get install wrk nginx)")
    args.load_before = os.getloadavg()[0]
    started = time.monotonic()
    work = Path(tempfile.mkdtemp(prefix="coursewright-gatekeeper-"))
    try:
        nginx = ({"rate": float("nan")} if args.no_nginx else bench_nginx(work, args))
        results = [run_child(target.strip(), work, args)
                   for target in args.databases.split(",") if target.strip()]
    finally:
        shutil.rmtree(work, ignore_errors=True)
    if args.no_nginx:
        nginx = {"rate": float("nan"), "p50_us": 0, "p99_us": 0, "max_us": 0, "status": 0,
                 "socket_errors": 0, "wrk_cpu": 0.0, "machine_busy": 0.0}
    report(nginx, results, args, time.monotonic() - started)
    if not all(result["ok"] for result in results):
        print("FAILED: see above (revocation, write path, errors or a crashed run)")
        sys.exit(1)


if __name__ == "__main__":
    main()
