"""Benchmark: importing a lead file, against PostgreSQL COPY of the same rows.

Usage (env as for the app: DATABASE_URL, REDIS_URL, CELERY_BROKER_URL,
DJANGO_SETTINGS_MODULE=config.settings)::

    python bench/import.py [--rows 100000] [--profile] [--update]

Generates a CSV of `--rows` leads (English and Chinese names, companies, e-mails, phones, a
status and a source), uploads it as an administrator of a bench organisation and runs the import
job the way the worker does (`imports.tasks.run_import`: the Importer, the batch create action,
every guard, hook, timeline entry and outbox event). Then COPYs the same rows into the leads table
itself (the same indexes, its foreign keys checked), rolled back afterwards, and prints rows per
second of both, the ratio, and the CPU seconds of this process and of its PostgreSQL backend. The events the import queues are not handled here
(no worker runs): that is the workers' time, after the import.

`--profile` runs the import under cProfile and prints the 30 costliest functions. The bench
organisation's earlier leads are removed first, so runs start alike. See docs/benchmarks.md.
This is a measurement, not a test.
"""
from __future__ import annotations

import argparse
import cProfile
import csv
import io
import os
import pstats
import random
import secrets
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

import django  # noqa: E402

django.setup()

from django.conf import settings  # noqa: E402
from django.core.files.uploadedfile import SimpleUploadedFile  # noqa: E402
from django.db import connection, transaction  # noqa: E402

from access.actions import do_sign_up  # noqa: E402
from access.models import Membership  # noqa: E402
from access.visibility import bind_org  # noqa: E402
from bench.timing import require_migrated  # noqa: E402
from crm.modules import get_module  # noqa: E402
from imports import actions as import_actions  # noqa: E402
from imports.models import ImportJob  # noqa: E402
from imports.tasks import run_import  # noqa: E402

ORG = "Bench Import"
USERNAME = "bench_import_admin"
COLUMNS = ["First name", "Last name", "Company", "Email", "Phone", "Status", "Source"]
FIELDS = ["first_name", "last_name", "company", "email", "phone", "status", "source"]
SURNAMES = ["王", "李", "张", "刘", "陈", "Smith", "Garcia", "Müller", "Tanaka", "Kim"]
GIVEN = ["伟", "芳", "娜", "敏", "静", "Anna", "James", "Lena", "Yuki", "Omar"]
COMPANIES = ["北京星辰科技有限公司", "上海浦江贸易", "深圳华光电子", "Acme Corp", "Globex", "Initech", "Umbrella"]


def backend_cpu() -> float:
    """CPU seconds used so far by this connection's PostgreSQL backend process (same machine):
    unlike wall time, not stretched by other jobs' load."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        pid = cursor.fetchone()[0]
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return float("nan")  # the database is on another machine
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime + stime


def ensure_admin():
    membership = Membership.objects.select_related("org", "user").filter(org__name=ORG, user__username=USERNAME).first()
    if membership is None:
        membership = do_sign_up(org_name=ORG, username=USERNAME, email=f"{USERNAME}@bench.example",
                                password=secrets.token_urlsafe(16), first_name="Bench", last_name="Admin")
    return bind_org(membership.user, membership.org, membership)


def make_rows(count: int, statuses: list[str], sources: list[str]) -> list[list[str]]:
    rng = random.Random(13)
    return [[rng.choice(GIVEN), f"{rng.choice(SURNAMES)}{n}", rng.choice(COMPANIES), f"lead{n}@example.com",
             f"138 {n // 10000:04d} {n % 10000:04d}", statuses[n % len(statuses)], sources[n % len(sources)]]
            for n in range(count)]


def lead_choices(admin) -> tuple[list[str], list[str]]:
    schema = get_module("leads", admin.org).bind(admin.org)
    return ([c.value for c in schema.field("status").options], [c.value for c in schema.field("source").options])


def csv_bytes(rows: list[list[str]]) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(COLUMNS)
    writer.writerows(rows)
    return out.getvalue().encode("utf-8")


def clear_previous(admin) -> None:
    """The bench org's leads and what their imports wrote, so every run starts alike."""
    with connection.cursor() as cursor:
        cursor.execute("DELETE FROM automation_pendingevent WHERE org_id = %s", [admin.org.pk])
        cursor.execute("DELETE FROM crm_timelineentry WHERE org_id = %s", [admin.org.pk])
        cursor.execute("DELETE FROM imports_importedrecord WHERE org_id = %s", [admin.org.pk])
        cursor.execute("DELETE FROM crm_lead WHERE org_id = %s", [admin.org.pk])


