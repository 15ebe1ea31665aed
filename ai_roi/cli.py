"""`ai-roi run`: materialise the pipeline on the configured sources and print what it did.

ai-roi run                     # every asset and check
ai-roi run --select 'group:raw'
ai-roi report --lang ko        # the ROI report again, from the marts as they are, in Korean
ai-roi summary                 # the summary of what the warehouse holds now
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
import uuid
import warnings
from collections import Counter
from collections.abc import Iterator

import dagster as dg
import duckdb

from ai_roi import settings
from ai_roi.lib import freshness, run_lock
from ai_roi.lib.progress import LOG_NAME, Progress, output_to
from ai_roi.lib.warehouse import has_table, open_warehouse, relation_names


def _warehouse_summary(con) -> dict:
    stages = [
        (stage, source, int(rows))
        for stage, source, rows in con.execute(
            "select 'raw', source, sum(rows) from raw._loads where is_current"
            " group by source order by source"
        ).fetchall()
    ]
    for schema in ("staged", "marts"):
        # tables, not views; not the work tables (`_…`)
        for table in relation_names(con, schema, "BASE TABLE"):
            if table.startswith("_"):
                continue
            n = con.execute(f'select count(*) from {schema}."{table}"').fetchone()[0]
            stages.append((schema, table, n))
    quarantine = con.execute(
        "select source, rule, dimension, count(*) from quarantine.rows"
        " group by source, rule, dimension order by 1, 4 desc"
    ).fetchall()
    deliveries = [
        (source, status, n, int(rows))
        for source, status, n, rows in con.execute(
            "select source, status, count(*), sum(rows) from raw._loads"
            " group by source, status order by 1, 2"
        ).fetchall()
    ]
    refused = con.execute(
        "select source, load_id, reason from raw._loads where status = 'refused' and is_current"
        " order by source, loaded_at"
    ).fetchall()
    return {
        "stages": stages,
        "quarantine": quarantine,
        "deliveries": deliveries,
        "refused": refused,
    }


def _published(name: str) -> dict | None:
    path = settings.output_dir() / "metrics" / name
    return json.loads(path.read_text(encoding="utf-8")) if path.exists() else None


def _print_stale(what: str, figures: dict, current: dict[str, str]) -> None:
    """A STALE block under a figure whose deliveries are no longer the warehouse's."""
    reasons = freshness.stale_reasons(what, figures.get("data_versions"), current)
    if reasons:
        print("    STALE: not the figures of the data now in the warehouse (the last run did not")
        print("    rebuild them):")
        for reason in reasons:
            print(f"      {reason}")


def print_summary(
    check_rows: list[tuple[str, str, str, str]] | None = None, ran_now: int | None = None
) -> None:
    """What the warehouse holds, and `check_rows` (of which `ran_now` ran in this run)."""
    on_server = settings.warehouse_engine() == "postgres"
    path = settings.duckdb_path()
    if not on_server and not path.exists():
        print(f"No warehouse at {path} yet: run `make run` first.")
        return
    opened = contextlib.ExitStack()
    try:
        con = opened.enter_context(open_warehouse())
    except duckdb.IOException as exc:
        message = run_lock.busy_message(str(exc), path)
        if message is None:
            raise
        print(f"No summary now: {message}")
        return
    with opened:
        if not has_table(con, "raw", "_loads"):
            where = (
                "that database" if on_server else f"{path}: nothing was ever loaded into this file"
            )
            print(
                f"No pipeline tables in {where}. `make run` builds the warehouse there; "
                + (
                    "PGDATABASE names another database."
                    if on_server
                    else "AI_ROI_DUCKDB_PATH names another file."
                )
            )
            return
        summary = _warehouse_summary(con)
        current = freshness.current_versions(con)
    print("\nRows per stage")
    for stage, name, rows in summary["stages"]:
        print(f"  {stage:<8} {name:<28} {rows:>10,}")
    print("\nDeliveries (raw._loads) by status")
    for source, status, n, rows in summary["deliveries"]:
        print(f"  {source:<14} {status:<11} {n:>4} deliveries {rows:>12,} rows")
    for source, load_id, reason in summary["refused"]:
        print(f"  REFUSED {source} delivery {load_id[:12]}: {reason}")
    print("\nQuarantined rows by rule")
    if not summary["quarantine"]:
        print("  none")
    for source, rule, dimension, rows in summary["quarantine"]:
        print(f"  {source:<14} {rule:<38} {dimension:<13} {rows:>8,}")
    if check_rows is not None:
        outcome = Counter(status for _, _, status, _ in check_rows)
        print(
            f"\nChecks: {len(check_rows)} run, {outcome['passed']} passed, "
            f"{outcome['warn']} warned, {outcome['failed']} failed (blocking)"
        )
        if ran_now is not None and ran_now < len(check_rows):
            print(
                f"  ({ran_now} ran now; {len(check_rows) - ran_now} on assets the new deliveries"
                " do not reach, as the last run left them)"
            )
        for asset, check, status, detail in check_rows:
            if status != "passed":
                print(f"  {status:<6} {asset:<22} {check:<34} {detail}")
    _print_ai_metrics(current)
    _print_roi(current)
    if on_server:
        from ai_roi.lib.postgres import server_name

        print(f"\nWarehouse: PostgreSQL database {server_name()}")
        print("Look at it: `make dev` (Dagster UI, http://127.0.0.1:3000) or with psql.")
        return
    print(f"\nWarehouse: {path}")
    print(
        "Look at it: `make dev` (Dagster UI, http://127.0.0.1:3000) or open the file with duckdb."
    )


