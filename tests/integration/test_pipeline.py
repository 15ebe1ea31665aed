"""End to end on fixtures cut from the real data: raw -> staged -> quarantine -> dbt marts."""

from __future__ import annotations

import pytest

from tests.conftest import (
    check_evaluations,
    dbt_here,
    dbt_manifest,
    materialization_metadata,
    run_dbt,
)
from tests.fingerprints import table_fingerprint

STAGED_SOURCES = ("order_lines", "ticket_events", "messages")
MARTS = (
    "fct_order_lines",
    "dim_products",
    "dim_customers",
    "fct_support_tickets",
    "mart_support_kpis_weekly",
    "mart_demand_weekly",
)


def test_every_asset_is_materialised_and_no_check_blocks(built):
    _, result = built
    keys = {e.asset_key.to_user_string() for e in result.get_asset_materialization_events()}
    assert {f"marts/{m}" for m in MARTS} <= keys
    failed = [
        name
        for name, e in check_evaluations(result).items()
        if not e.passed and e.severity.value == "ERROR"
    ]
    assert failed == []


def test_the_staged_schema_holds_the_published_tables_only(built):
    """Each source's batch is built beside its staged table and renamed into its place: after a
    run the schema holds the staged tables and no batch (lib/staging.candidate_table)."""
    warehouse, _ = built
    tables = {
        t
        for (t,) in warehouse.query(
            "select table_name from duckdb_tables() where schema_name = 'staged'"
        )
    }
    assert tables == {"order_lines", "ticket_events", "messages", "tickets"}


@pytest.mark.parametrize("source", STAGED_SOURCES)
def test_rows_in_equals_clean_plus_quarantined(built, source):
    warehouse, result = built
    meta = materialization_metadata(result, f"staged/{source}")
    assert meta["rows_in"] == meta["rows_clean"] + meta["rows_quarantined"]
    raw_rows = warehouse.scalar(f"select count(*) from raw.{source}__current")
    assert meta["rows_in"] == raw_rows
    assert meta["rows_clean"] == warehouse.scalar(f"select count(*) from staged.{source}")
    held = dict(
        warehouse.query(
            "select rule, count(*) from quarantine.rows where source = $s group by 1", {"s": source}
        )
    )
    assert held == meta["quarantined_by_rule"]


@pytest.mark.parametrize("source", STAGED_SOURCES)
def test_no_row_is_silently_dropped(built, source):
    warehouse, _ = built
    lost = warehouse.scalar(
        f"""
        select count(*) from raw.{source}__current as r
        where not exists (select 1 from staged.{source} as s where s._row_number = r._row_number
                          and s._partition is not distinct from r._partition)
          and not exists (select 1 from quarantine.rows as q where q.source = '{source}'
                          and q.source_row = r._row_number and q.partition is not distinct from r._partition)
        """
    )
    assert lost == 0


def test_quarantine_rows_carry_rule_reason_and_delivered_values(built):
    warehouse, _ = built
    rows = warehouse.query(
        "select rule, dimension, reason, record ->> 'quantity' from quarantine.rows"
        " where source = 'order_lines' and rule = 'negative_quantity_not_cancellation'"
    )
    assert rows, "the fixture holds stock write-offs; they must be quarantined"
    for _rule, dimension, reason, quantity in rows:
        assert dimension == "accuracy"
        assert "'Quantity'" in reason  # names the column as the user's file calls it
        assert int(quantity) < 0


def test_bad_row_policy(built):
    warehouse, _ = built
    # guests stay in the order facts and demand, but never become customers
    guests = warehouse.scalar("select count(*) from marts.fct_order_lines where is_guest")
    assert guests > 0
    assert (
        warehouse.scalar("select count(*) from marts.dim_customers where customer_key is null") == 0
    )
    # cancellations become returns with negative quantity
    assert (
        warehouse.scalar(
            "select count(*) from marts.fct_order_lines where line_type = 'return' and quantity >= 0"
        )
        == 0
    )
    assert (
        warehouse.scalar("select count(*) from marts.fct_order_lines where line_type = 'return'")
        > 0
    )
    # postage, fees and manual lines are kept as order lines but not counted as product demand
    non_products = warehouse.query(
        "select distinct stock_code from marts.fct_order_lines where not is_product"
    )
    assert non_products
    in_demand = warehouse.scalar(
        "select count(*) from marts.mart_demand_weekly where stock_code in"
        " (select stock_code from marts.fct_order_lines where not is_product)"
    )
    assert in_demand == 0


