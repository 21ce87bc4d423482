# Both targets build the project's own virtual environment first, so each works on a fresh clone.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: demo demo-photos test lint bench clean

$(BIN)/faircurate: pyproject.toml
	$(PYTHON) -c 'import sys; sys.exit("faircurate needs Python 3.11 or newer, found " + sys.version.split()[0]) if sys.version_info < (3, 11) else None'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $@

demo: $(BIN)/faircurate
	$(BIN)/faircurate run examples/adult/collection.yaml

# A FHIBE-layout collection of real photos: consent, withdrawal, pay, privacy and media gates.
demo-photos: $(BIN)/faircurate
	rm -rf build/fhibe-demo
	$(BIN)/python examples/fhibe_demo.py build/fhibe-demo
	cd build/fhibe-demo && ../../$(BIN)/faircurate run collection.yaml

test: $(BIN)/faircurate lint
	$(BIN)/pytest

lint: $(BIN)/faircurate
	$(BIN)/ruff check flows tasks tests bench

# Kept out of `make test`: it runs for a long time. BENCH_SIZES=10k,100k picks the sizes.
bench: $(BIN)/faircurate
	PREFECT_SERVER_ANALYTICS_ENABLED=false DO_NOT_TRACK=1 $(BIN)/python -m bench.run

clean:
	rm -rf warehouse releases build .pytest_cache
