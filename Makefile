# playbach: `make run` streams Bach, `make test` checks everything. Both set themselves up.
VENV ?= .venv
PYTHON ?= python3
BIN := $(VENV)/bin
SUDO := $(shell [ "$$(id -u)" -eq 0 ] || echo sudo)
# command:Debian package, for what the tests and the services need from the system
SYSTEM_COMMANDS := mosquitto:mosquitto mosquitto_sub:mosquitto-clients node:nodejs npm:npm

.PHONY: setup system test run clean

setup: system $(VENV)/.installed tests/micropython/node_modules/.installed

# Installs with apt only what is missing, so a second run is quick and needs no root.
system:
	@missing=""; for pair in $(SYSTEM_COMMANDS); do \
	  command -v $${pair%%:*} >/dev/null 2>&1 || missing="$$missing $${pair#*:}"; done; \
	if [ -n "$$missing" ]; then \
	  if ! command -v apt-get >/dev/null 2>&1; then \
	    echo "please install:$$missing (no apt-get here)"; exit 1; fi; \
	  echo "installing system packages:$$missing"; \
	  $(SUDO) apt-get update -qq && \
	  $(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing; \
	fi

$(VENV)/.installed: pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[train,dev]'
	touch $@

tests/micropython/node_modules/.installed: tests/micropython/package-lock.json
	cd tests/micropython && npm ci --silent --no-audit --no-fund
	touch $@

test: setup
	$(BIN)/pytest

run: setup
	@echo "make run: 'playbach serve' (the live stream) is not built yet; it lands with the server issue." >&2
	@echo "What works today: $(BIN)/playbach corpus --bach --out data/bach" >&2
	@exit 2

clean:
	rm -rf $(VENV) tests/micropython/node_modules .pytest_cache
