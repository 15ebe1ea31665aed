"""Start the Dagster UI as `make dev` does and confirm it serves every asset and check.

.venv/bin/python scripts/check_ui.py        # prints what the UI reports, exits 1 on a mismatch
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

from scripts.ports import free_port

ROOT = Path(__file__).resolve().parents[1]
STATUS = (
    "{ workspaceOrError { ... on Workspace { locationEntries { name loadStatus"
    " locationOrLoadError { __typename ... on PythonError { message } } } } } }"
)
QUERY = "{ assetNodes { assetKey { path } groupName owners { __typename } assetChecksOrError { ... on AssetChecks { checks { name } } } } }"


def query(port: int, text: str, variables: dict | None = None) -> dict:
    """The `data` of one GraphQL request to the UI on `port`; its errors raised."""
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/graphql",
        data=json.dumps({"query": text, "variables": variables or {}}).encode(),
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        answer = json.load(response)
    if answer.get("errors"):
        raise RuntimeError(f"GraphQL: {answer['errors'][0].get('message')}")
    return answer["data"]


@contextlib.contextmanager
def serving(timeout_s: float = 180) -> Iterator[int]:
    """`dagster dev` (the UI and the daemon) as `make dev` starts it; yields its port once the
    code location has loaded, and stops it afterwards. DAGSTER_HOME: this process's, else a
    temporary one."""
    port = free_port()
    env = dict(os.environ)
    env.setdefault("DAGSTER_HOME", tempfile.mkdtemp(prefix="dagster_home_"))
    config = Path(env["DAGSTER_HOME"], "dagster.yaml")
    if not config.exists():
        config.parent.mkdir(parents=True, exist_ok=True)
        config.write_text("telemetry:\n  enabled: false\n")
    command = [
        str(Path(sys.executable).parent / "dagster"),
        "dev",
        "-m",
        "ai_roi.definitions",
        "-h",
        "127.0.0.1",
        "-p",
        str(port),
    ]
    # dagster dev inherits an ignored SIGINT from a background parent; reset it so it can be stopped
    process = subprocess.Popen(
        command,
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    try:
        deadline = time.monotonic() + timeout_s
        while True:
            try:
                entries = query(port, STATUS)["workspaceOrError"]["locationEntries"]
                if entries and all(e["loadStatus"] == "LOADED" for e in entries):
                    errors = [
                        e["locationOrLoadError"]
                        for e in entries
                        if e["locationOrLoadError"]["__typename"] == "PythonError"
                    ]
                    if errors:
                        raise RuntimeError(
                            f"the code location failed to load: {errors[0]['message']}"
                        )
                    break
            except (OSError, KeyError, TypeError):
                pass
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(
                    f"dagster dev did not load the code location within {timeout_s:.0f} s"
                )
            time.sleep(2)
        yield port
    finally:
        os.killpg(process.pid, signal.SIGINT)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)


def ui_asset_graph(timeout_s: float = 180) -> dict[str, dict]:
    """Asset key -> {group, owners, checks} as served by a fresh `dagster dev`."""
    with serving(timeout_s) as port:
        data = query(port, QUERY)["assetNodes"]
    return {
        "/".join(node["assetKey"]["path"]): {
            "group": node["groupName"],
            "owners": len(node["owners"]),
            "checks": sorted(c["name"] for c in node["assetChecksOrError"].get("checks", [])),
        }
        for node in data
    }


def main() -> int:
    from ai_roi.definitions import defs

    served = ui_asset_graph()
    expected = {s.key.to_user_string() for s in defs.resolve_all_asset_specs()}
    checks = sum(len(v["checks"]) for v in served.values())
    print(
        f"UI serves {len(served)} assets and {checks} checks in groups "
        f"{sorted({v['group'] for v in served.values()})}"
    )
    missing = expected - set(served)
    if missing:
        print(f"missing from the UI: {sorted(missing)}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