def run_import_job(admin, content: bytes, profile: bool, update: bool = False
                   ) -> tuple[float, ImportJob, pstats.Stats | None]:
    """The import of `content`; with `update`, matched on e-mail, updating the leads it finds."""
    schema = get_module("leads", admin.org).bind(admin.org)
    job = import_actions.do_upload_import(schema, SimpleUploadedFile("leads.csv", content), actor=admin)
    columns = {str(i): key for i, key in enumerate(FIELDS)}
    duplicates = ImportJob.Duplicates.UPDATE if update else ImportJob.Duplicates.CREATE
    job = import_actions.do_set_mapping(job, columns, duplicates=duplicates, match_fields=["email"] if update else [],
                                        day_first=False, all_or_nothing=False, actor=admin)
    import_actions.do_finish_check(job, [], {})
    import_actions.do_confirm_import(job, actor=admin)
    profiler = cProfile.Profile() if profile else None
    server = backend_cpu()
    started, cpu = time.perf_counter(), time.process_time()
    if profiler:
        profiler.enable()
    run_import.run(job.pk)  # what the worker runs
    if profiler:
        profiler.disable()
    elapsed = time.perf_counter() - started
    print(f"import: {time.process_time() - cpu:.2f} s of this process's CPU and {backend_cpu() - server:.2f} s of "
          f"its PostgreSQL backend's, in {elapsed:.2f} s")
    job.refresh_from_db()
    return elapsed, job, pstats.Stats(profiler) if profiler else None


def copy_rows(admin, rows: list[list[str]]) -> float:
    """COPY the same rows into the leads table itself (its indexes, its foreign keys checked at
    once), in a transaction that is then rolled back, so the rows do not stay."""
    now = "2026-01-01 00:00:00+00"
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    for row in rows:
        writer.writerow([admin.org.pk, admin.pk, 1, "{}", now, admin.pk, now, admin.pk, *row])
    data = buffer.getvalue()
    server = backend_cpu()
    with transaction.atomic():
        started = time.perf_counter()
        with connection.cursor() as cursor:
            cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")  # foreign keys checked in the timing, not at commit
            with cursor.copy("COPY crm_lead (org_id, owner_id, version, custom, created_at, created_by_id, "
                             "modified_at, modified_by_id, first_name, last_name, company, email, phone, status, "
                             "source) FROM STDIN WITH (FORMAT csv)") as copy:
                copy.write(data)
        elapsed = time.perf_counter() - started
        transaction.set_rollback(True)
    print(f"COPY: {backend_cpu() - server:.2f} s of its PostgreSQL backend's CPU, in {elapsed:.2f} s")
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000, help="rows in the file (default 100000)")
    parser.add_argument("--profile", action="store_true", help="run the import under cProfile")
    parser.add_argument("--update", action="store_true",
                        help="then import the file again with other companies, updating the leads by e-mail")
    args = parser.parse_args()
    if settings.DEBUG:
        print("warning: DEBUG is on; every query is also logged in memory, which adds overhead.")
    require_migrated()
    admin = ensure_admin()
    clear_previous(admin)
    statuses, sources = lead_choices(admin)
    rows = make_rows(args.rows, statuses, sources)
    content = csv_bytes(rows)
    with connection.cursor() as cursor:
        cursor.execute("SELECT version()")
        print(cursor.fetchone()[0])
    print(f"Django {django.get_version()}, Python {sys.version.split()[0]}, {os.cpu_count()} CPUs; "
          f"load average before: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    print(f"file: {args.rows} rows, {len(content) / 1e6:.1f} MB\n")

    elapsed, job, stats = run_import_job(admin, content, args.profile)
    if job.status != ImportJob.Status.DONE or job.created_count != args.rows:
        print(f"import did not finish as expected: status {job.status}, created {job.created_count}, "
              f"failed {job.failed_count}: {job.error}")
    import_rate = args.rows / elapsed
    copy_elapsed = copy_rows(admin, rows)
    copy_rate = args.rows / copy_elapsed
    print(f"{'':<28} {'seconds':>9} {'rows/s':>9}")
    print(f"{'import (run_import)':<28} {elapsed:9.2f} {import_rate:9.0f}")
    print(f"{'COPY into crm_lead':<28} {copy_elapsed:9.2f} {copy_rate:9.0f}")
    print(f"\nimport takes {elapsed / copy_elapsed:.1f}x the time of COPY; "
          f"load average after: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    if args.update:
        changed = [[*row[:2], f"{row[2]} (2)", *row[3:]] for row in rows]
        elapsed, job, _stats = run_import_job(admin, csv_bytes(changed), False, update=True)
        if job.status != ImportJob.Status.DONE or job.updated_count != args.rows:
            print(f"update did not finish as expected: status {job.status}, updated {job.updated_count}, "
                  f"failed {job.failed_count}: {job.error}")
        print(f"{'update by e-mail (run_import)':<28} {elapsed:9.2f} {args.rows / elapsed:9.0f}")
    if stats is not None:
        stats.dump_stats("/tmp/bench_import.prof")
        print("\ncProfile (also in /tmp/bench_import.prof), by own time:")
        stats.sort_stats("tottime").print_stats(30)
        print("cProfile, by cumulative time:")
        stats.sort_stats("cumulative").print_stats(40)


if __name__ == "__main__":
    main()