def _print_ai_metrics(current: dict[str, str]) -> None:
    r, f = _published("router.json"), _published("forecast.json")
    if r is None and f is None:
        return
    metrics = settings.output_dir() / "metrics"
    print(f"\nAI use cases ({metrics}; compare runs with `make mlflow`)")
    if r is not None:
        print(
            f"  intent router      accuracy {r['accuracy']:.1%}, macro-F1 {r['macro_f1']:.1%}; "
            f"answers {r['automation_rate']:.1%} of messages automatically at "
            f"{r['auto_precision']:.1%} precision, {r['human_queue_rate']:.1%} go to a person"
        )
        if "open_set.oos_recall" in r:
            print(
                f"                     intents never learnt: {r['open_set.oos_recall']:.1%} go to "
                f"a person; {r['open_set.automation_rate']:.1%} of the rest answered at "
                f"{r['open_set.auto_precision']:.1%} precision "
                f"({r['open_set.unseen_intents']:.0f} intents held out, mean of the seeds)"
            )
        print(f"                     data {freshness.short(r.get('data_versions'))}")
        _print_stale("metrics/router.json", r, current)
    if f is not None:
        print(
            f"  demand forecaster  WAPE {f['wape_model']:.3f} vs naive {f['wape_naive']:.3f} "
            f"({f['wape_improvement_vs_naive_pct']:.1f} % better), seasonal naive "
            f"{f['wape_seasonal_naive']:.3f}, moving average {f['wape_moving_average']:.3f}; "
            f"bias {f['bias_model']:+.1%}"
        )
        print(f"                     data {freshness.short(f.get('data_versions'))}")
        _print_stale("metrics/forecast.json", f, current)


def _print_roi(current: dict[str, str]) -> None:
    r = _published("roi.json")
    if r is None:
        return
    cur = r["currency"]
    payback = f"month {r['payback_month']}" if r["payback_month"] is not None else "not in horizon"
    roi_file = settings.output_dir() / "metrics" / "roi.json"
    print(
        f"\nAI ROI ({roi_file}; marts.mart_roi_*; data {freshness.short(r.get('data_versions'))})"
    )
    _print_stale("metrics/roi.json (and the ROI report and the export)", r, current)
    print(
        f"  first 12 months    net benefit {r['net_benefit_12m']:,.0f} {cur}, "
        f"ROI {r['roi_12m_pct']:,.1f} %; payback {payback}"
    )
    print(
        f"  over the horizon   ROI {r['roi_horizon_pct']:,.1f} % "
        f"(Monte Carlo P10 {r['roi_horizon_pct_p10']:,.1f} %, P50 {r['roi_horizon_pct_p50']:,.1f} %,"
        f" P90 {r['roi_horizon_pct_p90']:,.1f} %)"
    )
    print(
        f"  FinOps             AI API {r['projected_api_spend_monthly']:,.0f} {cur} a month, "
        f"{100 * r['projected_api_spend_monthly'] / r['monthly_api_budget']:.1f} % of the budget"
    )


