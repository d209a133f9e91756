#!/usr/bin/env python3
"""Throwaway PostgreSQL + PostGIS cluster for tests and benchmarks.

Usage as a library::

    from pgcluster import TempPostgres
    with TempPostgres() as pg:
        pg.url                  # postgresql+psycopg://connect@127.0.0.1:PORT/connect
        pg.dsn                  # postgresql://connect@127.0.0.1:PORT/connect (libpq URI)
        url = pg.create_database("t_1")   # fresh DB with postgis, same role
        pg.stop_server(); pg.start_server()  # same port, same data dir
        pg.restart()

Usage from the shell::

    python tools/pgcluster.py check
    python tools/pgcluster.py run -- pytest -x      # sets DATABASE_URL and PG_DSN

The cluster lives in a fresh directory under /tmp (``PGCLUSTER_TMPDIR``
overrides), listens on 127.0.0.1 only, on a port chosen at runtime, with trust
authentication and durability switched off.  When run as root, the server runs
as the ``postgres`` system user (or ``PGCLUSTER_USER``; ``connect-pg`` is
created with ``useradd --system`` if neither exists) because PostgreSQL refuses
to run as root.  As a non-root user it simply runs as that user.

No orphan server is left behind: ``stop()`` is registered with atexit, SIGTERM
and SIGHUP trigger cleanup, and a tiny watchdog process (in its own session)
kills the postmaster and removes the directory if the owning Python process
dies without cleaning up (even with SIGKILL).

Only the standard library and psycopg (3) are used.
"""

from __future__ import annotations

import argparse
import atexit
import glob
import os
import pwd
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

try:  # psycopg is needed for start(); `check` should still work without it.
    import psycopg
    from psycopg import sql
except ImportError:  # pragma: no cover
    psycopg = None
    sql = None

__all__ = ["TempPostgres", "PgClusterError", "find_pg_bin", "postgis_control_path"]

DB_NAME = "connect"
ROLE_NAME = "connect"
SUPERUSER = "postgres"
TEMPLATE_DB = "connect_postgis_template"
FALLBACK_USER = "connect-pg"
LOG_TAIL_CHARS = 6000


class PgClusterError(RuntimeError):
    """Raised when the temporary cluster cannot be created/started/stopped."""


def _remove_in_background(path) -> None:
    """Delete a directory from a detached process, so nothing waits for it."""
    # A test run's cluster holds hundreds of cloned databases (~350,000 files): deleting it
    # took ~10 s at the end of every test process, on the run's critical path.
    trash = f"{path}.deleting"
    try:
        os.rename(path, trash)
        subprocess.Popen(
            ["rm", "-rf", trash],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
            close_fds=True,
        )
    except OSError:
        shutil.rmtree(path, ignore_errors=True)


# --------------------------------------------------------------------------
# Locating binaries
# --------------------------------------------------------------------------


def _version_key(path: str):
    # /usr/lib/postgresql/<ver>/bin/initdb  ->  (15,) / (9, 6)
    ver = Path(path).parent.parent.name
    try:
        return tuple(int(p) for p in ver.split("."))
    except ValueError:
        return (-1,)


def find_pg_bin() -> str:
    """Return the bin directory of the newest PostgreSQL that has initdb.

    Order: ``$PG_BIN`` if set; the newest ``/usr/lib/postgresql/*/bin``
    (Debian/Ubuntu layout); ``initdb`` on ``$PATH``; ``pg_config --bindir``.
    Raises FileNotFoundError if nothing is found.
    """
    env = os.environ.get("PG_BIN")
    if env:
        if os.access(os.path.join(env, "initdb"), os.X_OK):
            return env
        raise FileNotFoundError(f"PG_BIN={env!r} has no executable initdb")
    cands = [p for p in glob.glob("/usr/lib/postgresql/*/bin/initdb") if os.access(p, os.X_OK)]
    if cands:
        return os.path.dirname(max(cands, key=_version_key))
    which = shutil.which("initdb")
    if which:
        return os.path.dirname(os.path.realpath(which))
    pg_config = shutil.which("pg_config")
    if pg_config:
        try:
            bindir = subprocess.run(
                [pg_config, "--bindir"], capture_output=True, text=True, check=True
            ).stdout.strip()
            if os.access(os.path.join(bindir, "initdb"), os.X_OK):
                return bindir
        except (OSError, subprocess.CalledProcessError):
            pass
    raise FileNotFoundError(
        "no PostgreSQL server binaries found (looked in $PG_BIN, /usr/lib/postgresql/*/bin, "
        "$PATH, pg_config); on Debian: apt-get install postgresql postgresql-<ver>-postgis-3"
    )


