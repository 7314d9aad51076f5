# Set-up and the two README commands.  `make demo` and `make test` each do all the set-up on a fresh
# machine: the system library open3d needs (libusb), a virtual environment in .venv, and fields3d with
# its dependencies (the CPU build of torch; see ../shared/DEPENDENCIES.md).
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
TORCH  ?= torch==2.13.0

.PHONY: setup demo test test-all lint clean

$(BIN)/fields3d: pyproject.toml
	@if ! ldconfig -p 2>/dev/null | grep -q libusb-1.0; then \
	  echo "installing libusb (needed by open3d)"; \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  ( $$SUDO apt-get install -y -qq libusb-1.0-0 >/dev/null 2>&1 || \
	    ( $$SUDO apt-get update -qq >/dev/null 2>&1 && $$SUDO apt-get install -y -qq libusb-1.0-0 >/dev/null ) ); \
	fi
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q "$(TORCH)"
	$(BIN)/python -m pip install -q -e ".[dev]"
	@echo "compiling fields3d's CPU kernels (once, about a minute; cached in ~/.cache/torch_extensions)"
	@$(BIN)/python -c "from fields3d.ops import extension; extension.load('cpu')" \
	  || echo "warning: the CPU kernels did not build; fields3d falls back to its PyTorch twins"
	@touch $@

setup: $(BIN)/fields3d

demo: setup
	$(BIN)/fields3d demo --out runs/demo

test: setup
	$(BIN)/ruff check -q fields3d tests eval train datasets
	$(BIN)/python -m pytest -q

test-all: setup
	$(BIN)/python -m pytest -q -m ""

lint: setup
	$(BIN)/ruff check fields3d tests eval train datasets

clean:
	rm -rf runs build *.egg-info .pytest_cache