def test_demand_is_net_of_returns(built):
    warehouse, _ = built
    lines, weekly = warehouse.query(
        """
        select
            (select sum(quantity) from marts.fct_order_lines where is_product),
            (select sum(net_units) from marts.mart_demand_weekly)
        """
    )[0]
    assert weekly == lines


def test_no_raw_identifier_reaches_a_mart(built):
    warehouse, _ = built
    customers = {
        r[0]
        for r in warehouse.query(
            "select distinct customer_id from raw.order_lines where customer_id is not null"
        )
    }
    callers = {
        r[0]
        for r in warehouse.query(
            "select distinct caller_id from raw.ticket_events where caller_id <> '?'"
        )
    }
    assert customers and callers
    columns = warehouse.query(
        "select table_name, column_name from duckdb_columns() where schema_name = 'marts' and data_type = 'VARCHAR'"
    )
    for table, column in columns:
        values = {r[0] for r in warehouse.query(f'select distinct "{column}" from marts.{table}')}
        assert not values & callers, f"marts.{table}.{column} holds raw caller ids"
        # customer ids are 5-digit numbers like stock codes, so a few coincide by chance;
        # a leaked customer column would hold most of them
        assert len(values & customers) < 0.05 * len(customers), (
            f"marts.{table}.{column} holds customer ids"
        )


@pytest.mark.starts_built
def test_rerunning_the_same_input_changes_nothing(warehouse, pipeline):
    with warehouse.connect() as con:
        before = {m: table_fingerprint(con, f"marts.{m}") for m in MARTS}
        loads_before = con.execute("select count(*) from raw._loads").fetchone()[0]
    again = pipeline()
    assert again.success
    with warehouse.connect() as con:
        after = {m: table_fingerprint(con, f"marts.{m}") for m in MARTS}
        loads_after = con.execute("select count(*) from raw._loads").fetchone()[0]
        raw_rows = con.execute("select count(*) from raw.order_lines").fetchone()[0]
    assert after == before
    assert loads_after == loads_before  # the same files were not loaded a second time
    assert materialization_metadata(again, "raw/order_lines")["reused_previous_load"] is True
    assert raw_rows == materialization_metadata(again, "staged/order_lines")["rows_in"]


def test_dbt_tests_ran_as_asset_checks_and_passed(built):
    _, result = built
    dbt_checks = {
        name: e
        for name, e in check_evaluations(result).items()
        if name.startswith(("unique_", "not_null_", "relationships_"))
    }
    assert len(dbt_checks) >= 10
    assert all(e.passed for e in dbt_checks.values())


def test_quarantine_keeps_no_raw_identifier(built):
    warehouse, _ = built
    # a quarantined order line with a customer: the record holds the pseudonym, raw keeps the id
    rows = warehouse.query(
        "select q.record ->> 'customer_id', r.customer_id from quarantine.rows as q"
        " inner join raw.order_lines as r on r._load_id = q.load_id and r._row_number = q.source_row"
        " where q.source = 'order_lines' and r.customer_id is not null"
    )
    assert rows
    keys = {k for (k,) in warehouse.query("select distinct customer_key from staged.order_lines")}
    for held, raw in rows:
        assert held != raw and held.startswith("p") and len(held) == 17
    # the same pseudonym as in staging, so a quarantined row joins its customer's clean lines
    assert any(held in keys for held, _ in rows)
    callers = warehouse.query(
        "select q.record ->> 'caller_id', r.caller_id from quarantine.rows as q"
        " inner join raw.ticket_events as r on r._load_id = q.load_id and r._row_number = q.source_row"
        " where q.source = 'ticket_events'"
    )
    assert callers and all(held != raw for held, raw in callers)


