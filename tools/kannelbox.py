#!/usr/bin/env python3
"""Throwaway Kannel (bearerbox + smsbox) with fake SMS centres, for tests and local runs.

Usage as a library::

    from kannelbox import TempKannel
    with TempKannel("http://127.0.0.1:5000/sms/kannel/inbound", secret="s3cret") as kannel:
        kannel.sendsms_url, kannel.username, kannel.password   # what connect sends to
        kannel.send_mo("+84912345678", "8088", "Cần gạo cho 4 người ở xã Tân Mỹ")
        kannel.wait_for_sent(1, to="+84912345678")   # [SentMessage(...)], as the phones got it

Usage from the shell::

    python tools/kannelbox.py check
    python tools/kannelbox.py serve [--inbound-url URL] [--secret S]   # next to `make run`

The configuration is deploy/kannel/kannel.conf, the one shipped for production, with loopback
ports chosen at runtime, logs and store in a fresh directory under /tmp (``KANNELBOX_TMPDIR``
overrides), the get-url pointed at ``inbound_url`` and its secret, and the carrier's smsc group
replaced by two fake SMS centres: ``phones`` takes every message sent and hands it to a
``fakesmsc`` (kannel-extras) that writes each line it gets to its log, ``inbound`` takes the
messages ``send_mo`` makes a short-lived ``fakesmsc`` type in (no message is ever routed to it).

Nothing is left running: ``stop()`` (also on a failed start, and at exit) ends every process
group; each box gets SIGKILL when the thread that started it dies (``setpriv --pdeathsig``), so a
killed owner leaves no orphan. Start it from a thread that outlives it (pytest's main thread).
"""

from __future__ import annotations

import argparse
import atexit
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
import xml.etree.ElementTree as ElementTree
from dataclasses import dataclass
from pathlib import Path

__all__ = ["TempKannel", "KannelError", "SentMessage", "find_kannel", "read_config", "reassemble"]

ROOT = Path(__file__).resolve().parents[1]
DEPLOY_CONFIG = ROOT / "deploy" / "kannel" / "kannel.conf"
FAKESMSC = "/usr/lib/kannel/test/fakesmsc"  # kannel-extras puts it off the PATH
SAFE = re.compile(r"[A-Za-z0-9._~-]+")  # passes through URLs and Kannel's %-escapes untouched
LOG_TAIL_CHARS = 3000
POLL_SECONDS = 0.01


class KannelError(RuntimeError):
    """Kannel could not be started, or did not do what was asked in time."""


def find_kannel() -> dict[str, str]:
    """Paths of bearerbox, smsbox and fakesmsc; FileNotFoundError names the missing packages."""
    search = os.pathsep.join([os.environ.get("PATH", ""), "/usr/sbin", "/usr/bin"])
    found = {name: shutil.which(name, path=search) for name in ("bearerbox", "smsbox")}
    found["fakesmsc"] = shutil.which("fakesmsc", path=search) or (
        FAKESMSC if os.access(FAKESMSC, os.X_OK) else None
    )
    missing = [name for name, path in found.items() if path is None]
    if missing:
        raise FileNotFoundError(
            f"Kannel is not installed ({', '.join(missing)} not found): "
            "apt-get install kannel kannel-extras (or tools/install-system-deps.sh test)"
        )
    return found


# --------------------------------------------------------------------------
# kannel.conf: groups of `name = value` lines, a blank line ends a group
# --------------------------------------------------------------------------


def read_config(text: str) -> list[list[tuple[str, str]]]:
    """The groups of a kannel.conf, each a list of (name, raw value) starting with its group."""
    groups, group = [], None
    for number, line in enumerate(text.splitlines(), 1):
        line = line.strip()
        if not line:
            group = None
            continue
        if line.startswith("#"):
            continue  # a comment, even inside a group (Kannel's own parser agrees)
        name, equals, value = line.partition("=")
        if not equals:
            raise ValueError(f"line {number} is not `name = value`: {line!r}")
        name, value = name.strip(), value.strip()
        if name == "group":
            group = [(name, value)]
            groups.append(group)
        elif group is None:
            raise ValueError(f"line {number} is outside a group: {line!r}")
        else:
            group.append((name, value))
    return groups


def unquote(value: str) -> str:
    if len(value) >= 2 and value[0] == value[-1] == '"':
        return value[1:-1].replace('\\"', '"').replace("\\\\", "\\")
    return value


def quote(value) -> str:
    return '"' + str(value).replace("\\", "\\\\").replace('"', '\\"') + '"'


def render_config(groups) -> str:
    return "\n\n".join("\n".join(f"{name} = {value}" for name, value in g) for g in groups) + "\n"