def _check_rows(result: dg.ExecuteInProcessResult) -> list[tuple[str, str, str, str]]:
    rows = []
    for evaluation in result.get_asset_check_evaluations():
        if evaluation.passed:
            status = "passed"
        elif evaluation.severity == dg.AssetCheckSeverity.ERROR:
            status = "failed"
        else:
            status = "warn"
        counts = evaluation.metadata.get("failures_by_rule")
        keys = evaluation.metadata.get("distinct_keys_by_rule")
        keys = keys.value if keys is not None else {}
        detail = ""
        if counts is not None and counts.value:
            detail = ", ".join(
                f"{rule} {keys[rule]:,} keys ({n:,} rows)" if rule in keys else f"{rule} {n:,}"
                for rule, n in counts.value.items()
            )
        for name in ("summary", "failures"):  # monitors say `summary`, gates `failures`
            value = evaluation.metadata.get(name)
            if not detail and value is not None and value.value not in ("", "none"):
                detail = value.value
        if not detail and evaluation.description:
            detail = evaluation.description
        rows.append((evaluation.asset_key.to_user_string(), evaluation.check_name, status, detail))
    return sorted(rows)


def _print_training(result: dg.ExecuteInProcessResult) -> None:
    """Which models this run trained and which it reused (nothing they depend on changed)."""
    lines = []
    for event in result.get_asset_materialization_events():
        meta = event.materialization.metadata
        if "training_key" not in meta:
            continue
        version = meta["model_version"].value
        name = event.asset_key.to_user_string()
        if meta["reused"].value:
            lines.append(
                f"  {name:<18} reused version {version}: its extract, settings and code are"
                " unchanged (`--full-refresh` trains again)"
            )
        else:
            lines.append(f"  {name:<18} trained version {version}")
    if lines:
        print("\nModels")
        print("\n".join(lines))


def failure_reasons(result: dg.ExecuteInProcessResult) -> list[str]:
    """What each failed step said, without Dagster's wrapper: the reason a user can act on."""
    reasons = []
    for event in result.all_events:
        if event.event_type == dg.DagsterEventType.RESOURCE_INIT_FAILURE:
            # a run that could not start, e.g. another run holds the warehouse
            error = event.event_specific_data.error
            while error is not None and error.cause is not None:
                error = error.cause
            message = error.message.strip() if error else "unknown error"
            reasons.append(
                f"run: {message.removeprefix('dagster._core.definitions.events.Failure: ')}"
            )
            continue
        if not event.is_step_failure:
            continue
        data = event.step_failure_data
        if data.user_failure_data is not None and data.user_failure_data.description:
            reasons.append(f"{event.step_key}: {data.user_failure_data.description}")
            continue
        error = data.error
        while error is not None and error.cause is not None:
            error = error.cause
        message = error.message.strip() if error else "unknown error"
        message = run_lock.busy_message(message, settings.duckdb_path()) or message
        reasons.append(f"{event.step_key}: {message}")
    return reasons


def _execute(
    job,
    instance,
    keys,
    log_level: str,
    full_refresh: bool = False,
    months: dict | None = None,
    progress: Progress | None = None,
    what: str = "the assets",
) -> dg.ExecuteInProcessResult:
    """One run of `keys`; `months`: range tags naming the months of the period marts it builds,
    else every month (a run of the CLI is a full build of what it selected). `progress` prints
    its steps as they start, as `what`."""
    from ai_roi.definitions import defs
    from ai_roi.lib import partitions
    from ai_roi.lib.audit import CLI_TAG, launcher
    from ai_roi.lib.ml_assets import FULL_REFRESH_TAG

    tags = {
        CLI_TAG: launcher(),
        **(months or partitions.run_tags(defs.resolve_asset_graph(), keys)),
    }
    if full_refresh:
        tags[FULL_REFRESH_TAG] = "true"
    run_id = str(uuid.uuid4())  # as Dagster makes them; known before the run, to follow it
    if progress is not None:
        progress.watch(instance, run_id, what)
    return job.execute_in_process(
        instance=instance,
        run_id=run_id,
        asset_selection=keys,
        raise_on_error=False,
        tags=tags,
        run_config={"loggers": {"console": {"config": {"log_level": log_level.upper()}}}},
    )