@pytest.mark.starts_built
def test_a_repeated_grain_fails_the_marts_uniqueness_tests(warehouse, tmp_path):
    """The marts whose grain is several columns have a dbt test of it: a repeated product-week or
    run-asset-dimension fails it, and a mart left alone still passes its own."""
    import duckdb

    with duckdb.connect(str(warehouse.db_path)) as con:
        for mart in ("mart_demand_weekly", "mart_data_quality"):
            # the quality mart is a view grouped by its grain: a table with a row twice stands in
            # for a change to it that fans rows out
            con.execute(
                f"create temp table doubled as (select * from marts.{mart})"
                f" union all (select * from marts.{mart} limit 1)"
            )
            kind = con.execute(
                "select table_type from information_schema.tables"
                " where table_schema = 'marts' and table_name = ?",
                [mart],
            ).fetchall()[0][0]
            con.execute(f"drop {'view' if kind == 'VIEW' else 'table'} marts.{mart}")
            con.execute(f"create table marts.{mart} as select * from doubled")
            con.execute("drop table doubled")
    grain_tests = "test_name:unique_combination"
    code, results = run_dbt(["test", "--select", grain_tests], warehouse.db_path, tmp_path)
    assert code != 0
    verdicts = {
        name.split("_", 2)[2]: (r["status"], r["failures"])
        for name, r in results.items()
        if name.startswith("unique_combination_")
    }
    assert verdicts == {
        "mart_demand_weekly_stock_code__week_start": ("fail", 1),
        "mart_data_quality_run_id__asset_key__dimension": ("fail", 1),
        "mart_roi_cashflow_monthly_month__axis": ("pass", 0),
    }


def _mart_columns(warehouse, mart: str) -> list[tuple[str, str]]:
    """(column, type) of a mart as DuckDB holds it, in order."""
    return warehouse.query(
        "select column_name, data_type from information_schema.columns"
        " where table_schema = 'marts' and table_name = ? order by ordinal_position",
        [mart],
    )


def _schema_evaluations(result) -> dict[str, object]:
    return {
        e.asset_key.to_user_string(): e
        for e in result.get_asset_check_evaluations()
        if e.check_name == "column_schema_change"
    }


def test_each_mart_build_carries_its_column_schema(built):
    """dbt logs each mart's columns as it builds it; the materialisation carries them as the
    schema the UI shows, the same columns and types the warehouse holds, and the first build's
    schema check passes with nothing to compare."""
    warehouse, result = built
    materialized = {
        e.asset_key.to_user_string(): e.materialization.metadata
        for e in result.get_asset_materialization_events()
        if e.asset_key.path[0] == "marts"
    }
    evaluations = _schema_evaluations(result)
    assert len(materialized) >= 15
    assert set(evaluations) == set(materialized)
    for key, metadata in materialized.items():
        schema = metadata["dagster/column_schema"].value
        held = _mart_columns(warehouse, key.split("/")[1])
        assert [(c.name, c.type) for c in schema.columns] == held, key
        assert evaluations[key].passed, key


@pytest.mark.starts_built
def test_a_mart_whose_columns_changed_since_its_last_build_warns(warehouse, pipeline):
    """The schema check compares a mart's build with the one before: a column the last build had
    and this one lacks, and one whose type changed, are named; the verdict is a warning."""
    import dagster as dg

    from tests.conftest import dagster_instance

    key = dg.AssetKey(["marts", "mart_demand_weekly"])
    columns = _mart_columns(warehouse, "mart_demand_weekly")
    (first, first_type), (second, _) = columns[0], columns[1]
    earlier = [dg.TableColumn(first, "VARCHAR" if first_type != "VARCHAR" else "BIGINT")]
    earlier += [dg.TableColumn(c, t) for c, t in columns[2:]] + [dg.TableColumn("units", "BIGINT")]
    dagster_instance().report_runless_asset_event(
        dg.AssetMaterialization(
            key, metadata={"dagster/column_schema": dg.TableSchema(columns=earlier)}
        )
    )
    result = pipeline("marts/mart_demand_weekly")
    assert result.success
    evaluation = _schema_evaluations(result)["marts/mart_demand_weekly"]
    assert not evaluation.passed
    assert evaluation.severity == dg.AssetCheckSeverity.WARN
    changes = {(row["change"], row["column"]) for row in _details(evaluation)}
    assert changes == {("retyped", first), ("new", second), ("missing", "units")}
    recorded = warehouse.query(
        "select passed from quality.check_results where check_name = 'column_schema_change'"
        " and asset_key = 'marts/mart_demand_weekly' order by evaluated_at desc limit 1"
    )
    assert recorded == [(False,)]


def _details(evaluation) -> list[dict]:
    """The rows of a monitor's details table (markdown) in its check metadata."""
    lines = evaluation.metadata["details"].value.strip().splitlines()
    header = [h.strip() for h in lines[0].strip("|").split("|")]
    return [
        dict(zip(header, (c.strip() for c in line.strip("|").split("|")), strict=True))
        for line in lines[2:]
    ]


