# The two commands a new user runs: `make demo` and `make test` (README.md).
VENV ?= .venv
BIN := $(VENV)/bin
export VTK_DEFAULT_OPENGL_WINDOW := vtkEGLRenderWindow
export VTK_SMP_BACKEND_IN_USE := STDThread
SOURCES := navigation registration rendering tests benchmarks
PYTEST := QT_QPA_PLATFORM=xcb xvfb-run -a -s "-screen 0 1280x1024x24" $(BIN)/python -m pytest

.PHONY: setup demo test test-fast lint checks lock test-latest benchmarks

setup:
	@VENV=$(VENV) scripts/setup.sh

demo: setup
	$(BIN)/igcs demo --out demo_output

# Lint, types and layering, without set-up (used by test and test-latest).
checks:
	$(BIN)/ruff check $(SOURCES)
	$(BIN)/ruff format --check $(SOURCES)
	$(BIN)/mypy
	$(BIN)/lint-imports

lint: setup checks

test: setup checks
	$(PYTEST)

# The quick loop: everything but the tests marked slow.
test-fast: setup checks
	$(PYTEST) -m "not slow"

# Refresh the lock to the newest releases pyproject.toml allows (all extras, every supported
# Python), with hashes. Run it after `make test-latest` passes, then `make test`, and commit both.
lock: setup
	$(BIN)/uv pip compile pyproject.toml --universal --python-version 3.10 --upgrade \
		--extra gui --extra dask --extra test --generate-hashes --quiet -o requirements/lock.txt

# The canary: a separate environment (.venv-latest) from the newest releases, no lock; the suite.
test-latest:
	@VENV=.venv-latest scripts/setup.sh --latest
	$(MAKE) --no-print-directory checks VENV=.venv-latest
	$(MAKE) --no-print-directory VENV=.venv-latest pytest-only

pytest-only:
	$(PYTEST)

benchmarks: setup
	$(BIN)/python -m benchmarks
