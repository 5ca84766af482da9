# Everything runs from .venv, made on first use from constraints.txt so every machine
# installs the same set of packages.
PYTHON ?= python3
VENV   ?= .venv
BIN     = $(VENV)/bin
STAMP   = $(VENV)/.installed-stamp

.PHONY: run test lint typecheck pytest bench screenshots snapshot-update clean lock

$(STAMP): pyproject.toml constraints.txt
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "gpucm needs Python 3.11 or newer")'
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -c constraints.txt -e '.[test]'
	@touch $(STAMP)

run: $(STAMP)
	$(BIN)/gpucm-tui

test: lint typecheck pytest

lint: $(STAMP)
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench
	$(BIN)/lint-imports

typecheck: $(STAMP)
	$(BIN)/mypy src

# The team store's tests need a PostgreSQL server: .ci/with-postgres starts a throwaway
# one for the run where the server binaries are installed (and stops it), else the
# suite skips those tests and its summary says how many and why.
pytest: $(STAMP)
	env -u NO_COLOR -u TEXTUAL_THEME -u TEXTUAL_COLOR_SYSTEM -u FORCE_COLOR bash .ci/with-postgres $(BIN)/pytest

bench: $(STAMP)
	bash .ci/with-postgres $(BIN)/python -m bench

screenshots: $(STAMP)
	$(BIN)/python -m gpucm.tui.screenshots screenshots
	$(BIN)/python -m tests.web.screenshot screenshots

snapshot-update: $(STAMP)
	env -u NO_COLOR -u TEXTUAL_THEME -u TEXTUAL_COLOR_SYSTEM $(BIN)/pytest tests/tui --snapshot-update

# Re-resolve the pinned set from pyproject's ranges (run deliberately, then review the diff).
lock:
	rm -rf .lockvenv && $(PYTHON) -m venv .lockvenv
	.lockvenv/bin/python -m pip install --quiet --disable-pip-version-check -e '.[test]'
	.lockvenv/bin/python -m pip freeze --exclude-editable | grep -v '^gpucm' > constraints.txt
	rm -rf .lockvenv

clean:
	rm -rf $(VENV) .mypy_cache .pytest_cache .ruff_cache
