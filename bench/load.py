"""Load test: 50 users working at once on a 1,000,000-account organisation (locust, loopback only).

Usage (env as for the app: DATABASE_URL, REDIS_URL, CELERY_BROKER_URL; a database and Redis
databases of the bench's own)::

    python bench/load.py [--minutes 5] [--users 50] [--port 8134] [--workers 2]

It builds or reuses the fixture of bench/load_data.py (bench/pages_data.py's "Pages Bench Org",
50 load users with accounts and deals of their own, a leads pool), starts gunicorn (`--workers`
sync workers, DEBUG off) on 127.0.0.1:`--port` and one Celery worker (concurrency 1), then runs
locust headless (bench/load_locust.py) with `--users` users for `--minutes` minutes, every
request to 127.0.0.1 only. Each user, after a think time of 2 to 6 s, does one of: My Work, a
list (accounts sorted, searched, paged; deals; leads), an account's page, an edit of one of its
accounts through the edit form, a move of one of its deals on the deals kanban, a global search,
a claim from the pool, or an import of a 10-row lead file (upload, mapping, dry run and import on
the worker, the progress polled every second). While it runs, pg_stat_activity of the database is
sampled every second. Then everything it started is stopped, and it prints throughput, p50 /
p95 / p99 per page, the errors (with the server's and worker's own), the database connections
used and the machine's load, as Markdown for docs/benchmarks.md.

`--restart-db-after S` restarts PostgreSQL S seconds into the run (`pg_ctlcluster <major> main
restart`, or `--restart-command`): requests that meet the restart must fail cleanly (503) and
everything else must go on working, with no restart of the app; the report counts both.

`--stop-redis-after S` stops Redis S seconds into the run for `--stop-redis-for` seconds (30),
with beat running: pages must keep working (no failed request at all), and the jobs refused
meanwhile are kept and sent once Redis is back (none left at the end).

Exit status 1 when any request failed or the server or worker logged an error (with a restart:
any failure other than a 503, or an error log line that is not about the lost database). The run is
bounded: locust stops itself after `--minutes`, and is killed two minutes after that if not.
This is a measurement, not a test.
"""
from __future__ import annotations

import argparse
import csv
import json
import os
import re
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

import django  # noqa: E402

django.setup()

import psycopg  # noqa: E402
from django.conf import settings  # noqa: E402
from django.db import connection  # noqa: E402
from django.test import Client  # noqa: E402

from access import seal  # noqa: E402
from automation.models import PendingEvent  # noqa: E402
from bench import load_data  # noqa: E402
from bench.timing import require_migrated  # noqa: E402
from imports.models import ImportJob  # noqa: E402

HOST = "127.0.0.1"  # traffic goes to this machine's loopback only


def machine_load() -> str:
    return " / ".join(f"{x:.2f}" for x in os.getloadavg())


def busiest_processes(count: int = 8) -> list[str]:
    """The processes using the most CPU now (top's snapshot: %CPU, user, command)."""
    out = subprocess.run(["top", "-b", "-c", "-n", "2", "-d", "1", "-w", "200", "-o", "%CPU"], capture_output=True,
                         text=True).stdout
    last = out.split("\n\n\n")[-1] if "\n\n\n" in out else out
    lines = [line.split() for line in last.splitlines()]
    rows = [f"{line[8]}% {line[1]} {' '.join(line[11:])[:70]}" for line in lines if len(line) > 11 and line[0].isdigit()]
    return rows[:count]