class Runs:
    """The Dagster runs that built one invocation's assets, read as one result."""

    def __init__(self, results: list[dg.ExecuteInProcessResult]):
        self.results = results

    @property
    def success(self) -> bool:
        return all(r.success for r in self.results)

    @property
    def run_id(self) -> str:
        """The last run's: the one that failed, if one did (a failure stops the runs after)."""
        return self.results[-1].run_id

    @property
    def run_ids(self) -> list[str]:
        return [r.run_id for r in self.results]

    @property
    def all_events(self) -> list:
        return [e for r in self.results for e in r.all_events]

    def get_asset_check_evaluations(self) -> list:
        return [e for r in self.results for e in r.get_asset_check_evaluations()]

    def get_asset_materialization_events(self) -> list:
        return [e for r in self.results for e in r.get_asset_materialization_events()]


def _execute_assets(
    job, instance, keys, log_level: str, full_refresh: bool, progress: Progress | None
) -> Runs:
    """The run of `keys`; two runs when it builds period marts without `--full-refresh`.

    The first builds what is neither a period mart nor downstream of one (raw, staged, checks,
    models); the second the period marts and what they feed, naming the months whose staged rows
    changed (lib/month_builds.py), as a backfill of those months would. Dagster then records
    the months rewritten rather than every month of the history: a new month is 4 partition
    events instead of 4 per month since `partitions.start_month`, each a few ms in the SQLite
    event log. Where the months cannot be named (a first build, a changed dbt project, nothing
    changed), the second run builds every month and the facts decide what they rewrite.
    """
    from ai_roi.definitions import defs

    graph = defs.resolve_asset_graph()
    period = [k for k in keys if graph.get(k).partitions_def is not None]
    if not period or full_refresh:
        return Runs([_execute(job, instance, keys, log_level, full_refresh, progress=progress)])
    after = _downstream_whole_ops(graph, set(period), set(keys))
    first = [k for k in keys if k not in after]
    results = []
    if first:
        what = "what the period marts read (raw, staged, checks, models)"
        results.append(_execute(job, instance, first, log_level, progress=progress, what=what))
        if not results[-1].success:
            return Runs(results)
    months = _changed_months_tags(graph, period)
    what = f"the period marts ({_months_named(months)}) and what they feed"
    then = [k for k in keys if k in after]
    results.append(
        _execute(job, instance, then, log_level, months=months, progress=progress, what=what)
    )
    return Runs(results)


def _downstream_whole_ops(
    graph, roots: set[dg.AssetKey], keys: set[dg.AssetKey]
) -> set[dg.AssetKey]:
    """`roots` and what is downstream of them, with every asset of `keys` that shares an op with
    one of those: a dbt multi-asset split over two runs would start dbt twice."""
    after: set[dg.AssetKey] = set()
    while roots - after:
        after |= dg.AssetSelection.assets(*roots).downstream().resolve(graph)
        roots = after | {k for key in after for k in graph.get(key).assets_def.keys if k in keys}
    return after


def _changed_months_tags(graph, period: list[dg.AssetKey]) -> dict[str, str] | None:
    """Range tags naming the months the period marts must rewrite now; None for every month."""
    from ai_roi.defs.marts.assets import dbt_code, period_marts
    from ai_roi.lib import month_builds, partitions

    marts = period_marts(period)
    if not marts:
        return None
    with open_warehouse() as con:
        span, _ = month_builds.changed_window(con, marts, dbt_code())
    if span is None:
        return None
    return partitions.window_tags(graph.get(period[0]).partitions_def, span)


def _months_named(months: dict[str, str] | None) -> str:
    """The months range tags name, for a person: `month 2011-11`, `months …`, `every month`."""
    from ai_roi.lib import partitions

    if months is None:
        return "every month"
    first, last = months[partitions.RANGE_START_TAG][:7], months[partitions.RANGE_END_TAG][:7]
    return f"month {first}" if first == last else f"months {first} to {last}"


