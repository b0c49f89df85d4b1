# The two Quick start commands: `make demo` and `make test`. Each creates .venv when needed.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python

.PHONY: demo test test-fast lint install test-packages schemas

$(VENV)/.installed: requirements.txt requirements-dev.txt
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements-dev.txt
	touch $@

install: $(VENV)/.installed

demo: install
	$(PY) -m bucketguard demo

lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy
	$(VENV)/bin/lint-imports

# The published JSON Schemas, generated from their pydantic models (a test checks the committed copies).
schemas: install
	$(PY) -c "from bucketguard.pipeline.messages import write_scan_result_event_schema as w; w()"

# Debian packages some tests read (skipped with a reason when absent), each with a file it installs:
# installed only when missing.
TEST_PACKAGES := clamav-testfiles:/usr/share/clamav-testfiles 7zip:/usr/bin/7zz util-linux:/usr/bin/prlimit \
	arj:/usr/bin/arj xz-utils:/usr/bin/xz lz4:/usr/bin/lz4 unzip:/usr/bin/unzip genisoimage:/usr/bin/genisoimage \
	openssl:/usr/bin/openssl cpio:/bin/cpio \
	libreoffice-writer:/usr/lib/libreoffice/program/swriter libreoffice-calc:/usr/lib/libreoffice/program/scalc \
	libreoffice-impress:/usr/lib/libreoffice/program/simpress python3-uno:/usr/lib/python3/dist-packages/uno.py \
	chromium:/usr/bin/chromium
test-packages:
	@missing=""; for entry in $(TEST_PACKAGES); do test -e "$${entry#*:}" || missing="$$missing $${entry%%:*}"; done; \
	test -z "$$missing" || { command -v apt-get >/dev/null && [ "$$(id -u)" = 0 ] \
		&& { apt-get install -y -q --no-install-recommends $$missing \
		|| { apt-get update -q && apt-get install -y -q --no-install-recommends $$missing; }; } \
		|| echo "not installed (needs root and apt-get):$$missing: the tests that need them are skipped"; }

test: lint test-packages
	$(PY) -m pytest -n 2

# The unit and functional tiers only: no deployments, no fresh interpreters, nothing marked slow.
test-fast: install
	$(PY) -m pytest -n 2 -m "not slow"
