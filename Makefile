# The two commands a new user runs: `make demo` and `make test` (README.md).
VENV ?= .venv
BIN := $(VENV)/bin
export VTK_DEFAULT_OPENGL_WINDOW := vtkEGLRenderWindow
export VTK_SMP_BACKEND_IN_USE := STDThread

.PHONY: setup demo test lint benchmarks

setup:
	@VENV=$(VENV) scripts/setup.sh

demo: setup
	$(BIN)/igcs demo --out demo_output

lint: setup
	$(BIN)/ruff check navigation registration rendering tests benchmarks
	$(BIN)/ruff format --check navigation registration rendering tests benchmarks
	$(BIN)/mypy
	$(BIN)/lint-imports

test: lint
	QT_QPA_PLATFORM=xcb xvfb-run -a -s "-screen 0 1280x1024x24" $(BIN)/python -m pytest

benchmarks: setup
	$(BIN)/python -m benchmarks
