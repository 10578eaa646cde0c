# The two commands a fresh machine needs: `make demo` and `make test`.
# Each creates .venv when missing and (re)installs the project when pyproject.toml changed.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# The browser the browser test drives (Debian's chromium; Playwright downloads nothing).
CHROMIUM ?= /usr/bin/chromium
# e.g. make demo DEMO_ARGS="--walkthrough --lang zh"
DEMO_ARGS ?=

.PHONY: demo test lint install clean browser

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(BIN)/yueban demo $(DEMO_ARGS)

test: $(STAMP) browser
	$(BIN)/ruff check .
	$(BIN)/lint-imports --no-cache
	$(BIN)/pytest

# Install Debian's chromium (and fonts for emoji and Chinese in screenshots) when it is
# missing and this is root with apt-get; otherwise say so: the browser test then skips
# (and fails under CI=true, where it must run).
browser:
	@if [ -x "$(CHROMIUM)" ]; then \
		true; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
		echo "installing chromium with apt-get for the browser test"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
			--no-install-recommends chromium fonts-noto-color-emoji fonts-wqy-microhei; \
	else \
		echo "browser: $(CHROMIUM) is missing and cannot be installed here (needs root and apt-get);" \
			"the browser test will be skipped (and fail under CI=true)"; \
	fi

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache .import_linter_cache