def _report_paths(result: dg.ExecuteInProcessResult) -> list[str]:
    """Where the run's report assets wrote their pages."""
    paths = []
    for event in result.get_asset_materialization_events():
        path = event.materialization.metadata.get("path")
        if path is not None and event.asset_key.path[0] == "reports":
            paths.append(path.value)
    return paths


def selected_keys(graph, selection: str | None) -> list[dg.AssetKey]:
    """The assets a selection string names that a run can build.

    Specs of tables other assets write (quality history, quarantine, loads, audit log) are left
    out: execute_in_process refuses them.
    """
    with warnings.catch_warnings():
        # Dagster's selection parser passes a parameter it marks beta to itself: a warning on
        # every run that says nothing about this one
        warnings.simplefilter("ignore", getattr(dg, "BetaWarning", Warning))
        chosen = dg.AssetSelection.from_string(selection or "*").resolve(graph)
    return [k for k in chosen if graph.get(k).is_executable]


def _audit(instance: dg.DagsterInstance, run_ids: list[str], selection: str | None) -> None:
    """One row in governance.audit_log for this invocation (all its Dagster runs)."""
    from ai_roi.lib import audit
    from ai_roi.lib.warehouse import ensure_schemas

    if not run_ids:
        return
    with open_warehouse(read_only=False) as con:
        ensure_schemas(con)
        record = audit.collect(
            instance,
            run_ids,
            con,
            selection=selection or "*",
            lock=settings.PROJECT_ROOT / "dvc.lock",
        )
        audit.write(con, record)


def run(
    selection: str | None,
    log_level: str = "critical",
    strict: bool = False,
    full_refresh: bool = False,
) -> int:
    try:
        settings.dbt_target()  # a target the pipeline cannot build on is said before anything runs
    except ValueError as exc:
        print(f"Not started: {exc}")
        return 2
    settings.ensure_dagster_home()
    settings.ensure_state_dir()
    try:
        with run_lock.exclusive_run(settings.duckdb_path(), selection):
            if selection is not None:
                return _run_locked(selection, log_level, strict, full_refresh)[0]
            return _run_whole(log_level, strict, full_refresh)
    except run_lock.WarehouseBusy as exc:
        print(f"Not started: {exc}")
        return 1


def _run_whole(log_level: str, strict: bool, full_refresh: bool) -> int:
    """Every asset, unless nothing a whole run reads or writes changed since the last one.

    When only some sources' delivered files changed (a new month landed), the run builds what
    those deliveries reach (lib.selection) and the summary and the record carry the other
    checks' verdicts over from the recorded run: their assets' inputs and code are unchanged.
    """
    from ai_roi.lib import run_stamp

    # the key this run uses, generated now on a first run; a bad one stops the first step that
    # needs it, which says why
    with contextlib.suppress(settings.ConfigurationError):
        settings.pseudonym_key()
    stamp = run_stamp.load()
    keys, carried, described = None, None, None
    if full_refresh:
        read = run_stamp.inputs_or_none()
    else:
        reasons, read, changed = run_stamp.reasons_to_run(stamp, strict)
        if not reasons:
            return _nothing_changed(stamp)
        if stamp is not None:
            print("Running: " + "; ".join(reasons[:5]) + (" …" if len(reasons) > 5 else ""))
        if changed:
            keys, carried = _reached(changed), [tuple(row) for row in stamp["checks"]]
            # the audit log's selection: what the run built
            described = "what new deliveries of " + ", ".join(sorted(changed)) + " reach"
    code, result, page_result = _run_locked(
        described, log_level, strict, full_refresh, keys=keys, carried=carried
    )
    if code != 0 or read is None:
        run_stamp.forget()
        return code
    results = [r for r in (result, page_result) if r is not None]
    evaluations = [e for r in results for e in r.get_asset_check_evaluations()]
    expiries = [e.metadata["valid_until"].value for e in evaluations if "valid_until" in e.metadata]
    if carried is not None and stamp.get("valid_until"):  # a carried verdict's expiry holds too
        expiries.append(stamp["valid_until"])
    with open_warehouse() as con:
        until = run_stamp.valid_until(con, _clock_rules(), expiries)
    checks = _merged_checks(carried, _check_rows(result) if result else [])
    run_stamp.record(
        read,
        _run_ids(result, page_result),
        checks,
        strict_clean=strict_clean(results, checks),
        valid_until=until,
    )
    return code


