VENV ?= .venv
PYTHON ?= python3
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test install clean bench bench-webhooks

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
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

# Webhook delivery on PostgreSQL (a database of its own: createdb -O xtoportal xtoportal_bench); BENCH_ARGS to change.
bench-webhooks: $(STAMP)
	$(BIN)/python bench/webhooks.py $(BENCH_ARGS)

clean:
	rm -rf $(VENV) instance/*.sqlite3
