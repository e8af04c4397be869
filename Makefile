# Two entry points: `make demo` (the main job) and `make test` (the suite). Each sets up what it needs.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.kgfilters-installed
# torch and torchvision: versions that install from this machine's disk; override for another machine.
TORCH_SPEC ?= torch==2.14.1 torchvision==0.29.1
RUN ?= runs/fashion-mnist

.PHONY: demo test lint bench data install clean

install: $(STAMP)

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q $(TORCH_SPEC)
	$(BIN)/python -m pip install -q -e '.[dev]'
	touch $@

data:
	@bash scripts/install-data.sh

demo: $(STAMP) data
	$(BIN)/kgfilters demo --run $(RUN)

test: $(STAMP) data
	$(BIN)/ruff check .
	$(BIN)/python -m pytest -q

lint: $(STAMP)
	$(BIN)/ruff check .

bench: $(STAMP) data
	@for b in benchmarks/bench_*.py; do echo "== $$b" >&2; $(BIN)/python $$b; done

clean:
	rm -rf $(VENV) build *.egg-info
