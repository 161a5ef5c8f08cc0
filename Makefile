# Developer entry points.  `make run` / `make test` work on a machine with only
# Python 3.11 + pip: PostgreSQL and Redis are embedded (see config/launcher.py).
PYTHON_SYS ?= $(shell command -v python3.11 2>/dev/null || command -v python3 2>/dev/null)
VENV       := .venv
PY         := $(VENV)/bin/python
STAMP      := $(VENV)/.installed
ARGS       ?=

.PHONY: venv run test vendor messages bench bench-pages bench-import bench-pool bench-load

venv: $(STAMP)

# Re-install only when pyproject.toml is newer than the stamp.
$(STAMP): pyproject.toml
	@test -x $(PY) || { test -n "$(PYTHON_SYS)" || { echo "python3.11 / python3 not found" >&2; exit 1; }; \
		echo "creating $(VENV) with $(PYTHON_SYS)"; $(PYTHON_SYS) -m venv $(VENV); }
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	@touch $(STAMP)

run: venv
	$(PY) -m config.launcher run

test: venv
	$(PY) -m config.launcher test $(ARGS)

vendor:
	bash scripts/vendor.sh

messages: venv
	@command -v msgfmt >/dev/null || { echo "gettext is missing (Debian: apt-get install gettext)" >&2; exit 1; }
	$(PY) manage.py makemessages -l zh_Hans --ignore .venv --ignore .data
	$(PY) manage.py compilemessages --ignore .venv --ignore .data

# Benchmarks print their figures (docs/benchmarks.md); pass options with ARGS="--accounts 20000".
bench: venv
	$(PY) bench/list_views.py $(ARGS)

bench-pages: venv
	$(PY) bench/pages.py $(ARGS)

bench-import: venv
	$(PY) bench/import.py $(ARGS)

bench-pool: venv
	$(PY) bench/pool.py $(ARGS)

# 50 users for 5 minutes on gunicorn + Celery at 1,000,000 accounts (locust, loopback only); the
# locust package comes from the "bench" extra. Options: ARGS="--minutes 1 --users 10".
bench-load: venv
	@$(PY) -c "import locust" 2>/dev/null || $(PY) -m pip install --quiet -e '.[bench]'
	$(PY) bench/load.py $(ARGS)
