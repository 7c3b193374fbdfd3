# Everything a fresh clone needs: `make demo` and `make test` build .venv themselves.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp

.PHONY: demo test bench lint clean

$(STAMP): pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check -c constraints.txt -e ".[dev]"
	touch $(STAMP)

# The demo's own settings (see pipelines/config.py): generated logs in a local folder.
DEMO_ENV := S3LOGS_SOURCES=data/demo/logs/logs/ S3LOGS_LAKE=data/lake \
	S3LOGS_WAREHOUSE=data/warehouse.duckdb DAGSTER_HOME=$(CURDIR)/data/dagster_home

demo: $(STAMP)
	@$(DEMO_ENV) $(BIN)/s3logs demo prepare
	@mkdir -p data/dagster_home && cp -n dagster.yaml data/dagster_home/ 2>/dev/null || true
	@echo "Materializing every asset for $$($(BIN)/s3logs demo range) in one Dagster run" \
		"(log: data/demo/dagster.log) ..."
	@$(DEMO_ENV) $(BIN)/dagster asset materialize -m assets.definitions --select '*' \
		--partition-range "$$($(BIN)/s3logs demo range)" > data/demo/dagster.log 2>&1 \
		|| (tail -40 data/demo/dagster.log; exit 1)
	@grep -o 'Asset check .* on .access_logs. [a-z ]*' data/demo/dagster.log | sort | uniq -c
	@$(DEMO_ENV) $(BIN)/s3logs demo report

test: $(STAMP)
	$(BIN)/pytest -q

bench: $(STAMP)
	$(BIN)/python -m benchmarks

lint: $(STAMP)
	$(BIN)/ruff check .

clean:
	rm -rf $(VENV) data .pytest_cache .hypothesis
