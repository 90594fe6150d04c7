"""A real PostgreSQL server for the store's tests: Debian's binaries, a throw-away cluster in a
temporary folder, password authentication over TCP. Started once per test session
(``pg_server`` in conftest.py); each test gets a database of its own."""
from __future__ import annotations

import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import uuid
from pathlib import Path

USER = "normbench"
PASSWORD = "s3cret-Pa55word"


def bindir() -> Path | None:
    found = shutil.which("pg_ctl")
    if found:
        return Path(os.path.realpath(found)).parent
    versions = sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"), key=lambda p: int(Path(p).parts[-3]))
    return Path(versions[-1]).parent if versions else None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    def __init__(self) -> None:
        self.bin = bindir()
        if self.bin is None:
            raise FileNotFoundError("no PostgreSQL server binaries (pg_ctl): apt-get install postgresql")
        self.root = Path(tempfile.mkdtemp(prefix="normbench-pg-"))
        self.root.chmod(0o755)
        self.data, self.log = self.root / "data", self.root / "log"
        self.as_user: list[str] = []
        if os.geteuid() == 0:  # the server refuses to run as root: run it as Debian's postgres user
            pw = pwd.getpwnam("postgres")
            os.chown(self.root, pw.pw_uid, pw.pw_gid)
            self.as_user = ["runuser", "-u", "postgres", "--"]
        pwfile = self.root / "pw"
        pwfile.write_text(PASSWORD + "\n")
        if self.as_user:
            os.chown(pwfile, pwd.getpwnam("postgres").pw_uid, -1)
        self._run([str(self.bin / "initdb"), "-D", str(self.data), "-U", USER, "--pwfile", str(pwfile), "-E", "UTF8",
                   "--auth-local=trust", "--auth-host=scram-sha-256", "--no-sync"])
        self.port = _free_port()
        self._run([str(self.bin / "pg_ctl"), "-D", str(self.data), "-l", str(self.log), "-w", "-t", "60", "-o",
                   f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1 -c fsync=off "
                   "-c synchronous_commit=off -c full_page_writes=off", "start"])

    def _run(self, cmd: list[str]) -> None:
        got = subprocess.run(self.as_user + cmd, capture_output=True, text=True, timeout=120)
        if got.returncode:
            log = self.log.read_text() if self.log.exists() else ""
            raise RuntimeError(f"{cmd[0]} failed: {got.stderr.strip() or got.stdout.strip()} {log[-2000:]}")

    def url(self, database: str = "postgres", password: str = PASSWORD) -> str:
        return f"postgresql://{USER}:{password}@127.0.0.1:{self.port}/{database}"

    def new_database(self) -> str:
        import psycopg

        name = f"t_{uuid.uuid4().hex[:12]}"
        with psycopg.connect(self.url(), autocommit=True) as conn:
            conn.execute(f"CREATE DATABASE {name}")
        return self.url(name)

    def stop(self) -> None:
        subprocess.run(self.as_user + [str(self.bin / "pg_ctl"), "-D", str(self.data), "-m", "immediate", "stop"],
                       capture_output=True, timeout=60)
        shutil.rmtree(self.root, ignore_errors=True)