def _group(groups, kind):
    return [g for g in groups if unquote(g[0][1]) == kind]


def _with(group, **settings):
    """``group`` with ``settings`` (underscores for dashes) replacing or added to its values."""
    settings = {name.replace("_", "-"): quote(value) for name, value in settings.items()}
    kept = [(name, settings.pop(name, value)) for name, value in group]
    return kept + list(settings.items())


def _fake_smsc(smsc_id, port):
    """An SMS centre in bearerbox that a fakesmsc connects to, on loopback only."""
    group = [("group", "smsc"), ("smsc", "fake"), ("smsc-id", smsc_id)]
    return _with(group, port=port, connect_allow_ip="127.0.0.1", our_host="127.0.0.1")


def _rebase(get_url: str, inbound_url: str, secret: str) -> str:
    """The template's get-url with its address replaced by ``inbound_url`` and its secret."""
    query = unquote(get_url).partition("?")[2]
    query = re.sub(r"(^|&)secret=[^&]*", rf"\g<1>secret={secret}", query)
    return f"{inbound_url}?{query}"


# --------------------------------------------------------------------------
# What the phones got
# --------------------------------------------------------------------------

_GOT = re.compile(rb"Got message \d+: <(.*)>$")
_LINE = re.compile(rb"(\S+) (\S+) (text|data|ucs-2|udh) (.*)", re.DOTALL)


@dataclass(frozen=True)
class SentMessage:
    """One SMS as fakesmsc received it (a part, for a concatenated message)."""

    sender: str
    receiver: str
    kind: str  # "text" (GSM 7-bit), "ucs-2", "data" (8-bit) or "udh" (a part; coding not said)
    data: bytes  # the message bytes: UTF-8 for text, UTF-16BE for ucs-2
    udh: bytes = b""

    @property
    def text(self) -> str | None:
        """The text, when the fake SMS centre's line says how it is coded."""
        if self.kind == "text":
            return self.data.decode("utf-8", errors="replace")
        if self.kind == "ucs-2":
            return self.data.decode("utf-16-be", errors="replace")
        return None

    @property
    def concatenation(self) -> tuple[int, int, int] | None:
        """(reference, parts, this part's number) from a concatenation UDH, else None."""
        udh, at = self.udh, 1
        while at + 1 < len(udh):
            element, length = udh[at], udh[at + 1]
            value = udh[at + 2 : at + 2 + length]
            if element == 0x00 and length == 3:
                return value[0], value[1], value[2]
            if element == 0x08 and length == 4:
                return int.from_bytes(value[:2], "big"), value[2], value[3]
            at += 2 + length
        return None


def _unquote(encoded: bytes) -> bytes:
    """Kannel's URL encoding (a space is "+", a "+" is %2B) back to bytes."""
    return urllib.parse.unquote_to_bytes(encoded.replace(b"+", b" "))


def _parse(line: bytes) -> SentMessage | None:
    match = _LINE.fullmatch(line)
    if match is None:
        return None
    sender, receiver, kind, rest = match.groups()
    udh = b""
    if kind == b"udh":
        udh, _, rest = rest.partition(b" data ")
        udh = _unquote(udh)
    if kind != b"text":
        rest = _unquote(rest)
    return SentMessage(sender.decode(), receiver.decode(), kind.decode(), rest, udh)


def reassemble(parts, encoding="utf-16-be") -> str:
    """The text of one concatenated message from its parts (any order), decoded."""
    numbered = sorted(parts, key=lambda part: part.concatenation[2])
    references = {part.concatenation[:2] for part in numbered}
    if len(references) != 1 or [p.concatenation[2] for p in numbered] != list(
        range(1, numbered[0].concatenation[1] + 1)
    ):
        raise ValueError(f"not the parts of one message: {[p.concatenation for p in parts]}")
    return b"".join(part.data for part in numbered).decode(encoding)


# --------------------------------------------------------------------------
# Processes
# --------------------------------------------------------------------------


def _free_ports(count):
    """``count`` distinct loopback ports free right now (all held open until chosen)."""
    sockets = [socket.socket() for _ in range(count)]
    try:
        for sock in sockets:
            sock.bind(("127.0.0.1", 0))
        return [sock.getsockname()[1] for sock in sockets]
    finally:
        for sock in sockets:
            sock.close()