def _pg_major(bin_dir: str) -> str | None:
    name = Path(bin_dir).parent.name
    if re.fullmatch(r"\d+(\.\d+)?", name):
        return name
    try:
        out = subprocess.run(
            [os.path.join(bin_dir, "postgres"), "--version"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        m = re.search(r"(\d+)(?:\.\d+)?", out)
        return m.group(1) if m else None
    except (OSError, subprocess.CalledProcessError):
        return None


def postgis_control_path(bin_dir: str) -> str:
    """Where postgis.control should be for the server in ``bin_dir``."""
    pg_config = os.path.join(bin_dir, "pg_config")
    if os.access(pg_config, os.X_OK):
        try:
            share = subprocess.run(
                [pg_config, "--sharedir"], capture_output=True, text=True, check=True
            ).stdout.strip()
            if share:
                return os.path.join(share, "extension", "postgis.control")
        except (OSError, subprocess.CalledProcessError):
            pass
    major = _pg_major(bin_dir) or "15"
    return f"/usr/share/postgresql/{major}/extension/postgis.control"


# --------------------------------------------------------------------------
# Which OS user runs the server
# --------------------------------------------------------------------------


def _server_user() -> pwd.struct_passwd | None:
    """None when we are not root (run as ourselves); else the account to use."""
    if os.geteuid() != 0:
        return None
    names = (
        [os.environ["PGCLUSTER_USER"]]
        if os.environ.get("PGCLUSTER_USER")
        else [SUPERUSER, FALLBACK_USER]
    )
    for name in names:
        try:
            pw = pwd.getpwnam(name)
        except KeyError:
            continue
        if pw.pw_uid != 0:
            return pw
    name = names[-1] if not os.environ.get("PGCLUSTER_USER") else names[0]
    useradd = shutil.which("useradd") or "/usr/sbin/useradd"
    res = subprocess.run(
        [
            useradd,
            "--system",
            "--user-group",
            "--no-create-home",
            "--home-dir",
            "/nonexistent",
            "--shell",
            "/usr/sbin/nologin",
            name,
        ],
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
    )
    try:
        return pwd.getpwnam(name)
    except KeyError:
        raise PgClusterError(
            f"running as root and no non-root user to run PostgreSQL; "
            f"useradd {name} failed: {res.stderr.strip()}"
        ) from None


def _check_traversable(path: Path, pw: pwd.struct_passwd) -> None:
    """Every ancestor of ``path`` must be searchable (x) by ``pw``."""
    groups = {g for g in os.getgrouplist(pw.pw_name, pw.pw_gid)}
    for p in list(path.parents):
        st = p.stat()
        if st.st_uid == pw.pw_uid:
            ok = st.st_mode & 0o100
        elif st.st_gid in groups:
            ok = st.st_mode & 0o010
        else:
            ok = st.st_mode & 0o001
        if not ok:
            raise PgClusterError(
                f"{p} is not traversable by user {pw.pw_name!r}; "
                f"set PGCLUSTER_TMPDIR to a world-searchable directory"
            )


# --------------------------------------------------------------------------
# Process-wide cleanup (atexit + signals)
# --------------------------------------------------------------------------

_LIVE: set[TempPostgres] = set()
_LIVE_LOCK = threading.Lock()
_HANDLERS_INSTALLED = False
_PREV_HANDLERS: dict = {}


def _cleanup_all() -> None:
    with _LIVE_LOCK:
        live = list(_LIVE)
    for inst in live:
        try:
            inst._emergency_stop()
        except Exception:  # noqa: BLE001 - best effort at exit
            pass


def _on_signal(signum, frame):
    _cleanup_all()
    prev = _PREV_HANDLERS.get(signum, signal.SIG_DFL)
    if callable(prev):
        prev(signum, frame)
        return
    # Re-deliver with the default action so the exit status says "killed by signal".
    signal.signal(signum, signal.SIG_DFL)
    os.kill(os.getpid(), signum)


def _install_handlers() -> None:
    global _HANDLERS_INSTALLED
    if _HANDLERS_INSTALLED:
        return
    _HANDLERS_INSTALLED = True
    atexit.register(_cleanup_all)
    if threading.current_thread() is not threading.main_thread():
        return  # signal handlers can only be set from the main thread; watchdog still covers us
    for sig in (signal.SIGTERM, signal.SIGHUP):
        prev = signal.getsignal(sig)
        if prev in (signal.SIG_IGN, None):
            continue
        _PREV_HANDLERS[sig] = prev
        signal.signal(sig, _on_signal)


# Runs in a separate process (own session).  Blocks on stdin, which is a pipe
# whose write end only the owning process holds.  EOF means the owner exited
# (normally or not).  If the owner did not clean up, kill the postmaster
# (SIGQUIT = immediate shutdown, then SIGKILL) and remove the directory.
_WATCHDOG_SRC = r"""
import os, signal, sys, time, shutil
for s in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
    signal.signal(s, signal.SIG_IGN)
root, data = sys.argv[1], sys.argv[2]
def alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass
    try:  # a zombie (exited, not yet reaped by init) counts as dead
        with open("/proc/%d/stat" % pid) as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return True
try:
    while sys.stdin.buffer.read(4096):
        pass
except Exception:
    pass
if not os.path.exists(os.path.join(root, ".owner-cleaned")):
    try:
        with open(os.path.join(data, "postmaster.pid")) as f:
            pid = int(f.readline())
    except Exception:
        pid = None
    if pid:
        for sig, wait in ((signal.SIGQUIT, 5.0), (signal.SIGKILL, 5.0)):
            try:
                os.kill(pid, sig)
            except ProcessLookupError:
                break
            end = time.time() + wait
            while time.time() < end:
                if not alive(pid):
                    break
                time.sleep(0.05)
            else:
                continue
            break
    shutil.rmtree(root, ignore_errors=True)
"""


def _pid_alive(pid: int) -> bool:
    """True if ``pid`` runs; a zombie (exited, not yet reaped by init) counts as dead."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return True


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# --------------------------------------------------------------------------
# The cluster
# --------------------------------------------------------------------------


class TempPostgres:
    """A throwaway PostgreSQL + PostGIS cluster (context manager).

    Attributes after start(): ``port``, ``url`` (SQLAlchemy), ``dsn`` (libpq
    URI), ``admin_dsn`` (superuser ``postgres``), ``root_dir``, ``data_dir``,
    ``socket_dir``, ``log_path``, ``bin_dir``, ``running``.
    """

    def __init__(
        self,
        *,
        superuser_role: bool = False,
        postgis: bool = True,
        shared_buffers: str = "128MB",
        max_connections: int = 200,
        base_dir: str | None = None,
        extra_conf: dict | None = None,
        start_timeout: float = 30.0,
    ):
        self.superuser_role = superuser_role
        self.postgis = postgis
        self.shared_buffers = shared_buffers
        self.max_connections = max_connections
        self.base_dir = base_dir or os.environ.get("PGCLUSTER_TMPDIR") or "/tmp"
        self.extra_conf = dict(extra_conf or {})
        self.start_timeout = start_timeout

        self.bin_dir: str | None = None
        self.root_dir: Path | None = None
        self.data_dir: Path | None = None
        self.socket_dir: Path | None = None
        self.log_path: Path | None = None
        self.port: int | None = None
        self.running = False
        self._pw: pwd.struct_passwd | None = None
        self._owner_pid: int | None = None
        self._watchdog: subprocess.Popen | None = None
        self._watchdog_w: int | None = None
        self._lock = threading.RLock()

    # ---- context manager -------------------------------------------------
    def __enter__(self) -> TempPostgres:
        self.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    def __repr__(self) -> str:
        return f"<TempPostgres port={self.port} dir={self.root_dir} running={self.running}>"

    # ---- connection strings ---------------------------------------------
    def dsn_for(self, dbname: str = DB_NAME, user: str = ROLE_NAME) -> str:
        """libpq connection URI (psql/psycopg)."""
        return f"postgresql://{user}@127.0.0.1:{self.port}/{dbname}"

    def url_for(self, dbname: str = DB_NAME, user: str = ROLE_NAME) -> str:
        """SQLAlchemy URL using the psycopg 3 driver."""
        return f"postgresql+psycopg://{user}@127.0.0.1:{self.port}/{dbname}"

    @property
    def dsn(self) -> str:
        return self.dsn_for()

    @property
    def url(self) -> str:
        return self.url_for()

    @property
    def admin_dsn(self) -> str:
        return self.dsn_for("postgres", SUPERUSER)

    # ---- running commands as the server user ----------------------------
    def _run(self, args, *, check=True, timeout=None) -> subprocess.CompletedProcess:
        kw = {}
        if self._pw is not None:
            kw = dict(
                user=self._pw.pw_uid,
                group=self._pw.pw_gid,
                extra_groups=os.getgrouplist(self._pw.pw_name, self._pw.pw_gid),
            )
        env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
        env.update(HOME=str(self.root_dir), LC_ALL="C", LANG="C")
        res = subprocess.run(
            args,
            cwd=str(self.root_dir),
            env=env,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=timeout,
            **kw,
        )
        if check and res.returncode != 0:
            raise PgClusterError(
                f"command failed ({res.returncode}): {' '.join(map(str, args))}\n"
                f"{res.stdout}{res.stderr}{self._log_tail()}"
            )
        return res

    def _bin(self, name: str) -> str:
        return os.path.join(self.bin_dir, name)

    def _log_tail(self, since: int = 0) -> str:
        try:
            with open(self.log_path, "rb") as f:
                f.seek(since)
                text = f.read().decode("utf-8", "replace")
        except (OSError, TypeError):
            return ""
        if len(text) > LOG_TAIL_CHARS:
            text = "...\n" + text[-LOG_TAIL_CHARS:]
        return f"\n--- server log ({self.log_path}) ---\n{text}" if text else ""

    def _log_size(self) -> int:
        try:
            return os.path.getsize(self.log_path)
        except (OSError, TypeError):
            return 0

    # ---- lifecycle --------------------------------------------------------
    def start(self) -> TempPostgres:
        """initdb + start + create role/db/postgis.  Cleans up fully on failure."""
        with self._lock:
            if self.root_dir is not None:
                raise PgClusterError("already started")
            if psycopg is None:
                raise PgClusterError("psycopg (3) is required")
            _install_handlers()
            try:
                self._start()
            except BaseException as e:
                log = self._log_tail()
                self._teardown()
                if isinstance(e, PgClusterError) or not isinstance(e, Exception):
                    raise
                raise PgClusterError(f"could not start temporary PostgreSQL: {e}{log}") from e
            return self

    def _start(self) -> None:
        self.bin_dir = find_pg_bin()
        self._pw = _server_user()
        root = Path(tempfile.mkdtemp(prefix="pgcluster-", dir=self.base_dir)).resolve()
        self.root_dir = root
        self._owner_pid = os.getpid()
        with _LIVE_LOCK:
            _LIVE.add(self)
        self.data_dir = root / "data"
        self.socket_dir = root / "sock"
        self.log_path = root / "postgres.log"
        self.socket_dir.mkdir(mode=0o700)
        self.log_path.touch(mode=0o600)
        if self._pw is not None:
            _check_traversable(root, self._pw)
            for p in (root, self.socket_dir, self.log_path):
                os.chown(p, self._pw.pw_uid, self._pw.pw_gid)
        self._start_watchdog()

        self._run(
            [
                self._bin("initdb"),
                "-D",
                str(self.data_dir),
                "-U",
                SUPERUSER,
                "--auth=trust",
                "--encoding=UTF8",
                "--locale=C",
                "--no-sync",
                "--no-instructions",
            ],
            timeout=120,
        )
        self._write_conf()

        # A port picked by bind(0) can be taken before postgres binds it: retry.
        for attempt in range(5):
            self.port = _free_port()
            self._write_port()
            try:
                self.start_server()
                break
            except PgClusterError as e:
                if attempt < 4 and (
                    "could not bind" in str(e)
                    or "Address already in use" in str(e)
                    or "could not create any TCP/IP sockets" in str(e)
                ):
                    continue
                raise
        self._bootstrap()

    def _write_conf(self) -> None:
        conf = {
            "listen_addresses": "'127.0.0.1'",
            "unix_socket_directories": f"'{self.socket_dir}'",
            "unix_socket_permissions": "0700",
            "max_connections": str(self.max_connections),
            "shared_buffers": self.shared_buffers,
            # fsync off only risks data on an OS crash; synchronous_commit stays on so that
            # a server crash (fault tests stop it with -m immediate) loses no acknowledged
            # commit, as in production.
            "fsync": "off",
            "synchronous_commit": "on",
            "full_page_writes": "off",
            "wal_level": "minimal",
            "max_wal_senders": "0",
            "max_wal_size": "1GB",
            "checkpoint_timeout": "30min",
            "logging_collector": "off",
            "log_line_prefix": "'%m [%p] %q%u@%d '",
            "timezone": "'UTC'",
        }
        conf.update({k: str(v) for k, v in self.extra_conf.items()})
        lines = ["", "# --- tools/pgcluster.py (throwaway cluster) ---"]
        lines += [f"{k} = {v}" for k, v in conf.items()]
        with open(self.data_dir / "postgresql.conf", "a") as f:
            f.write("\n".join(lines) + "\n")

    def _write_port(self) -> None:
        # Written last in the file so it wins; rewritten on each port retry.
        path = self.data_dir / "postgresql.conf"
        text = path.read_text()
        text = re.sub(r"(?m)^port = \d+ # pgcluster\n", "", text)
        path.write_text(text + f"port = {self.port} # pgcluster\n")

    def _bootstrap(self) -> None:
        with psycopg.connect(self.admin_dsn, autocommit=True) as conn:
            role_opts = "LOGIN SUPERUSER" if self.superuser_role else "LOGIN"
            conn.execute(sql.SQL("CREATE ROLE {} " + role_opts).format(sql.Identifier(ROLE_NAME)))
            conn.execute(
                sql.SQL("CREATE DATABASE {} OWNER {}").format(
                    sql.Identifier(TEMPLATE_DB), sql.Identifier(ROLE_NAME)
                )
            )
        if self.postgis:
            with psycopg.connect(self.dsn_for(TEMPLATE_DB, SUPERUSER), autocommit=True) as conn:
                conn.execute("CREATE EXTENSION postgis")
        with psycopg.connect(self.admin_dsn, autocommit=True) as conn:
            # Nobody may connect to the template, so CREATE DATABASE ... TEMPLATE never
            # fails with "source database is being accessed by other users".
            conn.execute(
                sql.SQL("ALTER DATABASE {} WITH IS_TEMPLATE true ALLOW_CONNECTIONS false").format(
                    sql.Identifier(TEMPLATE_DB)
                )
            )
        self.create_database(DB_NAME)

    def create_database(self, name: str) -> str:
        """Create database ``name`` (owner ``connect``, with postgis); return its SQLAlchemy URL."""
        if not self.running:
            raise PgClusterError("server is not running")
        with psycopg.connect(self.admin_dsn, autocommit=True) as conn:
            # Default strategy (WAL_LOG on PG 15): ~40 ms here; FILE_COPY forces two
            # checkpoints and takes ~250 ms.
            conn.execute(
                sql.SQL("CREATE DATABASE {} OWNER {} TEMPLATE {}").format(
                    sql.Identifier(name), sql.Identifier(ROLE_NAME), sql.Identifier(TEMPLATE_DB)
                )
            )
        return self.url_for(name)

    def drop_database(self, name: str) -> None:
        """Drop database ``name``, terminating its connections (PG >= 13)."""
        with psycopg.connect(self.admin_dsn, autocommit=True) as conn:
            conn.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )

    def start_server(self) -> None:
        """Start the (stopped) server on the same port and data dir; wait until ready."""
        with self._lock:
            if self.running:
                return
            if self.data_dir is None:
                raise PgClusterError("cluster not initialised; call start()")
            since = self._log_size()
            res = self._run(
                [
                    self._bin("pg_ctl"),
                    "start",
                    "-D",
                    str(self.data_dir),
                    "-l",
                    str(self.log_path),
                    "-w",
                    "-t",
                    str(int(self.start_timeout)),
                ],
                check=False,
                timeout=self.start_timeout + 30,
            )
            if res.returncode != 0:
                self._kill_postmaster()  # in case pg_ctl timed out with a half-started server
                raise PgClusterError(
                    f"pg_ctl start failed on port {self.port} ({res.returncode}): "
                    f"{res.stdout}{res.stderr}{self._log_tail(since)}"
                )
            self.running = True

    def stop_server(self, mode: str = "fast") -> None:
        """Stop the server but keep the data dir and port (mode: smart|fast|immediate)."""
        with self._lock:
            if self.data_dir is None:
                return
            res = self._run(
                [
                    self._bin("pg_ctl"),
                    "stop",
                    "-D",
                    str(self.data_dir),
                    "-m",
                    mode,
                    "-w",
                    "-t",
                    "30",
                ],
                check=False,
                timeout=60,
            )
            if res.returncode != 0 and self._postmaster_pid() is not None:
                self._kill_postmaster()
            self.running = False

    def restart(self, mode: str = "fast") -> None:
        """stop_server(mode) + start_server(): same port, same data."""
        with self._lock:
            self.stop_server(mode)
            self.start_server()

    def stop(self) -> None:
        """Stop the server (immediate) and delete the directory.  Idempotent."""
        with self._lock:
            self._teardown()

    # ---- internals ---------------------------------------------------------
    def _postmaster_pid(self) -> int | None:
        try:
            with open(self.data_dir / "postmaster.pid") as f:
                pid = int(f.readline())
        except (OSError, ValueError, TypeError):
            return None
        return pid if _pid_alive(pid) else None

    def _kill_postmaster(self) -> None:
        pid = self._postmaster_pid()
        if pid is None:
            return
        for sig, wait in ((signal.SIGQUIT, 5.0), (signal.SIGKILL, 5.0)):
            try:
                os.kill(pid, sig)
            except ProcessLookupError:
                return
            end = time.monotonic() + wait
            while time.monotonic() < end:
                if not _pid_alive(pid):
                    return
                time.sleep(0.05)

    def _start_watchdog(self) -> None:
        r, w = os.pipe()  # both ends non-inheritable by default (O_CLOEXEC)
        try:
            self._watchdog = subprocess.Popen(
                [
                    sys.executable,
                    "-I",
                    "-c",
                    _WATCHDOG_SRC,
                    str(self.root_dir),
                    str(self.data_dir),
                ],
                stdin=r,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                start_new_session=True,
                close_fds=True,
            )
        finally:
            os.close(r)
        self._watchdog_w = w

    def _stop_watchdog(self, owner_cleaned: bool) -> None:
        if owner_cleaned and self.root_dir is not None and self.root_dir.exists():
            try:
                (self.root_dir / ".owner-cleaned").touch()
            except OSError:
                pass
        if self._watchdog_w is not None:
            try:
                os.close(self._watchdog_w)
            except OSError:
                pass
            self._watchdog_w = None
        if self._watchdog is not None:
            try:
                self._watchdog.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self._watchdog.kill()
                self._watchdog.wait()
            self._watchdog = None

    def _teardown(self) -> None:
        if self.root_dir is None:
            return
        if self._owner_pid is not None and os.getpid() != self._owner_pid:
            return  # forked child: the cluster belongs to the parent
        try:
            if self.data_dir is not None and self._postmaster_pid() is not None:
                try:
                    self._run(
                        [
                            self._bin("pg_ctl"),
                            "stop",
                            "-D",
                            str(self.data_dir),
                            "-m",
                            "immediate",
                            "-w",
                            "-t",
                            "10",
                        ],
                        check=False,
                        timeout=30,
                    )
                except (OSError, subprocess.SubprocessError):
                    pass
                self._kill_postmaster()
        finally:
            self.running = False
            self._stop_watchdog(owner_cleaned=True)
            _remove_in_background(self.root_dir)
            with _LIVE_LOCK:
                _LIVE.discard(self)
            self.root_dir = None
            self.data_dir = None

    def _emergency_stop(self) -> None:
        # Called from atexit / signal handlers; must not block on self._lock
        # (the main thread may hold it when the signal arrives).
        if self._owner_pid is not None and os.getpid() != self._owner_pid:
            return
        self._teardown()


# --------------------------------------------------------------------------
# CLI
# --------------------------------------------------------------------------


def _cmd_check() -> int:
    ok = True
    try:
        bin_dir = find_pg_bin()
        print(f"[ok     ] PostgreSQL bin dir: {bin_dir} (major {_pg_major(bin_dir)})")
    except FileNotFoundError as e:
        print(f"[missing] {e}")
        return 1
    for name in ("initdb", "pg_ctl", "postgres"):
        p = os.path.join(bin_dir, name)
        good = os.access(p, os.X_OK)
        ok &= good
        print(f"[{'ok' if good else 'missing':<7}] {p}")
    ctl = postgis_control_path(bin_dir)
    good = os.path.exists(ctl)
    ok &= good
    print(
        f"[{'ok' if good else 'missing':<7}] {ctl}"
        + ("" if good else f"  (apt-get install postgresql-{_pg_major(bin_dir)}-postgis-3)")
    )
    good = psycopg is not None
    ok &= good
    print(
        f"[{'ok' if good else 'missing':<7}] python psycopg (3)"
        + (f" {psycopg.__version__}" if good else "")
    )
    if os.geteuid() == 0:
        user = os.environ.get("PGCLUSTER_USER")
        names = [user] if user else [SUPERUSER, FALLBACK_USER]
        found = None
        for n in names:
            try:
                found = pwd.getpwnam(n)
                break
            except KeyError:
                pass
        if found:
            print(f"[ok     ] running as root: server will run as user {found.pw_name!r}")
        else:
            print(
                f"[ok     ] running as root: user {names[-1]!r} will be created (useradd --system)"
            )
    return 0 if ok else 1


def _cmd_run(cmd: list[str]) -> int:
    if cmd and cmd[0] == "--":
        cmd = cmd[1:]
    if not cmd:
        print("usage: pgcluster.py run -- CMD [ARGS...]", file=sys.stderr)
        return 2
    t0 = time.monotonic()
    with TempPostgres() as pg:
        print(
            f"pgcluster: PostgreSQL+PostGIS on 127.0.0.1:{pg.port} "
            f"({time.monotonic() - t0:.1f}s), DATABASE_URL={pg.url}",
            file=sys.stderr,
            flush=True,
        )
        env = dict(os.environ, DATABASE_URL=pg.url, PG_DSN=pg.dsn)
        proc = subprocess.Popen(cmd, env=env)

        def forward(signum, frame):
            try:
                proc.send_signal(signum)
            except ProcessLookupError:
                pass

        old = {s: signal.signal(s, forward) for s in (signal.SIGTERM, signal.SIGHUP)}
        try:
            while True:
                try:
                    rc = proc.wait()
                    break
                except KeyboardInterrupt:
                    # The child got the terminal's SIGINT too; let it finish.
                    continue
        finally:
            for s, h in old.items():
                signal.signal(s, h)
    return rc if rc >= 0 else 128 - rc


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = ap.add_subparsers(dest="command", required=True)
    sub.add_parser("check", help="check that PostgreSQL and PostGIS are installed")
    p_run = sub.add_parser("run", help="run CMD with DATABASE_URL/PG_DSN set to a temp cluster")
    p_run.add_argument("cmd", nargs=argparse.REMAINDER)
    args = ap.parse_args(argv)
    if args.command == "check":
        return _cmd_check()
    try:
        return _cmd_run(args.cmd)
    except (PgClusterError, FileNotFoundError) as e:
        print(f"pgcluster: {e}", file=sys.stderr)
        return 3


if __name__ == "__main__":
    sys.exit(main())