class Processes:
    """gunicorn and one Celery worker, each in its own process group, logs in a temp dir."""

    def __init__(self, port: int, workers: int, logs: Path, beat: bool = False) -> None:
        env = {**os.environ, "DEBUG": "false"}
        py = sys.executable
        self.logs = logs
        self.web_log, self.worker_log = logs / "gunicorn.log", logs / "celery.log"
        # Beat (only with --stop-redis-after): it sends again the jobs kept while the broker was down.
        self.beat = subprocess.Popen(
            [py, "-m", "celery", "-A", "config", "beat", "-l", "WARNING", "-s", str(logs / "beat-schedule")],
            cwd=ROOT, env=env, stdout=open(logs / "beat.log", "wb"), stderr=subprocess.STDOUT,
            start_new_session=True) if beat else None
        self.web = subprocess.Popen(
            [py, "-m", "gunicorn", "config.wsgi:application", "--workers", str(workers), "--bind", f"{HOST}:{port}",
             "--timeout", "120", "--log-level", "warning"],
            cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=open(self.web_log, "wb"), start_new_session=True)
        self.worker = subprocess.Popen(
            [py, "-m", "celery", "-A", "config", "worker", "--concurrency", "1", "-P", "prefork", "--without-gossip",
             "--without-mingle", "-l", "WARNING", "-n", f"load-{os.getpid()}@%h"],
            cwd=ROOT, env=env, stdout=open(self.worker_log, "wb"), stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                urllib.request.urlopen(f"http://{HOST}:{port}/login/", timeout=2).read()
                return
            except urllib.error.HTTPError:
                return
            except OSError:
                time.sleep(0.5)
        self.stop()
        raise SystemExit(f"gunicorn did not start:\n{self.web_log.read_text(errors='replace')[-2000:]}")

    def stop(self) -> None:
        processes = [p for p in (self.web, self.worker, self.beat) if p is not None]
        for process in processes:
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
        for process in processes:
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()

    def errors(self) -> list[str]:
        """What the server's and the worker's logs report as errors: the last exception of each
        traceback (a chain's "During handling ..." parts belong to it), and error lines."""
        found = []
        for log in (self.web_log, self.worker_log):
            lines = log.read_text(errors="replace").splitlines()
            for number, line in enumerate(lines):
                if EXCEPTION_LINE.match(line):
                    following = lines[number + 1:number + 3]
                    if not any(marker in later for later in following for marker in CHAINED):
                        found.append(f"{log.name}: {line.strip()[:300]}")
                elif any(word in line for word in ("Internal Server Error", "CRITICAL", "WORKER TIMEOUT")):
                    found.append(f"{log.name}: {line.strip()[:300]}")
        return found


EXCEPTION_LINE = re.compile(r"^[A-Za-z_][\w.]*(Error|Exception|Exit|Interrupt|Timeout)\b")
CHAINED = ("During handling of the above exception", "The above exception was the direct cause")


class ConnectionSampler(threading.Thread):
    """pg_stat_activity of the bench's database every second (its own connection left out)."""

    def __init__(self) -> None:
        super().__init__(daemon=True)
        db = connection.settings_dict
        self.params = {"host": db["HOST"] or None, "port": db["PORT"] or None, "user": db["USER"] or None,
                       "password": db["PASSWORD"] or None, "dbname": db["NAME"]}
        self.samples: list[tuple[int, int]] = []  # (connections, of which active)
        self.halt = threading.Event()

    def run(self) -> None:
        while not self.halt.is_set():
            try:
                with psycopg.connect(**{k: v for k, v in self.params.items() if v}, autocommit=True) as db:
                    while not self.halt.wait(1.0):
                        total, active = db.execute(
                            "SELECT count(*), count(*) FILTER (WHERE state = 'active') FROM pg_stat_activity "
                            "WHERE datname = current_database() AND pid <> pg_backend_pid() "
                            "AND backend_type = 'client backend'").fetchone()
                        self.samples.append((total, active))
            except psycopg.Error:  # the database restarted (--restart-db-after): sample again once it is back
                self.halt.wait(1.0)


class DatabaseRestart(threading.Thread):
    """Restarts PostgreSQL once, `after` seconds into the run (--restart-db-after); or, given a
    `then` command, runs `command`, waits `pause` seconds and runs `then` (--stop-redis-after)."""

    def __init__(self, after: float, command: list[str], then: list[str] | None = None, pause: float = 0) -> None:
        super().__init__(daemon=True)
        self.after, self.command, self.then, self.pause = after, command, then, pause
        self.window: tuple[float, float] | None = None  # (start, end) in time.time()
        self.output = ""
        self.halt = threading.Event()

    def run(self) -> None:
        if self.halt.wait(self.after):
            return
        start = time.time()
        done = subprocess.run(self.command, capture_output=True, text=True)
        self.output = f"exit {done.returncode} {done.stdout.strip()} {done.stderr.strip()}"[:300]
        if self.then:
            time.sleep(self.pause)  # not cut short: the service must come back
            done = subprocess.run(self.then, capture_output=True, text=True)
            self.output += f"; then exit {done.returncode} {done.stdout.strip()} {done.stderr.strip()}"[:300]
        self.window = (start, time.time())


class UnsentSampler(threading.Thread):
    """How many jobs wait in access.UnsentJob, every second (--stop-redis-after)."""

    def __init__(self) -> None:
        super().__init__(daemon=True)
        self.most = 0
        self.halt = threading.Event()

    def run(self) -> None:
        from access.models import UnsentJob

        with seal.cross_org("bench: counting the jobs kept while the broker is down"):
            while not self.halt.wait(1.0):
                self.most = max(self.most, UnsentJob.objects.count())


def redis_stop_command(given: str) -> list[str]:
    if given:
        return given.split()
    from urllib.parse import urlparse

    broker = urlparse(settings.CELERY_BROKER_URL)
    return ["redis-cli", "-h", broker.hostname or "127.0.0.1", "-p", str(broker.port or 6379), "shutdown", "save"]


def unsent_jobs() -> int:
    from access.models import UnsentJob

    return UnsentJob.objects.count()


def restart_command(given: str) -> list[str]:
    if given:
        return given.split()
    with connection.cursor() as cursor:
        cursor.execute("SHOW server_version_num")
        major = int(cursor.fetchone()[0]) // 10000
    return ["pg_ctlcluster", str(major), "main", "restart"]


ANSWERED_503 = re.compile(r"^(CatchResponseError\()?['\"]?503\b")  # locust's failure text for a 503


def lost_database_line(line: str) -> bool:
    """A log line of a request or task that met the restarted database (answered 503, retried)."""
    return any(word in line for word in ("OperationalError", "InterfaceError"))


def sessions(bench: load_data.LoadBench) -> dict[str, str]:
    cookies = {}
    for user in bench.users:
        client = Client()
        client.force_login(user)
        cookies[user.username] = client.cookies[settings.SESSION_COOKIE_NAME].value
    return cookies


def read_stats(prefix: Path) -> tuple[list[dict], list[dict]]:
    with open(f"{prefix}_stats.csv", encoding="utf-8") as fh:
        stats = list(csv.DictReader(fh))
    with open(f"{prefix}_failures.csv", encoding="utf-8") as fh:
        failures = list(csv.DictReader(fh))
    return stats, failures


def ms(value: str) -> str:
    try:
        return f"{float(value):,.0f}"
    except ValueError:
        return value


def report(stats: list[dict], failures: list[dict], sampler: ConnectionSampler, server_errors: list[str],
           context: dict) -> None:
    print("\n## Results\n")
    for key, value in context.items():
        print(f"- {key}: {value}")
    print("\n| page | requests | failures | req/s | p50 ms | p95 ms | p99 ms | max ms |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    rows = sorted((s for s in stats if s["Name"] != "Aggregated"), key=lambda s: -int(s["Request Count"]))
    total = next((s for s in stats if s["Name"] == "Aggregated"), None)
    for s in rows + ([total] if total else []):
        name = "**all requests**" if s is total else f"{s['Name']} ({s['Type']})"
        print(f"| {name} | {int(s['Request Count']):,} | {s['Failure Count']} | {float(s['Requests/s']):.2f} | "
              f"{ms(s['50%'])} | {ms(s['95%'])} | {ms(s['99%'])} | {ms(s['Max Response Time'])} |")
    if sampler.samples:
        totals = [t for t, _ in sampler.samples]
        actives = [a for _, a in sampler.samples]
        print(f"\nDatabase connections (pg_stat_activity, client backends of the database, {len(totals)} samples, one "
              f"a second): open max {max(totals)}, median {statistics.median(totals):.0f}; active max {max(actives)}, "
              f"median {statistics.median(actives):.0f}, mean {statistics.mean(actives):.2f}.")
    print(f"\nFailed requests: {sum(int(f['Occurrences']) for f in failures)}")
    for f in failures:
        print(f"- {f['Occurrences']} x {f['Method']} {f['Name']}: {f['Error'][:300]}")
    print(f"Errors in the server's and the worker's logs: {len(server_errors)}")
    for line in server_errors[:30]:
        print(f"- {line}")


def main() -> None:
    # The bench's own reads and fixtures cross organisations; the pages are served (by gunicorn)
    # as they are in production, behind the tenant seal when the role is not a superuser.
    with seal.cross_org("bench: the load test's fixtures and figures"):
        _main()


def _main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=5.0, help="how long the users work (5)")
    parser.add_argument("--users", type=int, default=50, help="simulated users at once (50, at most 50)")
    parser.add_argument("--spawn-rate", type=float, default=5.0, help="users started per second (5)")
    parser.add_argument("--port", type=int, default=8134, help="gunicorn's loopback port (8134)")
    parser.add_argument("--workers", type=int, default=2, help="gunicorn sync workers (2)")
    parser.add_argument("--think", default="2,6", help="think time between a user's actions, min,max seconds (2,6)")
    parser.add_argument("--build-only", action="store_true", help="build or check the fixture, then stop")
    parser.add_argument("--restart-db-after", type=float, default=0,
                        help="restart PostgreSQL this many seconds into the run (0: no restart)")
    parser.add_argument("--restart-command", default="",
                        help="the command that restarts it (default: pg_ctlcluster <major> main restart)")
    parser.add_argument("--stop-redis-after", type=float, default=0,
                        help="stop Redis this many seconds into the run (0: never); beat runs too")
    parser.add_argument("--stop-redis-for", type=float, default=30, help="for this many seconds (30)")
    parser.add_argument("--redis-stop-command", default="",
                        help="default: redis-cli -h HOST -p PORT shutdown save (its queue is kept on disk)")
    parser.add_argument("--redis-start-command", default="redis-server /etc/redis/redis.conf",
                        help="(redis-server /etc/redis/redis.conf, Debian's)")
    args = parser.parse_args()
    if args.restart_db_after and args.stop_redis_after:
        raise SystemExit("one outage at a time: --restart-db-after or --stop-redis-after")
    if not 1 <= args.users <= load_data.USERS:
        raise SystemExit(f"--users must be 1 to {load_data.USERS}")
    if not 0 < args.minutes <= 60:
        raise SystemExit("--minutes must be more than 0 and at most 60")
    think_min, think_max = (float(x) for x in args.think.split(","))
    require_migrated()
    started_load = machine_load()
    bench = load_data.ensure()
    if args.build_only:
        return
    with connection.cursor() as cursor:
        cursor.execute("SELECT version(), (SELECT count(*) FROM crm_account WHERE org_id = %s), "
                       "current_setting('max_connections')", [bench.pages.org.pk])
        version, accounts, max_connections = cursor.fetchone()
    cookies = sessions(bench)
    plan = load_data.plan(bench)
    for user in plan:
        user["session"] = cookies[user["username"]]
    imports_before = ImportJob.objects.filter(org=bench.pages.org).count()
    workdir = Path(tempfile.mkdtemp(prefix="teamcrm-load-"))
    plan_file = workdir / "plan.json"
    plan_file.write_text(json.dumps({"users": plan[:args.users], "cookie": settings.SESSION_COOKIE_NAME,
                                     "pool": bench.pool.pool.pk}))
    print(f"{version}\nDjango {django.get_version()}, Python {sys.version.split()[0]}, {os.cpu_count()} CPUs; "
          f"{accounts:,} accounts in the org; max_connections {max_connections}; logs in {workdir}", flush=True)
    print(f"uptime before: {subprocess.run(['uptime'], capture_output=True, text=True).stdout.strip()}")
    print("busiest processes before:\n  " + "\n  ".join(busiest_processes()), flush=True)

    processes = Processes(args.port, args.workers, workdir, beat=bool(args.stop_redis_after))
    sampler = ConnectionSampler()
    restart = DatabaseRestart(args.restart_db_after, restart_command(args.restart_command)) \
        if args.restart_db_after else None
    redis_stop = unsent = None
    if args.stop_redis_after:
        redis_stop = DatabaseRestart(args.stop_redis_after, redis_stop_command(args.redis_stop_command),
                                     then=args.redis_start_command.split(), pause=args.stop_redis_for)
        unsent = UnsentSampler()
    prefix = workdir / "locust"
    env = {**os.environ, "LOAD_PLAN": str(plan_file), "LOAD_THINK_MIN": str(think_min),
           "LOAD_THINK_MAX": str(think_max)}
    middle: list[str] = []
    try:
        sampler.start()
        if restart:
            restart.start()
        if redis_stop:
            redis_stop.start()
            unsent.start()
        locust = subprocess.Popen(
            [sys.executable, "-m", "locust", "-f", str(ROOT / "bench" / "load_locust.py"), "--headless",
             "--users", str(args.users), "--spawn-rate", str(args.spawn_rate), "--run-time", f"{int(args.minutes * 60)}s",
             "--host", f"http://{HOST}:{args.port}", "--csv", str(prefix), "--only-summary", "--stop-timeout", "60",
             "--loglevel", "WARNING"],
            cwd=ROOT, env=env, stdout=open(workdir / "locust.log", "wb"), stderr=subprocess.STDOUT,
            start_new_session=True)
        deadline = time.monotonic() + args.minutes * 60 + 120
        half = time.monotonic() + args.minutes * 30
        while locust.poll() is None and time.monotonic() < deadline:
            time.sleep(1)
            if not middle and time.monotonic() > half:
                middle = [machine_load()] + busiest_processes()
        if locust.poll() is None:
            print("locust did not stop in time: killed", flush=True)
            os.killpg(locust.pid, signal.SIGKILL)
            locust.wait()
        connection.close()  # the bench's own connection may have met the restart
        # Let the worker finish what the run queued (record events, the last imports).
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and (
                PendingEvent.objects.exists() or (unsent and unsent_jobs())
                or ImportJob.objects.filter(org=bench.pages.org, status__in=["checking", "queued", "running"]).exists()):
            time.sleep(1)
    finally:
        sampler.halt.set()
        if restart:
            restart.halt.set()
        if unsent:
            unsent.halt.set()
        processes.stop()
        sampler.join(timeout=5)
    stats, failures = read_stats(prefix)
    jobs = ImportJob.objects.filter(org=bench.pages.org).order_by("pk")[imports_before:]
    by_status: dict[str, int] = {}
    for job in jobs:
        by_status[job.status] = by_status.get(job.status, 0) + 1
    server_errors = processes.errors()
    context = {
        "run": f"{args.users} users, {args.minutes:g} min, think time {think_min:g}-{think_max:g} s, gunicorn "
               f"{args.workers} sync workers, 1 Celery worker (concurrency 1)",
        "imports started in the run, by final status": by_status or "none",
        "record events still pending after the run (+60 s)": PendingEvent.objects.count(),
        "load average (1, 5, 15 min) before the fixture": started_load,
        "load average at half time": middle[0] if middle else "-",
        "load average after": machine_load(),
        "busiest processes at half time": "; ".join(middle[1:6]) if middle else "-",
    }
    if restart:
        # Requests that met the restart must fail cleanly (a 503), and nothing else may fail.
        clean = [f for f in failures if ANSWERED_503.match(f["Error"])]
        failures = [f for f in failures if not ANSWERED_503.match(f["Error"])]
        met = [line for line in server_errors if lost_database_line(line)]
        server_errors = [line for line in server_errors if not lost_database_line(line)]
        window = restart.window
        context["database restart"] = (
            f"{restart.command} at {args.restart_db_after:g} s, took "
            f"{window[1] - window[0]:.1f} s ({restart.output})" if window else "did not happen")
        context["requests answered 503 (the database was restarting)"] = sum(int(f["Occurrences"]) for f in clean)
        context["log lines of requests and tasks that met the restart"] = len(met)
    if redis_stop:
        window = redis_stop.window
        context["Redis stopped"] = (
            f"{redis_stop.command} at {args.stop_redis_after:g} s, {redis_stop.then} "
            f"{window[1] - window[0]:.1f} s later ({redis_stop.output})" if window else "did not happen")
        context["jobs kept while the broker was down (most at once)"] = unsent.most
        context["jobs still kept after the run (+60 s)"] = unsent_jobs()
    report(stats, failures, sampler, server_errors, context)
    print(f"\nuptime after: {subprocess.run(['uptime'], capture_output=True, text=True).stdout.strip()}")
    failed = sum(int(f["Occurrences"]) for f in failures)
    outage_failed = (restart and not restart.window) or (redis_stop and (not redis_stop.window or unsent_jobs()))
    sys.exit(1 if failed or server_errors or outage_failed else 0)


if __name__ == "__main__":
    main()