class _Process:
    """A command in its own process group, output to a file; killed with its owner thread."""

    PDEATHSIG = shutil.which("setpriv")

    def __init__(self, argv, log_path):
        self.log_path = Path(log_path)
        prefix = [self.PDEATHSIG, "--pdeathsig", "KILL", "--"] if self.PDEATHSIG else []
        with open(self.log_path, "wb") as log:
            self.process = subprocess.Popen(
                [*prefix, *map(str, argv)],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                close_fds=True,
            )

    def running(self):
        return self.process.poll() is None

    def output(self) -> bytes:
        return self.log_path.read_bytes() if self.log_path.exists() else b""

    def stop(self, sig=signal.SIGTERM, timeout=5.0):
        for signum, wait in ((sig, timeout), (signal.SIGKILL, 5.0)):
            try:
                os.killpg(self.process.pid, signum)
            except ProcessLookupError:
                break
            try:
                self.process.wait(wait)
                break
            except subprocess.TimeoutExpired:
                continue
        self.process.wait()


def _tail(path: Path) -> str:
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return ""
    return f"\n--- {path.name} ---\n{text[-LOG_TAIL_CHARS:]}" if text else ""


_LIVE: set[TempKannel] = set()


@atexit.register
def _stop_all():
    for kannel in list(_LIVE):
        kannel.stop()


