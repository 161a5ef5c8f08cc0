"""Benchmark of automation: how fast new records get assigned, and what active workflow rules
add to a save.

Usage (env as for the app: DATABASE_URL, CELERY_BROKER_URL, REDIS_URL; a database of its own)::

    python bench/automation.py [--leads N] [--batch B] [--workers 1,2] [--saves S] [--rules R]

1. **Assignment throughput.** "Automation Bench Org" with 5 sales reps and an active assignment
   rule (round robin over the reps). For each worker count W, a real Celery worker process with
   W processes (prefork) is started on the broker; N leads are created through the record
   actions, B per transaction; the script waits until every lead's assignment run is done. It
   prints the time to commit the leads, the time from the last commit to the last assignment,
   the whole time, assignments per second, and how evenly the reps were served.
2. **Save cost of workflow rules.** S updates of one lead (through `do_update_record`), p50/p95,
   with no workflow rule and with R active workflow rules on the module; and the time the worker
   spends on one such event (the pipeline's stages, run in-process) in both cases.

Results and the machine's load go to docs/benchmarks.md, "Automation". A measurement, not a test.
"""
from __future__ import annotations

import argparse
import os
import secrets
import signal
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

import django  # noqa: E402

django.setup()

from django.db import connection, transaction  # noqa: E402
from django.db.models import Count  # noqa: E402

from access.actions import do_add_user, do_sign_up  # noqa: E402
from access.models import Membership, User  # noqa: E402
from access.visibility import bind_org  # noqa: E402
from automation import assignment_actions as assign  # noqa: E402
from automation.assignment_models import AssignmentRule  # noqa: E402
from automation.models import PendingEvent, RuleRun  # noqa: E402
from bench.timing import percentile, require_migrated, timed_runs  # noqa: E402
from crm import actions as crm_actions  # noqa: E402
from crm.models import Lead  # noqa: E402

ORG = "Automation Bench Org"
REPS = 5


def ensure_org() -> tuple[User, list[User]]:
    membership = Membership.objects.select_related("org", "user").filter(
        org__name=ORG, user__username="autobench_admin").first()
    if membership is None:
        membership = do_sign_up(org_name=ORG, username="autobench_admin", email="autobench@bench.example",
                                password=secrets.token_urlsafe(16), first_name="Bench", last_name="Admin")
    admin = bind_org(membership.user, membership.org, membership)
    reps = []
    for i in range(1, REPS + 1):
        username = f"autobench_rep{i}"
        user = User.objects.filter(username=username, memberships__org=admin.org).first()
        if user is None:
            user = do_add_user(admin.org, username=username, email=f"{username}@bench.example",
                               password=secrets.token_urlsafe(16), role=Membership.Role.STANDARD,
                               first_name="Rep", last_name=str(i), actor=admin).user
        reps.append(user)
    return admin, reps


def ensure_rule(admin: User, reps: list[User]) -> AssignmentRule:
    rule = AssignmentRule.objects.filter(org=admin.org, module="leads", name="Bench round robin").first()
    if rule is None:
        rule = assign.do_create_assignment_rule(admin.org, "leads", name="Bench round robin", actor=admin)
        assign.do_add_assignment_entry(rule, actor=admin, criteria=None, method="round_robin", pool="users",
                                       pool_users=[rep.pk for rep in reps])
    if not rule.active:
        assign.do_activate_assignment_rule(rule, actor=admin)
    return rule


def start_worker(concurrency: int) -> subprocess.Popen:
    command = [sys.executable, "-m", "celery", "-A", "config", "worker", "-l", "warning", "--pool", "prefork",
               "--concurrency", str(concurrency), "--without-gossip", "--without-mingle", "--without-heartbeat"]
    return subprocess.Popen(command, cwd=ROOT, env={**os.environ, "CELERY_TASK_ALWAYS_EAGER": "false"},
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)


def stop_worker(worker: subprocess.Popen) -> None:
    os.killpg(worker.pid, signal.SIGTERM)
    try:
        worker.wait(timeout=30)
    except subprocess.TimeoutExpired:
        os.killpg(worker.pid, signal.SIGKILL)


