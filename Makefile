VENV ?= .venv
PYTHON ?= python3
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test install clean bench bench-webhooks fuzz load audit

# requirements.lock pins every package (see `make audit`); pyproject.toml says what the project needs.
$(STAMP): pyproject.toml requirements.lock
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -c requirements.lock -e '.[test]'
	touch $(STAMP)

install: $(STAMP)

# The worker runs beside the web app (renewals, mobile-money answers) and stops with it.
run: $(STAMP)
	$(BIN)/xtoportal init-db
	$(BIN)/xtoportal demo
	$(BIN)/xtoportal worker & worker=$$!; trap 'kill $$worker 2>/dev/null' EXIT INT TERM; \
	$(BIN)/xtoportal serve --host 127.0.0.1 --port 5000

test: $(STAMP)
	$(BIN)/python -m pytest $(PYTEST_ARGS)

# The long fuzzing run: schemathesis, 500+ examples per API operation; Hypothesis, 200 per portal and dashboard form.
fuzz: $(STAMP)
	HYPOTHESIS_PROFILE=fuzz $(BIN)/python -m pytest -m fuzz $(PYTEST_ARGS)

# A bounded load test: gunicorn on PostgreSQL (DATABASE_URL) driven by locust, headless; LOAD_ARGS to change.
load: $(STAMP)
	$(BIN)/python bench/load.py $(LOAD_ARGS)

# Known vulnerabilities in the locked dependency set (exit 2: some packages could not be checked;
# AUDIT_ARGS=--allow-incomplete makes that 0, still printing the count).
audit: $(STAMP)
	$(BIN)/python bench/audit.py $(AUDIT_ARGS)

# Throughput and latency as ratios against bare baselines served by the same gunicorn; BENCH_ARGS to change.
bench: $(STAMP)
	$(BIN)/python -m bench $(BENCH_ARGS)

# Webhook delivery on PostgreSQL (a database of its own: createdb -O xtoportal xtoportal_bench); BENCH_ARGS to change.
bench-webhooks: $(STAMP)
	$(BIN)/python bench/webhooks.py $(BENCH_ARGS)

clean:
	rm -rf $(VENV) instance/*.sqlite3
