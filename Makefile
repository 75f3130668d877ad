# Two commands do all the set-up on a fresh machine:
#   make serve   installs into .venv (first time only) and starts the service
#   make test    installs into .venv (first time only) and runs ruff and pytest
#   make test-fast  the quick tier: no synthesizers, nothing slow (under 2 minutes)
VENV ?= .venv
PY := $(VENV)/bin/python
HOST ?= 127.0.0.1
PORT ?= 8000

.PHONY: serve test test-fast install

install: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	python3 -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $@

serve: install
	$(PY) -m server serve --host $(HOST) --port $(PORT)

test: install
	$(VENV)/bin/ruff check .
	$(PY) -m pytest -q

test-fast: install
	$(VENV)/bin/ruff check .
	$(PY) -m pytest -q -m "not synth and not slow"