class TempKannel:
    """bearerbox + smsbox from deploy/kannel/kannel.conf with fake SMS centres, on free ports."""

    def __init__(
        self,
        inbound_url: str,
        secret: str,
        *,
        config: Path | str = DEPLOY_CONFIG,
        log_level: int | None = None,
        start_timeout: float = 20.0,
    ):
        if not SAFE.fullmatch(secret):
            raise ValueError("the secret must be URL-safe: letters, digits and ._~- only")
        self.inbound_url = inbound_url
        self.secret = secret
        self.template = Path(config).read_text()
        self.log_level = log_level  # None: the template's own levels
        self.start_timeout = start_timeout
        self.binaries = find_kannel()
        (user,) = _group(read_config(self.template), "sendsms-user")
        self.username = unquote(dict(user)["username"])
        self.password = secrets.token_hex(16)
        self.admin_password = secrets.token_hex(16)
        self.root: Path | None = None
        self._boxes: list[_Process] = []
        self._mo_lock = threading.Lock()
        self._mo_count = 0
        self._sent_lock = threading.Lock()
        self._sent: list[SentMessage] = []
        self._sent_offset = 0

    # ---- life cycle ---------------------------------------------------------
    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    def start(self):
        """Write the configuration, start both boxes and the phones' fakesmsc, wait for all."""
        base = os.environ.get("KANNELBOX_TMPDIR") or None
        for attempt in range(3):  # another process may take a port between choice and bind
            self.root = Path(tempfile.mkdtemp(prefix="kannelbox-", dir=base))
            _LIVE.add(self)
            try:
                self._start()
                return self
            except KannelError as error:
                in_use = "Address already in use" in str(error) or "could not bind" in str(error)
                self.stop()
                if not in_use or attempt == 2:
                    raise
        return self

    def _start(self):
        admin, box, sendsms, phones, inbound = _free_ports(5)
        self.admin_url = f"http://127.0.0.1:{admin}"
        self.sendsms_url = f"http://127.0.0.1:{sendsms}/cgi-bin/sendsms"
        self.phones_port, self.inbound_port = phones, inbound
        self._sent, self._sent_offset, self._mo_count = [], 0, 0
        conf = self.root / "kannel.conf"
        conf.write_text(self._config(admin, box, sendsms))
        deadline = time.monotonic() + self.start_timeout
        self.bearerbox = self._box([self.binaries["bearerbox"], "-v", "2", conf], "bearerbox")
        self._wait(lambda: self._status_xml() is not None, deadline, "bearerbox's admin port")
        self.phones = self._box(
            # -m 0: sends nothing, only prints each message bearerbox gives it (at debug level).
            [self.binaries["fakesmsc"], "-H", "127.0.0.1", "-r", phones, "-m", "0", "-v", "0",
             "connect 0 text unused"],
            "phones",
        )  # fmt: skip
        self._wait(lambda: self._smsc("phones", "status").startswith("online"), deadline, "phones")
        self.smsbox = self._box([self.binaries["smsbox"], "-v", "2", conf], "smsbox")
        self._wait(self._sendsms_answers, deadline, "smsbox's sendsms port")

    def stop(self):
        """Stop every process and delete the directory. Idempotent."""
        for box in reversed(self._boxes):
            box.stop(signal.SIGINT if box is getattr(self, "phones", None) else signal.SIGTERM)
        self._boxes = []
        if self.root is not None:
            shutil.rmtree(self.root, ignore_errors=True)
            self.root = None
        _LIVE.discard(self)

    # ---- what the tests use ---------------------------------------------------
    def send_mo(self, sender: str, receiver: str, text: str | None = None, *, data=None):
        """A phone texts ``receiver`` (ASCII as 7-bit, else UCS-2; ``data`` bytes as 8-bit)."""
        # Returns once bearerbox has the message.
        if " " in sender + receiver:
            raise ValueError("numbers cannot hold spaces on the fake SMS centre's line")
        if data is not None:
            kind, body = "data", urllib.parse.quote_from_bytes(data)
        elif text.isascii() and text.isprintable():
            kind, body = "text", text
        else:
            kind, body = "ucs2", urllib.parse.quote_from_bytes(text.encode("utf-16-be"))
        with self._mo_lock:
            self._mo_count += 1
            number = self._mo_count
            phone = self._box(
                [self.binaries["fakesmsc"], "-H", "127.0.0.1", "-r", self.inbound_port,
                 "-m", "1", "-i", "0", f"{sender} {receiver} {kind} {body}"],
                f"mo-{number}",
                keep=False,
            )  # fmt: skip
            deadline = time.monotonic() + 10
            try:
                self._wait(lambda: b"sent message 1" in phone.output(), deadline, "fakesmsc")
            finally:
                phone.stop(signal.SIGINT)  # it waits for replies forever otherwise
            self._wait(
                lambda: int(self._smsc("inbound", "sms/received") or 0) >= number,
                deadline,
                "bearerbox to take the message",
            )

    def sent_messages(self, since: int = 0, to: str | None = None) -> list[SentMessage]:
        """Messages the phones got, oldest first, from the ``since``-th on (to ``to`` only)."""
        with self._sent_lock:
            with open(self.phones.log_path, "rb") as log:
                log.seek(self._sent_offset)
                lines = log.read().splitlines(keepends=True)
            if lines and not lines[-1].endswith(b"\n"):
                lines.pop()  # half written: read again next time
            self._sent_offset += sum(map(len, lines))
            for line in lines:
                match = _GOT.search(line.rstrip(b"\n"))
                message = _parse(match.group(1)) if match else None
                if match and message is None and self._sent and self._sent[-1].kind == "text":
                    # A newline in a 7-bit text ends fakesmsc's line: the rest comes as another.
                    last = self._sent.pop()
                    data = last.data + b"\n" + match.group(1)
                    message = SentMessage(last.sender, last.receiver, "text", data)
                if message is not None:
                    self._sent.append(message)
            found = self._sent[since:]
        return [m for m in found if to is None or m.receiver == to]

    def sent_count(self) -> int:
        return len(self.sent_messages())

    def wait_for_sent(self, count, *, since=0, to=None, timeout=10.0) -> list[SentMessage]:
        """The first ``count`` messages as sent_messages finds them; KannelError on timeout."""
        found = []

        def arrived():
            found[:] = self.sent_messages(since, to)
            return len(found) >= count

        self._wait(arrived, time.monotonic() + timeout, f"{count} messages at the phones")
        return found[:count]

    # ---- internals ------------------------------------------------------------
    def _config(self, admin, box, sendsms):
        groups = []
        levels = {} if self.log_level is None else {"log_level": self.log_level}
        for group in read_config(self.template):
            kind = unquote(group[0][1])
            if kind == "smsc":
                continue  # the carrier: replaced by the fake SMS centres below
            if kind == "core":
                group = _with(
                    group,
                    admin_port=admin,
                    admin_interface="127.0.0.1",
                    admin_password=self.admin_password,
                    status_password=self.admin_password,
                    smsbox_port=box,
                    smsbox_interface="127.0.0.1",
                    log_file=self.root / "bearerbox.log",
                    access_log=self.root / "access.log",
                    **levels,
                )
                if dict(group).get("store-location"):
                    group = _with(group, store_location=self.root / "kannel.store")
            elif kind == "smsbox":
                group = _with(
                    group,
                    bearerbox_host="127.0.0.1",
                    bearerbox_port=box,
                    sendsms_port=sendsms,
                    sendsms_interface="127.0.0.1",
                    log_file=self.root / "smsbox.log",
                    **levels,
                )
                if dict(group).get("access-log"):
                    group = _with(group, access_log=self.root / "smsbox-access.log")
            elif kind == "sendsms-user":
                group = _with(group, password=self.password)
            elif kind == "sms-service" and "get-url" in dict(group):
                url = _rebase(dict(group)["get-url"], self.inbound_url, self.secret)
                group = _with(group, get_url=url)
            groups.append(group)
        # No message is routed to "inbound": it takes only an smsc-id none carries.
        inbound = _with(_fake_smsc("inbound", self.inbound_port), allowed_smsc_id="none")
        groups += [_fake_smsc("phones", self.phones_port), inbound]
        return render_config(groups)

    def _box(self, argv, name, keep=True):
        process = _Process(argv, self.root / f"{name}.out")
        if keep:
            self._boxes.append(process)
        return process

    def _wait(self, ready, deadline, what):
        while True:
            dead = [box for box in self._boxes if not box.running()]
            if dead:
                raise KannelError(f"{dead[0].log_path.stem} exited{self._tails()}")
            if ready():
                return
            if time.monotonic() > deadline:
                raise KannelError(f"timed out waiting for {what}{self._tails()}")
            time.sleep(POLL_SECONDS)

    def _tails(self):
        if self.root is None:
            return ""
        names = ("bearerbox.out", "bearerbox.log", "smsbox.out", "smsbox.log", "phones.out")
        return "".join(_tail(self.root / name) for name in names)

    def _status_xml(self):
        url = f"{self.admin_url}/status.xml?password={self.admin_password}"
        try:
            with urllib.request.urlopen(url, timeout=2) as answer:
                return ElementTree.fromstring(answer.read())
        except (OSError, ElementTree.ParseError):
            return None

    def _smsc(self, smsc_id, path):
        status = self._status_xml()
        for smsc in [] if status is None else status.iter("smsc"):
            if smsc.findtext("id") == smsc_id:
                return smsc.findtext(path) or ""
        return ""

    def _sendsms_answers(self):
        try:
            urllib.request.urlopen(self.sendsms_url, timeout=2).close()
        except urllib.error.HTTPError:
            return True  # 403 without a username: smsbox is serving
        except OSError:
            return False
        return True


