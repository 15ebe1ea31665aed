"""A throw-away PostgreSQL server on 127.0.0.1, for the tests and CI of the server warehouse.

It uses the machine's own PostgreSQL binaries (Debian's `postgresql` package: `.ci/run` installs
it when missing; `AI_ROI_PG_BIN` names another bin folder). The cluster lives in a fresh folder
under the system's temp dir, listens on a free port of 127.0.0.1 only, has one password-protected
user, and is stopped and deleted on exit. Run as root, the server runs as the `postgres` user
(PostgreSQL refuses to run as root).

    python -m scripts.local_postgres -- make ci-postgres   # a command with PG* set, then stop

The connection is given the way libpq, psycopg and dbt's profile (`dbt/profiles.yml`, target
`postgres`) read it: PGHOST, PGPORT, PGUSER, PGPASSWORD, PGDATABASE.
"""

from __future__ import annotations

import argparse
import os
import secrets
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from scripts.ports import free_port

USER = "ai_roi"
DATABASE = "ai_roi"


def bin_dir() -> Path:
    """The folder of initdb and pg_ctl: AI_ROI_PG_BIN, else the newest Debian install, else PATH."""
    if os.environ.get("AI_ROI_PG_BIN"):
        return Path(os.environ["AI_ROI_PG_BIN"])
    installed = sorted(
        Path("/usr/lib/postgresql").glob("*/bin"), key=lambda p: int(p.parent.name), reverse=True
    )
    for folder in installed:
        if (folder / "pg_ctl").exists():
            return folder
    found = shutil.which("pg_ctl")
    if found:
        return Path(found).parent
    raise FileNotFoundError(
        "no PostgreSQL server binaries (initdb, pg_ctl): install Debian's `postgresql` package "
        "(`apt-get install -y postgresql`, as .ci/run does) or set AI_ROI_PG_BIN to their folder"
    )


def _as_server_user(command: list[str]) -> list[str]:
    """PostgreSQL will not run as root: there, run its commands as `postgres`."""
    if os.geteuid() == 0:
        return ["runuser", "-u", "postgres", "--", *command]
    return command


@contextmanager
def running() -> Iterator[dict[str, str]]:
    """Start a fresh cluster; yield its connection as PG* variables; stop and delete it after."""
    binaries = bin_dir()
    root = Path(tempfile.mkdtemp(prefix="ai-roi-pg-"))
    password = secrets.token_hex(16)
    port = free_port()
    data = root / "data"
    (root / "pwfile").write_text(password + "\n", encoding="utf-8")
    if os.geteuid() == 0:
        shutil.chown(root, "postgres")
        shutil.chown(root / "pwfile", "postgres")
    run = {"check": True, "capture_output": True, "text": True}
    try:
        subprocess.run(
            _as_server_user(
                [
                    str(binaries / "initdb"),
                    "-D",
                    str(data),
                    "-U",
                    USER,
                    "--pwfile",
                    str(root / "pwfile"),
                    "--auth",
                    "scram-sha-256",
                    "--encoding",
                    "UTF8",
                    "--locale",
                    "C",
                ]
            ),
            **run,
        )
        # a test server: durability off (it is deleted after), sockets only in its own folder
        options = (
            f"-c listen_addresses=127.0.0.1 -p {port} -k {root} -c fsync=off"
            " -c synchronous_commit=off -c full_page_writes=off -c timezone=UTC"
        )
        subprocess.run(
            _as_server_user(
                [str(binaries / "pg_ctl"), "-D", str(data), "-o", options]
                + ["-l", str(root / "server.log"), "-w", "-t", "60", "start"]
            ),
            **run,
        )
    except subprocess.CalledProcessError as error:
        shutil.rmtree(root, ignore_errors=True)
        raise RuntimeError(
            f"PostgreSQL did not start: {' '.join(error.cmd)}\n{error.stdout}{error.stderr}"
        ) from error
    env = {
        "PGHOST": "127.0.0.1",
        "PGPORT": str(port),
        "PGUSER": USER,
        "PGPASSWORD": password,
        "PGDATABASE": DATABASE,
    }
    try:
        import psycopg

        with psycopg.connect(**connect_args(env, "postgres"), autocommit=True) as con:
            con.execute(f"create database {DATABASE}")
        yield env
    finally:
        subprocess.run(
            _as_server_user([str(binaries / "pg_ctl"), "-D", str(data), "-m", "immediate", "stop"]),
            capture_output=True,
        )
        shutil.rmtree(root, ignore_errors=True)


def connect_args(env: dict[str, str], dbname: str | None = None) -> dict[str, str]:
    """psycopg.connect keywords for the server `env` describes (its database, or `dbname`)."""
    return {
        "host": env["PGHOST"],
        "port": env["PGPORT"],
        "user": env["PGUSER"],
        "password": env["PGPASSWORD"],
        "dbname": dbname or env["PGDATABASE"],
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("command", nargs=argparse.REMAINDER, help="run with PG* set, then stop")
    args = parser.parse_args(argv)
    command = [c for c in args.command if c != "--"]
    if not command:
        parser.error("give a command to run against the server, after --")
    with running() as env:
        print(f"PostgreSQL on {env['PGHOST']}:{env['PGPORT']} (database {env['PGDATABASE']})")
        return subprocess.run(command, env={**os.environ, **env}).returncode


if __name__ == "__main__":
    sys.exit(main())
