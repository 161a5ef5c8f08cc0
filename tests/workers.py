"""A real Celery worker for tests: its own queue on the real Redis, and a `celery worker` process
on the test database. Tests that need them skip, saying why, when no Redis broker answers."""
from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Callable, Iterator

import pytest

ROOT = Path(__file__).resolve().parents[1]
CELERY = Path(sys.executable).with_name("celery")


def redis_or_skip(url: str) -> None:
    redis = pytest.importorskip("redis")
    try:
        redis.Redis.from_url(url, socket_connect_timeout=1).ping()
    except redis.RedisError as exc:
        pytest.skip(f"no Redis broker at {url}: {exc}")


@contextlib.contextmanager
def own_queue(prefix: str, broker_url: str) -> Iterator[str]:
    """Tasks published by this process go to a fresh queue on `broker_url`, not run eagerly."""
    import redis

    from config.celery import app

    name = f"{prefix}-{uuid.uuid4().hex[:8]}"
    app.conf.task_always_eager = False
    app.conf.task_default_queue = name
    app.conf.broker_write_url = broker_url  # broker_url itself gives way to $CELERY_BROKER_URL
    _new_connections(app)
    try:
        yield name
    finally:
        for key in ("task_always_eager", "task_default_queue", "broker_write_url"):
            app.conf.changes.pop(key, None)
        for cached in ("default_queue", "queues", "router"):
            app.amqp.__dict__.pop(cached, None)
        app.amqp.flush_routes()
        _new_connections(app)
        with contextlib.suppress(redis.RedisError):
            redis.Redis.from_url(broker_url, socket_connect_timeout=1).delete(name)


def _new_connections(app) -> None:
    """Forget the publishing connections, so the next publish connects to the broker now set
    (kombu keeps a pool per broker address; closing one would break its next user)."""
    app._pool = None
    app.amqp._producer_pool = None


def database_url(database: dict, user: str | None = None) -> str:
    """A URL for a settings dict's database (as `user`, default the dict's)."""
    return (f"postgres://{user or database['USER']}@{database['HOST'] or '127.0.0.1'}:{database['PORT'] or 5432}"
            f"/{database['NAME']}")


@contextlib.contextmanager
def celery_worker(queue: str, broker_url: str, db_url: str, log_path: Path, *, pool: str = "prefork",
                  include: str = "", unset: tuple[str, ...] = (), **env: str) -> Iterator[subprocess.Popen]:
    """A `celery worker` process on `queue`, connected to `db_url`, with `env` added and `unset`
    removed from the environment; its log is printed at the end (shown when the test fails)."""
    environment = {**os.environ, "DATABASE_URL": db_url, "CELERY_BROKER_URL": broker_url,
                   "CELERY_TASK_DEFAULT_QUEUE": queue, "CELERY_TASK_ALWAYS_EAGER": "false", **env}
    for name in unset:
        environment.pop(name, None)
    log = open(log_path, "ab")
    process = subprocess.Popen(
        [str(CELERY), "-A", "config", "worker", "-Q", queue, "-c", "1", "-P", pool, "--without-gossip",
         "--without-mingle", "--without-heartbeat", "-l", "WARNING", "-n", f"{queue}@%h",
         *(["--include", include] if include else [])],
        cwd=ROOT, env=environment, start_new_session=True, stdout=log, stderr=subprocess.STDOUT)
    try:
        yield process
    finally:
        stop(process)
        log.close()
        print(log_path.read_text()[-5000:])


def stop(process: subprocess.Popen, sig: int = signal.SIGTERM) -> None:
    """Signal a worker and its pool processes (its own process group), and wait for them."""
    if process.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, sig)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


def wait_for(condition: Callable[[], bool], timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.25)
    return condition()


@contextlib.contextmanager
def thread_worker(prefix: str, broker_url: str, routes: tuple[str, ...] = ()) -> Iterator[str]:
    """A Celery worker in this process (a thread, solo pool) on a fresh queue of the real broker;
    tasks named in `routes` are sent there (retries follow them). Yields the queue's name. The
    app's eager setting, routes and queues are as they were afterwards."""
    redis_or_skip(broker_url)
    from celery.contrib.testing.worker import start_worker

    from config.celery import app

    queue = f"{prefix}-{uuid.uuid4().hex[:8]}"  # its own queue: other tests' workers never take it
    app.conf.task_always_eager = False  # over the tests' eager setting, for this block only
    if routes:
        app.conf.task_routes = {name: {"queue": queue} for name in routes}
        app.amqp.flush_routes()
        app.amqp.__dict__.pop("router", None)
    queues = app.amqp.queues
    consume_from = queues._consume_from  # the worker narrows the app's queues; later workers need them back
    try:
        with start_worker(app, pool="solo", perform_ping_check=False, loglevel="WARNING", queues=[queue]):
            yield queue
    finally:
        app.conf.changes.pop("task_always_eager", None)  # Django's settings rule again
        if routes:
            app.conf.changes.pop("task_routes", None)
            app.amqp.flush_routes()
            app.amqp.__dict__.pop("router", None)
        queues._consume_from = consume_from
        queues.pop(queue, None)