# --------------------------------------------------------------------------
# CLI
# --------------------------------------------------------------------------


def _cmd_check() -> int:
    try:
        for name, path in find_kannel().items():
            print(f"[ok     ] {name}: {path}")
    except FileNotFoundError as error:
        print(f"[missing] {error}")
        return 1
    return 0


def _cmd_serve(inbound_url: str, secret: str) -> int:
    started = time.monotonic()
    with TempKannel(inbound_url, secret) as kannel:
        public = os.environ.get("PUBLIC_BASE_URL", "http://127.0.0.1:5000")
        print(
            f"Kannel is up ({time.monotonic() - started:.1f} s), its files in {kannel.root}.\n"
            "Run connect next to it with:\n"
            f"  export SMS_BACKEND=kannel KANNEL_SENDSMS_URL={kannel.sendsms_url} "
            f"KANNEL_USERNAME={kannel.username} KANNEL_PASSWORD={kannel.password} "
            f"SMS_INBOUND_SECRET={secret} PUBLIC_BASE_URL={public}\n"
            "Messages connect sends are printed here; type `FROM TO TEXT` to text connect.",
            flush=True,
        )
        stopping = threading.Event()

        def show_sent():
            seen = 0
            while not stopping.is_set():
                for message in kannel.sent_messages(seen):
                    seen += 1
                    text = message.text if message.text is not None else message.data
                    print(f"-> {message.receiver} ({message.kind}): {text}", flush=True)
                time.sleep(0.2)

        threading.Thread(target=show_sent, daemon=True).start()
        try:
            for line in sys.stdin:
                words = line.strip().split(" ", 2)
                if len(words) == 3:
                    kannel.send_mo(*words)
                elif line.strip():
                    print("type: FROM TO TEXT, e.g. +84912345678 8088 GAO 4 NGUOI", flush=True)
            signal.pause()  # stdin closed (a service): serve until stopped
        except KeyboardInterrupt:
            pass
        finally:
            stopping.set()
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("check", help="check that Kannel and its fake SMS centre are installed")
    serve = commands.add_parser("serve", help="run Kannel for a local connect until Ctrl-C")
    serve.add_argument(
        "--inbound-url",
        default=os.environ.get("PUBLIC_BASE_URL", "http://127.0.0.1:5000").rstrip("/")
        + "/sms/kannel/inbound",
    )
    serve.add_argument("--secret", default=os.environ.get("SMS_INBOUND_SECRET") or None)
    args = parser.parse_args(argv)
    if args.command == "check":
        return _cmd_check()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))  # atexit stops the boxes
    try:
        return _cmd_serve(args.inbound_url, args.secret or secrets.token_hex(32))
    except (KannelError, FileNotFoundError, ValueError) as error:
        print(f"kannelbox: {error}", file=sys.stderr)
        return 3


if __name__ == "__main__":
    sys.exit(main())
