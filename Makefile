# Two commands a new user needs: `make run` (whole pipeline on the embedded data) and `make test`.
SHELL := /bin/bash
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
# uv from PATH, else the one pip installs next to this Python
UV := $(shell command -v uv 2>/dev/null || echo "$(PYTHON) -m uv")
export UV_COMPILE_BYTECODE := 1
export UV_LINK_MODE := copy
export DBT_TARGET ?= $(if $(filter postgres,$(AI_ROI_WAREHOUSE)),postgres,dev)
export AI_ROI_STATE_DIR ?= $(CURDIR)/state
export DAGSTER_HOME ?= $(AI_ROI_STATE_DIR)/dagster_home
DBT_FILES := $(shell find dbt/models dbt/macros dbt/tests -type f 2>/dev/null) dbt/dbt_project.yml dbt/profiles.yml
MANIFEST := dbt/target/manifest.json

.PHONY: setup run report test ci dev lint format summary repro mlflow clean bench bench-incremental bench-postgres postgres-server ci-postgres compare-engines

setup: $(VENV)/.installed $(MANIFEST)

$(VENV)/.installed: pyproject.toml uv.lock
	@$(UV) --version >/dev/null 2>&1 || $(PYTHON) -m pip install --quiet --disable-pip-version-check uv
	$(UV) sync --frozen --quiet --python "$(PYTHON)"
	@touch $@

# Dagster reads dbt's manifest when it loads the definitions.
$(MANIFEST): $(VENV)/.installed $(DBT_FILES)
	cd dbt && ../$(BIN)/dbt parse --quiet --profiles-dir . --target $(DBT_TARGET)
	@touch $@

# `make run FULL_REFRESH=1` trains the models again even when nothing they depend on changed
run: setup  ## materialise every asset and check on the embedded data, then print a summary
	$(BIN)/ai-roi run $(if $(FULL_REFRESH),--full-refresh,)

# `make report LANG=ko` writes the Korean pages; without it, params.yaml roi.report_language
report: setup  ## the ROI report and the quality page again from the current marts
	$(BIN)/ai-roi report $(if $(filter ko%,$(LANG)),--lang ko,)

summary: setup  ## print what the warehouse holds now
	$(BIN)/ai-roi summary

# Test files run in parallel, one file per worker at a time (a file's fixtures build one warehouse
# and share it), in the order the suite sorts them (the files marked `long` first, so no worker
# is left with one at the end; xdist would otherwise order them by their number of tests);
# `make test TEST_WORKERS=1` runs them one after another. Three workers on this 2-core machine took
# 19 min 8 s against two's 16 min 7 s (8465e3d): they contend for the cores.
TEST_WORKERS ?= 2
test: setup postgres-server  ## the whole test suite
	$(BIN)/pytest -n $(TEST_WORKERS) --dist loadfile --no-loadscope-reorder

# The tests of the server warehouse (tests/integration/test_postgres.py) start a throw-away
# PostgreSQL on 127.0.0.1 (scripts/local_postgres.py) from the machine's server binaries:
# Debian's `postgresql` package, installed here when missing.
postgres-server:
	@compgen -G "/usr/lib/postgresql/*/bin/pg_ctl" >/dev/null || command -v pg_ctl >/dev/null || { \
		SUDO=$$([ "$$(id -u)" = 0 ] || echo sudo); \
		$$SUDO apt-get update -qq && \
		$$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql; }

# The pipeline on PostgreSQL (README, "Beyond one machine"), each on a throw-away server: the whole
# chain (`ai-roi run` with AI_ROI_WAREHOUSE=postgres, Dagster's storage and MLflow there too) with
# every mart compared with the DuckDB build of the same deliveries; the dbt project, the raw load,
# the checks, the staging and the raw and staged groups in Dagster compared with DuckDB's; the
# privacy functions and the parsing macros on both engines; the marts published for BI tools.
# Part of `make test` (which .ci/run runs) too; this runs those alone.
ci-postgres: setup postgres-server  ## the whole chain on PostgreSQL (warehouse, Dagster, MLflow), every mart compared with DuckDB's
	$(BIN)/pytest -p no:cacheprovider tests/integration/test_postgres.py tests/integration/test_raw_on_postgres.py tests/integration/test_checks_on_postgres.py tests/integration/test_groups_on_postgres.py tests/integration/test_privacy_on_postgres.py tests/integration/test_parsing_on_postgres.py tests/integration/test_marts_server.py tests/integration/test_deployment.py

