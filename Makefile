# The one entry point. Every target sets up .venv first (idempotent, quick once done).
VENV   := .venv
PY     := $(VENV)/bin/python
MPY    := $(VENV)/bin/micropython
STAMP  := $(VENV)/.installed-$(shell cat requirements.txt | cksum | cut -d' ' -f1)
export PATH := $(CURDIR)/$(VENV)/bin:$(PATH)

URL     ?= ws://127.0.0.1:9001
AGENT   ?= esp32-ws
RUNTIME ?= cpython
SCENARIO ?= scenarios/greenhouse.json
DEVICES ?= 1
VENDOR  := host_tools/server/static/vendor/.stamp

.PHONY: sim serial server scenario flash deploy image provision console doctor setup test test-cpython test-micropython mpy lint format bench bench-scale testee clean

setup: $(STAMP) $(VENDOR)

$(STAMP): requirements.txt
	python3 -m venv $(VENV)
	$(VENV)/bin/pip install --disable-pip-version-check -q -r requirements.txt
	rm -f $(VENV)/.installed-*
	touch $@

# The dashboard's chart library (uPlot), pinned and checked by SHA-256, from the npm registry.
$(VENDOR): host_tools/vendor.py | $(STAMP)
	$(PY) -m host_tools.vendor
	touch $@

sim: setup             ## the server, provisioned simulated board(s) and the dashboard (DEVICES=N, RUNTIME=cpython|micropython); Ctrl-C stops all
	exec $(PY) -m host_tools.simrun --devices "$(DEVICES)" --runtime "$(RUNTIME)" $(ARGS)

serial: setup          ## a virtual serial board: a pseudo-terminal and rfc2217:// for mpremote
	$(PY) -m simulator --runtime "$(RUNTIME)" --serial --rfc2217-port 0

server: setup          ## the reference server on http://127.0.0.1:8080, data in build/server (ARGS="--port 9000 ..."); Ctrl-C stops it
	$(PY) -m host_tools.server serve $(ARGS)

scenario: setup        ## run a scenario file against a simulated board (SCENARIO=..., RUNTIME=...)
	$(PY) -m simulator.scenario "$(SCENARIO)" --runtime "$(RUNTIME)"

# Host tools for real boards (docs/tools.md); PORT is a serial device or a rfc2217:// / socket:// URL.
flash: setup           ## detect the chip, optionally erase, write and verify MicroPython with esptool, then deploy (PORT=, FIRMWARE=, BOARD=, CONFIG=, ERASE=1; ARGS=--no-stub: the ROM bootloader only)
	$(PY) -m host_tools.flash --port "$(PORT)" --board "$(BOARD)" --firmware "$(FIRMWARE)" $(if $(CONFIG),--config "$(CONFIG)") $(if $(ERASE),--erase) $(ARGS)

deploy: setup          ## compile firmware/ to .mpy and copy what changed, with config and board.json (PORT=, BOARD=, CONFIG=)
	$(PY) -m host_tools.deploy --port "$(PORT)" --board "$(BOARD)" $(if $(CONFIG),--config "$(CONFIG)") $(ARGS)

image: setup           ## one merged flash image: firmware plus a littlefs filesystem with app and config (BOARD=, FIRMWARE=, CONFIG=; ROMFS=1: the code in a ROMFS partition)
	$(PY) -m host_tools.image --board "$(BOARD)" --firmware "$(FIRMWARE)" --config "$(CONFIG)" $(if $(ROMFS),--romfs) $(ARGS)

provision: setup       ## register the device on the server and write Wi-Fi, server, id and token to its config (PORT=, ARGS=...)
	$(PY) -m host_tools.provision --port "$(PORT)" $(ARGS)

console: setup         ## the serial console: coloured logs, filters, capture, hotkeys, reconnection (PORT= optional)
	$(PY) -m host_tools.console $(if $(PORT),--port "$(PORT)") $(ARGS)

doctor: setup          ## a one-shot report on a board: chip, version, files, config, status (PORT=)
	$(PY) -m host_tools.doctor --port "$(PORT)" $(ARGS)

test: setup            ## everything: pytest, MicroPython runner, mpy-cross, ruff
	@bash scripts/test.sh

test-cpython: setup    ## pytest on CPython only
	$(PY) -m pytest -q tests

test-micropython: setup ## the portable tests on the MicroPython interpreter only
	MICROPYPATH=.frozen:simulator/fakes:firmware:tests $(MPY) tests/mprun.py tests/portable

mpy: setup             ## compile every firmware file with mpy-cross for the ESP32 (xtensawin)
	@bash scripts/mpy.sh xtensawin build/mpy-esp32

lint: setup            ## ruff check and format check
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

format: setup
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

bench: setup           ## the client's and the application's benchmarks, then the server at scale (about 7 min)
	$(PY) -m bench
	$(PY) -m bench.scale

bench-scale: setup     ## the server under a fleet of simulated devices (5000 for 60 s, about 3 min; ARGS="--devices 1000 --period 5 ...")
	$(PY) -m bench.scale $(ARGS)

testee: setup          ## our client as an Autobahn fuzzingserver testee
	$(PY) -m host_tools.testee --url "$(URL)" --agent "$(AGENT)" --runtime "$(RUNTIME)"

clean:
	rm -rf build .pytest_cache .ruff_cache .hypothesis
