# Everything a fresh clone needs: `make demo` and `make test` build .venv themselves.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp

.PHONY: demo demo-s3 test fuzz stress bench eval lint clean chromium postgres redis java docs

$(STAMP): pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check -c constraints.txt -e ".[dev]"
	touch $(STAMP)

# The demo's own settings (see pipelines/config.py): generated logs in a local folder.
POLICY_ENV := S3LOGS_POLICIES=examples/policies.yaml S3LOGS_THREAT_LIST=examples/threat_list.csv
DEMO_ENV := S3LOGS_SOURCES=data/demo/logs/logs/ S3LOGS_LAKE=data/lake \
	S3LOGS_WAREHOUSE=data/warehouse.duckdb DAGSTER_HOME=$(CURDIR)/data/dagster_home $(POLICY_ENV)

demo: $(STAMP)
	@$(DEMO_ENV) $(BIN)/s3logs demo prepare
	@mkdir -p data/dagster_home && cp -n dagster.yaml data/dagster_home/ 2>/dev/null || true
	@echo "Materializing every asset for $$($(BIN)/s3logs demo range) in one Dagster run" \
		"(log: data/demo/dagster.log) ..."
	@$(DEMO_ENV) $(BIN)/dagster asset materialize -m assets.definitions --select '*' \
		--partition-range "$$($(BIN)/s3logs demo range)" > data/demo/dagster.log 2>&1 \
		|| (tail -40 data/demo/dagster.log; exit 1)
	@grep -o "Asset check '[a-z_]*' on '[a-z_]*' [a-z ]*" data/demo/dagster.log | sort | uniq -c
	@echo "  (a warning, not a failure: the sample logs include fields beyond the 27 AWS" \
		"documents, as AWS adds them; records keep them in extra_fields)"
	@$(DEMO_ENV) $(BIN)/s3logs demo report

# The report test opens the HTML in a real headless Chromium (Debian's package).
chromium:
	@command -v chromium >/dev/null 2>&1 || command -v chromium-browser >/dev/null 2>&1 \
		|| { [ "$$(id -u)" = 0 ] && (apt-get update -qq && apt-get install -y -qq chromium \
		>/dev/null) || echo "note: install chromium to run the report's browser test"; }

# The deployment test starts a PostgreSQL server of its own (Debian's package).
postgres:
	@command -v initdb >/dev/null 2>&1 || ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 \
		|| { [ "$$(id -u)" = 0 ] && (apt-get update -qq && apt-get install -y -qq postgresql \
		>/dev/null) || echo "note: install postgresql to run the deployment test"; }

# The Celery tests start a Redis server of their own, the executor's broker (Debian's package).
redis:
	@command -v redis-server >/dev/null 2>&1 \
		|| { [ "$$(id -u)" = 0 ] && (apt-get update -qq && apt-get install -y -qq redis-server \
		>/dev/null) || echo "note: install redis-server to run the Celery tests"; }

# The Spark tests (and `s3logs models run --engine spark`) need Java 17 (Debian's package).
java:
	@command -v java >/dev/null 2>&1 \
		|| { [ "$$(id -u)" = 0 ] && (apt-get update -qq && apt-get install -y -qq \
		openjdk-17-jre-headless >/dev/null) || echo "note: install Java 17 to run the Spark tests"; }

# Tests run on every core (pytest-xdist); each worker starts its own local S3 server. The
# tests of one xdist_group (the Spark ones share a session) run on one worker.
test: $(STAMP) chromium postgres redis java
	$(BIN)/pytest -q -n auto --dist loadgroup

# Property tests with fresh random draws (FUZZ_EXAMPLES each, default 20000).
fuzz: $(STAMP)
	HYPOTHESIS_PROFILE=fuzz $(BIN)/pytest -q tests/test_parse_properties.py \
	  tests/test_parse_kernel.py tests/test_xxh3.py

