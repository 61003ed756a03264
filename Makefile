# The two commands: `make run` (the whole portal, embedded defaults) and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install run test test-deps lint bench screenshots clean

install: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e ".[test]"
	touch $(STAMP)

# Debian packages the tests drive: Chromium for Playwright; shellcheck and caddy check the
# sandbox template's start script and Caddyfile; docker-compose validates compose.yaml;
# wrk is the load generator of the load test.
test-deps:
	@missing=""; \
	test -x /usr/bin/chromium || missing="$$missing chromium"; \
	command -v shellcheck >/dev/null || missing="$$missing shellcheck"; \
	command -v caddy >/dev/null || missing="$$missing caddy"; \
	command -v docker-compose >/dev/null || missing="$$missing docker-compose"; \
	command -v wrk >/dev/null || missing="$$missing wrk"; \
	if [ -n "$$missing" ]; then \
		echo "installing$$missing"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; \
	fi

run: install
	DEBUG=1 $(BIN)/python manage.py migrate --noinput
	DEBUG=1 $(BIN)/python manage.py seed_demo
	DEBUG=1 $(BIN)/python manage.py run_portal

test: install test-deps
	$(BIN)/pytest $(PYTEST_ARGS)

lint: install
	$(BIN)/ruff check .

bench: install
	$(BIN)/python -m bench

# The README's pictures, taken by the browser test that walks every page.
screenshots: install test-deps
	PORTAL_SCREENSHOTS=1 $(BIN)/pytest -q tests/test_browser_pages.py

clean:
	rm -rf $(VENV) staticfiles .pytest_cache .test-db.sqlite3