def assignment_run(admin: User, reps: list[User], rule: AssignmentRule, leads: int, batch: int,
                   workers: int) -> dict[str, float | str]:
    backlog = PendingEvent.objects.filter(org=admin.org).count()
    if backlog:
        print(f"note: {backlog:,} events of an earlier run are still in the outbox; this run handles them first")
    worker = start_worker(workers)
    try:
        time.sleep(3)  # the worker connects to the broker
        started = time.perf_counter()
        created: list[int] = []
        for start in range(0, leads, batch):
            with transaction.atomic():
                for i in range(start, min(start + batch, leads)):
                    lead = crm_actions.do_create_record(
                        "leads", {"last_name": f"Bench {i}", "company": f"Bench Co {i % 97}"}, actor=admin)
                    created.append(lead.pk)
        committed = time.perf_counter()
        deadline = committed + 1800
        while time.perf_counter() < deadline:
            done = RuleRun.objects.filter(rule_kind="assignment", rule_id=rule.pk, status="done",
                                          record_id__gte=created[0]).count()
            if done >= leads:
                break
            time.sleep(0.25)
        finished = time.perf_counter()
        shares = dict(Lead.objects.filter(pk__in=created).values_list("owner_id").annotate(n=Count("pk"))
                      .values_list("owner_id", "n"))
        per_rep = [shares.get(rep.pk, 0) for rep in reps]
        # Let the notifications stage finish before the next run (its own limit: a backlog left
        # here would be timed as part of the next run).
        drain_deadline = time.perf_counter() + 3600
        while PendingEvent.objects.filter(org=admin.org).exists() and time.perf_counter() < drain_deadline:
            time.sleep(0.25)
    finally:
        stop_worker(worker)
    return {"workers": workers, "commit_s": committed - started, "after_commit_s": finished - committed,
            "total_s": finished - started, "per_s": leads / (finished - started),
            "per_rep": "/".join(map(str, per_rep)), "unassigned": leads - sum(per_rep)}


def save_cost(admin: User, saves: int) -> tuple[float, float]:
    lead = crm_actions.do_create_record("leads", {"last_name": "Save bench", "company": "Bench"}, actor=admin)
    state = {"lead": lead, "n": 0}

    def save() -> None:
        state["n"] += 1
        current = state["lead"]
        state["lead"] = crm_actions.do_update_record(current, {"company": f"Bench {state['n']}"},
                                                     version=current.version, actor=admin)

    times = timed_runs(save, saves, warmup=20)
    return percentile(times, 50), percentile(times, 95)


def load() -> str:
    return "load average " + " ".join(f"{v:.2f}" for v in os.getloadavg()) + f", {os.cpu_count()} CPUs"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--leads", type=int, default=10_000)
    parser.add_argument("--batch", type=int, default=500)
    parser.add_argument("--workers", default="1,2")
    parser.add_argument("--saves", type=int, default=300)
    parser.add_argument("--rules", type=int, default=50)
    args = parser.parse_args()
    require_migrated()
    print(f"database {connection.settings_dict['NAME']}; {load()}")
    admin, reps = ensure_org()
    rule = ensure_rule(admin, reps)
    print(f"\n1. Assignment: {args.leads:,} new leads, {args.batch} per transaction, round robin over {REPS} reps")
    print(f"{'workers':>8} {'commit s':>9} {'after commit s':>15} {'total s':>8} {'per s':>7}  per rep (unassigned)")
    for workers in (int(w) for w in args.workers.split(",")):
        row = assignment_run(admin, reps, rule, args.leads, args.batch, workers)
        print(f"{row['workers']:>8} {row['commit_s']:>9.1f} {row['after_commit_s']:>15.1f} {row['total_s']:>8.1f} "
              f"{row['per_s']:>7.0f}  {row['per_rep']} ({row['unassigned']})")
    assign.do_deactivate_assignment_rule(rule, actor=admin)
    print(f"\n2. Save cost: {args.saves} updates of one lead, p50/p95 ms ({load()})")
    from bench import automation_rules  # the workflow rules part

    automation_rules.report(admin, args.saves, args.rules, save_cost)
    print(f"\n{load()}")


if __name__ == "__main__":
    main()