# Concurrent ingestions killed at random, many rounds and seeds, on a local lake and on a
# local S3 server: the lake must end identical to one sequential run (make test runs a few).
STRESS_ROUNDS ?= 20
STRESS_REPEATS ?= 3
stress: $(STAMP)
	$(BIN)/python -m tests.stress --rounds $(STRESS_ROUNDS) --repeats $(STRESS_REPEATS)
	$(BIN)/python -m tests.stress --rounds $(STRESS_ROUNDS) --repeats 1 --lake s3

# The same demo against S3: a local S3 server (moto), the sample logs uploaded to a log
# bucket, the lake written to another bucket. For AWS itself, set the same variables with
# real buckets and credentials instead of the endpoint (see docs/operators/aws.md).
S3_PORT ?= 5055
S3_DEMO_ENV := AWS_ENDPOINT_URL_S3=http://127.0.0.1:$(S3_PORT) AWS_ACCESS_KEY_ID=demo \
	AWS_SECRET_ACCESS_KEY=demo AWS_DEFAULT_REGION=us-east-1 \
	S3LOGS_SOURCES=s3://demo-logs/logs/ S3LOGS_LAKE=s3://demo-lake/s3logs \
	S3LOGS_WAREHOUSE=data/warehouse-s3.duckdb S3LOGS_REPORT=data/report-s3.html \
	DAGSTER_HOME=$(CURDIR)/data/dagster_home $(POLICY_ENV)

demo-s3: $(STAMP)
	@$(DEMO_ENV) $(BIN)/s3logs demo prepare
	@mkdir -p data/dagster_home && cp -n dagster.yaml data/dagster_home/ 2>/dev/null || true
	@$(BIN)/moto_server -H 127.0.0.1 -p $(S3_PORT) > data/demo/s3-server.log 2>&1 & \
		echo $$! > data/demo/s3-server.pid
	@$(S3_DEMO_ENV) $(BIN)/s3logs demo upload --from data/demo/logs/logs/ \
		|| (kill $$(cat data/demo/s3-server.pid); exit 1)
	@echo "Materializing every asset from S3 (log: data/demo/dagster-s3.log) ..."
	@$(S3_DEMO_ENV) $(BIN)/dagster asset materialize -m assets.definitions --select '*' \
		--partition-range "$$($(BIN)/s3logs demo range)" > data/demo/dagster-s3.log 2>&1 \
		|| (tail -40 data/demo/dagster-s3.log; kill $$(cat data/demo/s3-server.pid); exit 1)
	@$(S3_DEMO_ENV) $(BIN)/s3logs demo report; status=$$?; \
		kill $$(cat data/demo/s3-server.pid); exit $$status

# `make bench` runs the default benchmarks; `make bench scale` (or parse, ingest, models,
# backfill) runs the ones named after it, which are then goals that do nothing themselves.
BENCHMARKS := parse ingest models backfill scale
bench: $(STAMP)
	$(BIN)/python -m benchmarks $(filter $(BENCHMARKS),$(MAKECMDGOALS))

ifneq ($(filter bench,$(MAKECMDGOALS)),)
.PHONY: $(BENCHMARKS)
$(BENCHMARKS):
	@:
endif

# Each estate's incidents (the shop's, the research institute's) planted into three weeks
# of its realistic traffic, with and without its policy file: found or missed, rows per
# incident, false findings on a benign week, and a summary against issue 18's targets
# (EVAL_SCALE multiplies the traffic; EVAL_ESTATES="lab" runs one estate; EVAL_SEED=N draws
# other estates than the defaults).
EVAL_SCALE ?= 1.0
EVAL_ESTATES ?=
EVAL_SEED ?=
eval: $(STAMP)
	$(BIN)/python -m benchmarks.eval_detections $(EVAL_SCALE) $(EVAL_ESTATES) \
	  $(if $(EVAL_SEED),--seed $(EVAL_SEED))

# The documentation site: regenerate what comes from the code (the README's model table,
# docs/analysts/reference.md, the schema and detection settings tables), then build the
# site into site/ (git-ignored; open site/index.html). --strict fails on a broken link.
docs: $(STAMP)
	$(BIN)/python -m pipelines.sql.reference --write
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict

lint: $(STAMP)
	$(BIN)/ruff check .

clean:
	rm -rf $(VENV) data .pytest_cache .hypothesis
