"""dbt run inside the Python process that asks for it, behind dagster-dbt's subprocess interface.

dagster-dbt starts `dbt` as a new process for every invocation and reads its JSON log lines from
stdout. A new dbt process costs about 3.5 s on this project's 2-core machine before it does any
work (importing dbt and its adapters, building its serialisers, parsing and writing the
manifest); a pipeline run invokes dbt three times, so on small data most of a dbt step is that
start. dbt's programmatic entry point (`dbtRunner`) does the same work in the calling process:
after the first invocation of a process it starts in about 0.2 s.

`DbtProcess` is what dagster-dbt's invocation reads from a process (`stdout` lines, `wait()`,
`returncode`, `args`), produced by `dbtRunner` instead: the command runs to its end in the
calling thread, with the environment and working directory dagster-dbt gives a subprocess,
and every event dbt would print at its default log level is handed over as the same JSON line
(`msg_to_dict`, secrets scrubbed as dbt's own JSON logger scrubs them). Everything downstream
(events to Dagster assets and checks, errors, artifacts, `dbt.log`) is dagster-dbt's and dbt's
own code, unchanged.

Differences from a subprocess, by design:
- the events arrive when the command has finished, not while it runs;
- a run cancelled while dbt works stops after dbt's current command (no signal to send);
- invocations in one process run one at a time (`_ONE_AT_A_TIME`): dbt keeps its flags,
  adapters and invocation context in globals.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import subprocess
import threading
from collections.abc import Iterator, Mapping, Sequence

_ONE_AT_A_TIME = threading.Lock()

# The log levels dbt prints to stdout by default (its --log-level info)
_PRINTED_LEVELS = frozenset({"info", "warn", "error"})

# dbt's exit codes (dbt/cli/exceptions.py): results with failures, or an exception
_FAILED = 1
_ERROR = 2


@contextlib.contextmanager
def environment(env: Mapping[str, str]) -> Iterator[None]:
    """os.environ as `env` inside the block, as it was after it."""
    saved = dict(os.environ)
    try:
        for name in set(os.environ) - set(env):
            del os.environ[name]
        os.environ.update(env)
        yield
    finally:
        for name in set(os.environ) - set(saved):
            del os.environ[name]
        os.environ.update(saved)


def invoke(
    dbt_args: Sequence[str],
    *,
    env: Mapping[str, str],
    cwd: str | os.PathLike | None = None,
    callbacks: Sequence = (),
    manifest=None,
):
    """`dbt <dbt_args>` in this process, with `env` as the environment and `cwd` as the working
    directory, one invocation at a time, dbt's printing off (its events go to `callbacks`), and
    the DuckDB database dbt opened closed afterwards; `manifest`, a parsed project to start from.
    dbt's own result (`dbtRunnerResult`)."""
    from dbt.cli.main import dbtRunner

    with (
        _ONE_AT_A_TIME,
        environment(_quiet(env)),
        contextlib.chdir(cwd or os.getcwd()),
    ):
        try:
            return dbtRunner(manifest=manifest, callbacks=list(callbacks)).invoke(list(dbt_args))
        finally:
            _close_duckdb()


class DbtProcess:
    """A finished dbt command, read the way dagster-dbt reads a `subprocess.Popen` of dbt."""

    def __init__(
        self,
        args: Sequence[str],
        *,
        env: Mapping[str, str] | None = None,
        cwd: str | os.PathLike | None = None,
        **_popen_options,  # stdout=PIPE, stderr=STDOUT: what is read is the JSON lines
    ) -> None:
        self.args = list(args)
        self.returncode = self._invoke(self.args[1:], env or os.environ, cwd)

    def _invoke(self, dbt_args: list[str], env: Mapping[str, str], cwd) -> int:
        from dbt_common.events.functions import env_scrubber, msg_to_dict
        from dbt_common.utils.encoding import ForgivingJSONEncoder

        lines: list[bytes] = []

        def keep(msg) -> None:
            """The line dbt's JSON logger would print for `msg` (dbt_common's _JsonLogger)."""
            if msg.info.level in _PRINTED_LEVELS:
                line = json.dumps(msg_to_dict(msg), sort_keys=True, cls=ForgivingJSONEncoder)
                lines.append(env_scrubber(line).encode())

        result = invoke(dbt_args, env=env, cwd=cwd, callbacks=[keep])
        if result.exception is not None:
            lines.append(f"dbt failed: {result.exception}".encode())
            code = _ERROR
        else:
            code = 0 if result.success else _FAILED
        self.stdout = io.BytesIO(b"\n".join(lines) + b"\n")
        return code

    def wait(self, timeout: float | None = None) -> int:  # noqa: ARG002 - Popen's signature
        return self.returncode

    def send_signal(self, _signal) -> None:
        """The command has already finished when anyone can signal it."""


def _quiet(env: Mapping[str, str]) -> dict[str, str]:
    """`env` with dbt's printing off (its events are the lines `keep` collects) and its log file
    at the level it would have had: dbt's --log-level sets the file's too unless it is given."""
    return {
        **env,
        "DBT_LOG_LEVEL": "none",
        "DBT_LOG_LEVEL_FILE": env.get("DBT_LOG_LEVEL_FILE") or env.get("DBT_LOG_LEVEL") or "debug",
    }


def _close_duckdb() -> None:
    """Close the database dbt-duckdb opened: it keeps it open after a command (its profile's
    `keep_open`, true by default, saves reopening it for every model), which in this process
    would refuse the pipeline's own connections (DuckDB allows one configuration per file and
    process) and keep other processes out of the file."""
    try:
        from dbt.adapters.duckdb.connections import DuckDBConnectionManager
    except ImportError:  # another adapter: nothing of dbt-duckdb's is open
        return
    opened = getattr(DuckDBConnectionManager, "_ENV", None)
    DuckDBConnectionManager.close_all_connections()
    if opened is not None:
        opened.close()


class _Subprocess:
    """The `subprocess` module as dagster-dbt's invocation module sees it while dbt runs here."""

    PIPE = subprocess.PIPE
    STDOUT = subprocess.STDOUT
    Popen = DbtProcess

    def __getattr__(self, name: str):
        return getattr(subprocess, name)


@contextlib.contextmanager
def in_process() -> Iterator[None]:
    """dagster-dbt's invocations inside the block run dbt in this process (see the module)."""
    from dagster_dbt.core import dbt_cli_invocation

    if getattr(dbt_cli_invocation, "subprocess", None) is not subprocess:
        raise RuntimeError(
            "dagster_dbt.core.dbt_cli_invocation no longer starts dbt with subprocess.Popen: "
            "dbt cannot run in-process with this dagster-dbt; set AI_ROI_DBT_IN_PROCESS=0"
        )
    dbt_cli_invocation.subprocess = _Subprocess()
    try:
        yield
    finally:
        dbt_cli_invocation.subprocess = subprocess