def _reached(sources: set[str]) -> list[dg.AssetKey]:
    """What a run must build when only these sources' deliveries changed; says so."""
    from ai_roi.definitions import defs
    from ai_roi.lib.selection import reached_by

    graph = defs.resolve_asset_graph()
    keys = reached_by(graph, sources)
    every = selected_keys(graph, None)
    print(
        f"Only {', '.join(sorted(sources))} delivered new data: building the {len(keys)} of "
        f"{len(every)} assets it reaches; the others are as the last run left them."
    )
    return keys


def _merged_checks(carried: list[tuple] | None, ran: list[tuple]) -> list[tuple]:
    """This run's check rows, and the recorded run's for the checks this run did not run."""
    if carried is None:
        return ran
    done = {(asset, check) for asset, check, _, _ in ran}
    return sorted(ran + [row for row in carried if (row[0], row[1]) not in done])


def _clock_rules() -> set[str]:
    """Quarantine rules judged against the clock (a date after the load), of every source."""
    from ai_roi.defs.sources import SOURCES

    return {
        rule.name for source in SOURCES.values() for rule in source.quarantine_rules if rule.clock
    }


def _nothing_changed(stamp: dict) -> int:
    files = sum(len(f) for f in stamp["inputs"]["deliveries"].values())
    print(
        f"Nothing changed since the run that finished at {stamp['finished_at']} UTC "
        f"({', '.join(r[:8] for r in stamp['run_ids'])}): the same {files} delivered files, "
        "source catalogue, params.yaml, code and settings, and every table, model, metric and "
        "report is as that run left it. Nothing was recomputed; `ai-roi run --full-refresh` "
        "(make run FULL_REFRESH=1) recomputes all."
    )
    print_summary([tuple(row) for row in stamp["checks"]])
    for path in sorted(stamp["outputs"]):
        if "/reports/" in path and path.endswith(".html"):
            print(f"Report: {path}")
    print("\nNothing to run.")
    return 0


def _run_locked(
    selection: str | None,
    log_level: str,
    strict: bool,
    full_refresh: bool,
    keys: list[dg.AssetKey] | None = None,
    carried: list[tuple] | None = None,
) -> tuple[int, Runs | None, dg.ExecuteInProcessResult | None]:
    """(exit code, the assets' runs, the reports' run) of `selection`, or of `keys` when given;
    `carried`: check rows of an earlier run for the summary's checks this run does not run."""
    from ai_roi.definitions import defs
    from ai_roi.defs.governance.assets import EXPORT_KEY
    from ai_roi.defs.quality.assets import REPORT_KEY as QUALITY_PAGE
    from ai_roi.defs.roi.assets import REPORT_KEY as ROI_REPORT

    job = defs.resolve_implicit_global_asset_job_def()
    graph = defs.resolve_asset_graph()
    keys = selected_keys(graph, selection) if keys is None else keys
    # the reports (and the export the ROI report reads) hold every check of the run, so they are
    # written after the run's checks
    pages = [k for k in (QUALITY_PAGE, EXPORT_KEY, ROI_REPORT) if k in keys]
    keys = [k for k in keys if k not in pages]
    with dg.DagsterInstance.get() as instance, _shown(log_level) as progress:
        result = (
            _execute_assets(job, instance, keys, log_level, full_refresh, progress)
            if keys
            else None
        )
        if result is not None and not result.success:
            # the quality page reports the failure; the export and the ROI report keep the last
            # good figures, and the quality page's build marks the ROI report stale
            pages = [k for k in pages if k == QUALITY_PAGE]
        page_result = (
            _execute(job, instance, pages, log_level, progress=progress, what="the reports")
            if pages
            else None
        )
        _audit(instance, _run_ids(result, page_result), selection)
    return _conclude(result, page_result, strict, carried), result, page_result


@contextlib.contextmanager
def _shown(log_level: str) -> Iterator[Progress | None]:
    """A progress line per step, the steps' output in the log file (lib/progress.py); with a log
    level asked for, everything on the terminal as it comes (None)."""
    if log_level != "critical":
        yield None
        return
    path = settings.state_dir() / "logs" / LOG_NAME
    print(f"dbt's and the steps' output: {path} (`--verbose` shows it here)", flush=True)
    with output_to(path) as terminal:
        yield Progress(terminal)


