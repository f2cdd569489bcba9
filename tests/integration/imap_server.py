"""A real IMAP server on 127.0.0.1 for the tests: Debian's ``dovecot-imapd``, throwaway and unprivileged.

The fixture writes a ``dovecot.conf`` into a temporary directory (IMAP only, loopback, no TLS, a
passwd-file user whose Maildir is in that directory, ``base_dir`` there too), starts ``dovecot -F -c
conf`` on a free port, and stops it after the test. ``.ci/run`` installs the package. Outside CI a
missing ``dovecot`` skips with the reason; in CI (``CI=true``) it fails.
"""

from __future__ import annotations

import getpass
import imaplib
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

USER, PASSWORD = "closeloop", "mail-test-pw"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def dovecot_binary() -> str:
    found = shutil.which("dovecot") or next((p for p in ("/usr/sbin/dovecot",) if os.path.exists(p)), None)
    if found is None:
        if os.environ.get("CI") == "true":
            pytest.fail("dovecot is not installed (.ci/run installs Debian's dovecot-imapd)")
        pytest.skip("dovecot is not installed (apt-get install dovecot-imapd): no real IMAP server to test against")
    return found


@dataclass
class ImapServer:
    port: int
    root: Path

    @property
    def url(self) -> str:
        return f"imap://{USER}:{PASSWORD}@127.0.0.1:{self.port}/INBOX?starttls=false"

    def client(self) -> imaplib.IMAP4:
        c = imaplib.IMAP4("127.0.0.1", self.port, timeout=10)
        c.login(USER, PASSWORD)
        return c

    def append(self, *raws: bytes) -> None:
        c = self.client()
        try:
            for raw in raws:
                typ, data = c.append("INBOX", "", None, raw)
                assert typ == "OK", data
        finally:
            c.logout()

    def unseen(self) -> int:
        c = self.client()
        try:
            c.select("INBOX")
            typ, data = c.uid("SEARCH", "UNSEEN")
            return len((data[0] or b"").split())
        finally:
            c.logout()


def _mail_owner() -> tuple[str, int, int]:
    """The system user the mail processes run as: the test's own user, or ``nobody`` when that is root
    (dovecot refuses mail access as uid 0)."""
    if os.getuid() != 0:
        return getpass.getuser(), os.getuid(), os.getgid()
    nobody = pwd.getpwnam("nobody")
    return "nobody", nobody.pw_uid, nobody.pw_gid


def _config(root: Path, port: int) -> Path:
    owner, uid, gid = _mail_owner()
    (root / "mail").mkdir()
    (root / "run").mkdir()
    (root / "passwd").write_text(f"{USER}:{{PLAIN}}{PASSWORD}:{uid}:{gid}::{root / 'mail'}::\n", encoding="utf-8")
    if os.getuid() == 0:
        os.chown(root / "mail", uid, gid)
    conf = root / "dovecot.conf"
    conf.write_text(f"""
protocols = imap
listen = 127.0.0.1
base_dir = {root / 'run'}
state_dir = {root / 'run'}
instance_name = closeloop-test-{port}
ssl = no
disable_plaintext_auth = no
auth_mechanisms = plain login
log_path = {root / 'dovecot.log'}
mail_location = maildir:{root / 'mail'}/Maildir
first_valid_uid = {uid}
first_valid_gid = {gid}
default_login_user = {'dovenull' if os.getuid() == 0 else owner}
default_internal_user = {'dovecot' if os.getuid() == 0 else owner}
passdb {{
  driver = passwd-file
  args = {root / 'passwd'}
}}
userdb {{
  driver = passwd-file
  args = {root / 'passwd'}
}}
service imap-login {{
  inet_listener imap {{
    address = 127.0.0.1
    port = {port}
  }}
  inet_listener imaps {{
    port = 0
  }}
}}
service stats {{
  unix_listener stats-reader {{
    mode = 0666
  }}
  unix_listener stats-writer {{
    mode = 0666
  }}
}}
""", encoding="utf-8")
    return conf


def _wait(port: int, proc: subprocess.Popen, log: Path, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"dovecot exited ({proc.returncode}): {log.read_text() if log.exists() else ''}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5) as s:
                if s.recv(100).startswith(b"* OK"):
                    return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError("dovecot did not answer within 15 s")


def start_server(root: Path):
    """Start dovecot under ``root``; returns ``(server, process)``."""
    binary = dovecot_binary()
    root.mkdir(parents=True, exist_ok=True)
    os.chmod(root, 0o755)
    port = _free_port()
    conf = _config(root, port)
    proc = subprocess.Popen([binary, "-F", "-c", str(conf)], stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        _wait(port, proc, root / "dovecot.log")
    except BaseException:
        proc.kill()
        proc.wait(10)
        raise
    return ImapServer(port, root), proc


def stop_server(proc: subprocess.Popen) -> None:
    proc.terminate()
    try:
        proc.wait(10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(10)


@pytest.fixture
def imap_server():
    """A running dovecot with one empty INBOX (:class:`ImapServer`); stopped and removed after the test.
    Its directory is a fresh one under the system temp dir, readable by dovecot's unprivileged processes
    (pytest's own temp dirs are private to the test's user)."""
    root = Path(tempfile.mkdtemp(prefix="closeloop-dovecot-"))
    try:
        server, proc = start_server(root)
        try:
            yield server
        finally:
            stop_server(proc)
    finally:
        shutil.rmtree(root, ignore_errors=True)
