# Two commands do all the set-up: `make serve` and `make test` (see README.md).
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
PORT ?= 8100
STAMP := $(VENV)/.installed

.PHONY: serve test venv ensure-model loadtest quality clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[torch,dev]'
	touch $(STAMP)

venv: $(STAMP)

ensure-model: $(STAMP)
	$(BIN)/cutout models ensure

# Local development serves without API keys unless CUTOUT_AUTH=on is given (the server says so at start).
serve: ensure-model
	CUTOUT_AUTH=$${CUTOUT_AUTH:-off} $(BIN)/bentoml serve service:CutoutService --port $(PORT)

test: $(STAMP)
	$(BIN)/python -m pytest

# A few minutes of concurrent clients against a fresh server (loopback only): throughput, latency, peak memory.
loadtest: $(STAMP)
	$(BIN)/python -m tests.load --duration $${DURATION:-180} --clients $${CLIENTS:-8}

# Post-processing quality on generated studio scenes with exact truth: a table per step and a contact sheet.
quality: $(STAMP)
	$(BIN)/python -m postprocess.quality --out quality-out

clean:
	rm -rf $(VENV) .pytest_cache