def strict_clean(results: list, checks: list[tuple]) -> bool:
    """Whether `--strict` may take a run's record as clean: no check of its Dagster runs failed
    with severity error, and no check it carried over from the last run had (`failed` rows)."""
    return not error_checks(results) and all(status != "failed" for _, _, status, _ in checks)


def error_checks(results: list[dg.ExecuteInProcessResult | None]) -> list[str]:
    """`asset:check` of every check of these runs that failed with severity error."""
    return [
        f"{e.asset_key.to_user_string()}:{e.check_name}"
        for r in results
        if r is not None
        for e in r.get_asset_check_evaluations()
        if not e.passed and e.severity == dg.AssetCheckSeverity.ERROR
    ]


def _run_ids(result: Runs | None, page_result: dg.ExecuteInProcessResult | None) -> list[str]:
    return [*(result.run_ids if result else []), *([page_result.run_id] if page_result else [])]


def _conclude(result, page_result, strict: bool, carried: list[tuple] | None = None) -> int:
    """Print what the run did and why it failed, if it did; its exit code."""
    ran = _check_rows(result) if result else None
    print_summary(ran if carried is None else _merged_checks(carried, ran or []), len(ran or []))
    if result is not None:
        _print_training(result)
    if page_result is not None and page_result.success:
        for path in _report_paths(page_result):
            print(f"Report: {path}")
    if result is not None and not result.success:
        failed = [e.step_key for e in result.all_events if e.is_step_failure]
        for reason in failure_reasons(result):
            print(f"  {reason}")
        failed_checks = error_checks([result])
        print(
            f"\nRun {result.run_id} failed at: {', '.join(failed + failed_checks)}. "
            "Downstream assets were not rebuilt; the last good tables are unchanged."
        )
        return 1
    if page_result is not None and not page_result.success:
        for reason in failure_reasons(page_result):
            print(f"  {reason}")
        print("\nThe reports could not be written; see the Dagster log.")
        return 1
    if strict:
        errors = error_checks([result, page_result])
        if errors:
            print(f"\n--strict: checks failed with severity error: {', '.join(errors)}")
            return 1
    print(f"\nRun {result.run_id if result else page_result.run_id} succeeded.")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="ai-roi", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    run_parser = sub.add_parser("run", help="materialise assets and run their checks")
    run_parser.add_argument("--select", help="Dagster asset selection, e.g. 'group:raw'")
    run_parser.add_argument(
        "--log-level",
        choices=["debug", "info", "warning", "error"],
        help="how much of the run's log to print (the Dagster UI keeps all of it); by default "
        "none: the summary says what happened and why a step failed, once",
    )
    run_parser.add_argument(
        "--verbose",
        action="store_true",
        help="print the run's log with stack traces (same as --log-level info)",
    )
    run_parser.add_argument(
        "--full-refresh",
        action="store_true",
        help="recompute everything: run even when nothing changed since the last run, and train "
        "every model again even when its extract, settings and code are those of a registered "
        "version (which is otherwise reused)",
    )
    run_parser.add_argument(
        "--strict",
        action="store_true",
        help="exit 1 when any check fails with severity error, blocking or not (CI)",
    )
    report_parser = sub.add_parser(
        "report", help="write the ROI report and the quality page from the current marts"
    )
    report_parser.add_argument(
        "--lang", choices=["en", "ko"], help="language (default: params.yaml roi.report_language)"
    )
    sub.add_parser("summary", help="print what the warehouse holds")
    args = parser.parse_args(argv)
    if args.command == "run":
        level = args.log_level or ("info" if args.verbose else "critical")
        return run(args.select, level, args.strict, args.full_refresh)
    if args.command == "report":
        from ai_roi.reports.layout import LANGUAGE_ENV

        if args.lang:
            os.environ[LANGUAGE_ENV] = args.lang
        return run('key:"reports/roi_report" or key:"reports/quality_page"')
    print_summary()
    return 0


if __name__ == "__main__":
    sys.exit(main())
