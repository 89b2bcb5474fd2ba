# gridder — the two commands a planner needs: `make run` and `make test`.
PORT ?= 8000
HOST ?= 127.0.0.1
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
DEMO := demo
# Debian packages the browser tests need (headless Chromium, a CJK font for Chinese labels)
APT_PACKAGES := chromium fonts-wqy-zenhei
CODE := $(shell find gridder api -name '*.py' -o -name '*.yaml' -o -name '*.json' 2>/dev/null) pyproject.toml

.PHONY: run test demo serve lint typecheck bench clean system-deps

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

# the runtime install: a plain `pip install .` (editable, so that code changes take effect)
$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e .
	touch $@

$(VENV)/.installed-test: pyproject.toml $(VENV)/.installed
	$(BIN)/pip install --quiet -e '.[test,dev]'
	touch $@

# the demo is re-run only when the code is newer than its outputs
$(DEMO)/.done: $(CODE) | $(VENV)/.installed
	$(BIN)/gridder demo --out $(DEMO)
	touch $@

demo: $(DEMO)/.done

run: $(VENV)/.installed $(DEMO)/.done
	@if ! $(BIN)/python -c "import socket,sys; s=socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1); s.bind(('$(HOST)', $(PORT)))" 2>/dev/null; then \
		echo "make run: port $(PORT) on $(HOST) is busy — stop what uses it or run: make run PORT=8001"; exit 1; fi
	@echo "gridder: serving the demo on http://$(HOST):$(PORT)/  (Ctrl-C stops)"
	$(BIN)/gridder serve --demo $(DEMO) --host $(HOST) --port $(PORT)

# install the Debian packages the tests need, only when missing
system-deps:
	@missing=""; for p in $(APT_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
		echo "installing Debian packages:$$missing"; \
		SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
		$$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq $$missing >/dev/null; \
	fi

test: $(VENV)/.installed-test system-deps
	$(BIN)/python -m pytest -n 2 --dist loadgroup

lint: $(VENV)/.installed-test
	$(BIN)/ruff check gridder api tests bench
	$(BIN)/ruff format --check gridder api tests bench
	$(BIN)/mypy

typecheck: lint

clean:
	rm -rf $(DEMO) .pytest_cache .mypy_cache .ruff_cache test-artifacts