# Every dbt model built again from a pipeline's warehouse on DuckDB and on a throw-away PostgreSQL
# from the same sources, compared row by row (after `make run`; WAREHOUSE=... for another one)
WAREHOUSE ?= $(AI_ROI_STATE_DIR)/warehouse.duckdb
compare-engines: setup postgres-server  ## the dbt models of a built warehouse on DuckDB and on PostgreSQL, compared row by row
	$(BIN)/python -m scripts.compare_engines $(WAREHOUSE)

# What CI runs on every pull request (.github/workflows/ci.yml, and .ci/run here): lint; the whole
# pipeline with every asset check on the embedded real data, with the product's own
# config/sources.yaml and params.yaml (so the promotion gates hold at the real bars), failing on
# any check that fails with severity error; the metrics that run wrote, compared byte for byte
# with the committed metrics/ (what `dvc repro` wrote); then `dbt build` on the ci target
# (models, data tests, unit tests) against the warehouse that run built. Its state stays in
# state/ci.
CI_STATE := $(CURDIR)/state/ci
CI_ENV := AI_ROI_STATE_DIR=$(CI_STATE) AI_ROI_OUTPUT_DIR=$(CI_STATE)/outputs \
	AI_ROI_DUCKDB_PATH=$(CI_STATE)/ci.duckdb DAGSTER_HOME=$(CI_STATE)/dagster_home \
	MLFLOW_TRACKING_URI=sqlite:///$(CI_STATE)/mlflow/mlflow.db \
	AI_ROI_MLFLOW_ARTIFACTS=$(CI_STATE)/mlflow/artifacts DBT_TARGET=ci
ci: setup  ## lint, pipeline + every asset check on the embedded data at the real bars, dbt build
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/python -m scripts.dvc_deps --check
	rm -rf $(CI_STATE)
	env $(CI_ENV) $(BIN)/ai-roi run --strict
	$(BIN)/python -m scripts.metrics_match $(CI_STATE)/outputs
	cd dbt && env $(CI_ENV) ../$(BIN)/dbt build --target ci --profiles-dir . --target-path $(CI_STATE)/dbt_target --quiet

dev: setup  ## the Dagster UI on http://127.0.0.1:3000
	$(BIN)/python -c 'from ai_roi import settings; settings.ensure_dagster_home()'
	$(BIN)/dagster dev -m ai_roi.definitions -h 127.0.0.1 -p 3000

bench: setup  ## each stage's time and peak memory at 1x, 10x and 50x the real order lines beside bare DuckDB; metrics/bench.json (QUICK=1: 1x only)
	$(BIN)/python -m scripts.bench $(if $(filter-out 0,$(QUICK)),--quick)

bench-postgres: setup postgres-server  ## the whole data side (raw, staged, dbt marts) on DuckDB and on a throw-away PostgreSQL from the same sources, 1x and 10x, marts compared; metrics/bench_postgres.json (QUICK=1: 1x only)
	$(BIN)/python -m scripts.bench_postgres $(if $(filter-out 0,$(QUICK)),--quick)

bench-incremental: setup  ## time a full run, a no-change run and one new month on monthly files cut from the real data
	$(BIN)/python -m scripts.bench_incremental

repro: setup  ## rebuild what changed (data, code or params.yaml) with DVC; then `dvc metrics diff`
	$(BIN)/dvc repro
	$(BIN)/dvc metrics show

mlflow: setup  ## the MLflow UI on http://127.0.0.1:5000 to compare runs and model versions
	$(BIN)/mlflow ui --backend-store-uri "$${MLFLOW_TRACKING_URI:-sqlite:///$(AI_ROI_STATE_DIR)/mlflow/mlflow.db}" \
		--default-artifact-root "$(AI_ROI_STATE_DIR)/mlflow/artifacts" -h 127.0.0.1 -p 5000 --workers 1

lint: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/python -m scripts.dvc_deps --check

format: setup
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

clean:  ## remove generated state (warehouse, Dagster history, dbt target); keeps the venv
	rm -rf state dbt/target dbt/logs