def _parallel_models() -> dict[str, dict]:
    """The models that run on every core (`meta: {parallel: true}`, dbt/macros/threads.sql), by
    unique id, from the dbt project's manifest."""
    return {
        uid: node
        for uid, node in dbt_manifest()["nodes"].items()
        if node["resource_type"] == "model" and node["config"]["meta"].get("parallel")
    }


def test_parallel_models_run_on_every_core_and_every_other_model_on_the_profiles_thread(built):
    """dbt's DuckDB runs on the profile's one thread (sums of doubles add in one order); a model
    that adds no doubles and writes its rows in one order (`meta: {parallel: true}`) runs on every
    core. Each model sets its own threads before it runs (dbt/macros/threads.sql), so the
    statements dbt sent, read from the logs of the pipeline's dbt invocations, say which each
    model ran on."""
    import json

    import yaml

    from ai_roi import settings

    warehouse, _ = built
    ran_on = {}  # model -> the threads statements dbt sent for it, in order
    for log in sorted((warehouse.root / "dbt_target").glob("*/dbt.log")):
        for line in log.read_text(encoding="utf-8").splitlines():
            event = json.loads(line)
            node = event["data"].get("node_info", {}).get("unique_id", "")
            sql = event["data"].get("sql", "") if event["info"]["name"] == "SQLQuery" else ""
            if node.startswith("model.") and "threads" in sql:
                ran_on.setdefault(node, []).append(sql.split("*/")[-1].strip())
    models = {
        uid
        for uid, node in dbt_manifest()["nodes"].items()
        if node["resource_type"] == "model" and node["config"]["materialized"] != "ephemeral"
    }
    profile = yaml.safe_load((settings.DBT_PROJECT_DIR / "profiles.yml").read_text())
    one_thread = f"set threads = {profile['ai_roi']['outputs']['dev']['settings']['threads']}"
    parallel = set(_parallel_models())
    assert {"model.ai_roi.fct_order_lines", "model.ai_roi.fct_support_tickets"} <= parallel
    assert set(ran_on) == models  # every model the pipeline built set its threads
    for uid, statements in ran_on.items():
        assert set(statements) == {"reset threads" if uid in parallel else one_thread}, uid


@pytest.mark.starts_built
def test_a_model_on_every_core_writes_the_table_it_writes_on_one_thread(warehouse, tmp_path):
    """The models that run on every core (`meta: {parallel: true}`, dbt/macros/threads.sql) give
    the same rows in the same order as on the profile's one thread, on enough order lines for
    DuckDB to split every scan and aggregate between threads (the fixture's lines 400 times,
    each copy new lines some days later). Every such model is built, whatever its tags."""
    import json
    import os

    import duckdb

    with duckdb.connect(str(warehouse.db_path)) as con:
        con.execute(
            "insert into staged.order_lines select * exclude (copy) replace ("
            " _delivery_row + copy * 1000000 as _delivery_row,"
            " invoiced_at + to_days(copy::integer) as invoiced_at)"
            " from staged.order_lines, range(1, 400) as copies(copy)"
        )
        lines = con.execute("select count(*) from staged.order_lines").fetchone()[0]
    assert lines > 2 * 122_880  # more than two of DuckDB's row groups: scans run in parallel
    parallel = sorted(node["name"] for node in _parallel_models().values())
    assert {"fct_order_lines", "dim_products", "mart_demand_weekly"} <= set(parallel)
    built = {}
    for on_every_core in (True, False):
        done = dbt_here(
            ["run", "--select", "config.meta.parallel:true", "--full-refresh"]
            + ["--vars", json.dumps({"parallel_models": on_every_core})],
            {**os.environ, "AI_ROI_DUCKDB_PATH": str(warehouse.db_path)},
            tmp_path / str(on_every_core),
        )
        assert done.returncode == 0, done.stdout.read().decode()[-3000:]
        with duckdb.connect(str(warehouse.db_path), read_only=True) as con:
            # every row with its place in the table
            built[on_every_core] = {
                model: con.execute(
                    f"select count(*), sum(hash(rowid, t)::hugeint) from marts.{model} as t"
                ).fetchall()
                for model in parallel
            }
    for model in parallel:
        assert built[True][model] == built[False][model], model
