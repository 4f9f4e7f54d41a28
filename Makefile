# tinynpu: every target first brings .venv up to date with pyproject.toml.
#   make demo   quantized digits models on the simulated NPU (tinynpu demo --help)
#   make test   the test suite (unit tests, then co-simulation on Verilator)
#   make bench  build and simulation speed figures
#   make soak   a seeded random soak of the driver: 10,000 jobs with faults (SEED=1)
#   make models the four microWakeWord models, 100 steps each, against TFLite Micro
#   make docs   C header and register reference under build/docs; docs/reference pages
#   make lint   ruff
#   make mutate mutation run over the driver core with the pure-Python tests
#   make clean  remove build/ (and .venv with `make distclean`)

PYTHON ?= $(shell for p in python3 python3.13 python3.12 python3.11; do \
	command -v $$p >/dev/null && $$p -c 'import sys; sys.exit(sys.version_info < (3, 11))' \
	&& { echo $$p; break; }; done)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
JOBS ?= 2

.PHONY: all demo test bench soak models docs lint mutate clean distclean venv

all: test

$(STAMP): pyproject.toml
	@test -n "$(PYTHON)" || { echo "error: tinynpu needs Python 3.11 or newer (python3 --version)"; exit 1; }
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	@touch $@

venv: $(STAMP)

demo: $(STAMP)
	$(BIN)/tinynpu demo

test: $(STAMP)
	$(BIN)/python -m pytest -n $(JOBS) --dist loadgroup

bench: $(STAMP)
	$(BIN)/tinynpu bench

soak: $(STAMP)
	$(BIN)/python tests/soak/soak.py --jobs 10000 --seed $(or $(SEED),1)

WAKEWORDS := alexa hey_jarvis hey_mycroft okay_nabu
models: $(STAMP)
	@for model in $(WAKEWORDS); do \
		$(BIN)/tinynpu model run $$model --features --steps $(or $(STEPS),100) --compare \
		|| exit 1; \
	done

docs: $(STAMP)
	$(BIN)/tinynpu regs -o build/docs
	$(BIN)/tinynpu docs -o docs/reference

mutate: $(STAMP)
	$(BIN)/python tests/mutation/mutate.py

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

clean:
	rm -rf build .pytest_cache .ruff_cache
	find . -name __pycache__ -type d -prune -not -path './$(VENV)/*' -exec rm -rf {} +

distclean: clean
	rm -rf $(VENV) *.egg-info
