# Two commands do all the set-up: `make serve` and `make test` (see README.md).
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
PORT ?= 8100
STAMP := $(VENV)/.installed
REALPHOTOS ?= ../shared/realphotos

.PHONY: serve test venv ensure-model loadtest quality eval-real eval-scenes readme-figure bench bench-gpu default-model clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[torch,dev,openvino]'
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

# The served model on real photographs (../shared/realphotos): scores against the human masks and a contact sheet
# of every photo, in eval-real/ (ARGS="--server http://localhost:8100", "--model birefnet:TAG", "--mask raw"); fp32,
# so that every CPU gives the same numbers.
eval-real: ensure-model
	CUTOUT_PRECISION=$${CUTOUT_PRECISION:-fp32} $(BIN)/cutout eval $(REALPHOTOS) --out eval-real $(ARGS)

# The same on the bundled model's held-out test: 300 generated studio scenes (seed 1, 320 px) with exact masks.
eval-scenes: ensure-model
	test -f eval-scenes/photos/SOURCES.tsv || $(BIN)/cutout train synth eval-scenes/photos --count 300 --size 320 --seed 1 --photos
	CUTOUT_PRECISION=$${CUTOUT_PRECISION:-fp32} $(BIN)/cutout eval eval-scenes/photos --out eval-scenes $(ARGS)

# The README's before/after picture (docs/before-after.jpg) from generated studio scenes, by the promoted model.
readme-figure: ensure-model
	$(BIN)/python -m benchmarks.figure --out docs/before-after.jpg

# Where the time goes on this machine (4000x4000 JPEG): backends, stages, rembg, served throughput. Not a test.
# Needs the optional benchmark dependencies (pip install -e '.[bench]'); ARGS="--runs 5 --skip-rembg" etc.
bench: $(STAMP)
	$(BIN)/pip install --quiet -e '.[torch,dev,bench]'
	$(BIN)/python -m benchmarks.bench $(ARGS)

# Images/s on a GPU (torch backend; lite and general at 1024, batch 1/4/16, fp32/bf16/fp16). Needs only PyTorch:
# on a bare GPU machine `python3 -m benchmarks.gpu` does the same.
bench-gpu: $(STAMP)
	$(BIN)/python -m benchmarks.gpu $(ARGS)

# Continue training the bundled default model (MODEL_CARD.md): generated scenes, the real sources of
# training/data/sources.yaml (ARGS="--mirror NAME=PATH" for each of ccp, grocery, grocery-iconic, magento and
# abo-samples: local copies of their repositories) and the teacher for the photos without masks
# (ARGS+="--teacher isnet.onnx"). Each run is one more session from the bundled weights.
default-model: $(STAMP)
	$(BIN)/cutout train default-model --work default-model-work $(ARGS)

clean:
	rm -rf $(VENV) .pytest_cache
