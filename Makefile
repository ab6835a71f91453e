# The two commands of the README: `make run` and `make test`. Both set up .venv on first use.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: run test test-llm lint format lock bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip

$(VENV)/.installed-run: pyproject.toml | $(BIN)/python
	$(BIN)/pip install -q -e .
	touch $@

$(VENV)/.installed-dev: pyproject.toml | $(BIN)/python
	$(BIN)/pip install -q -e '.[dev]'
	touch $@ $(VENV)/.installed-run

run: $(VENV)/.installed-run
	$(BIN)/quipbot run

test: $(VENV)/.installed-dev
	$(BIN)/python -m pytest -n auto tests-local

# A real small LLM end to end (not part of `test`): the first run builds llama.cpp, 10-15 min.
test-llm: $(VENV)/.installed-dev
	bash tests-llm/setup.sh
	$(BIN)/python -m pytest -s -p no:cacheprovider tests-llm

lint: $(VENV)/.installed-dev
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/lint-imports

format: $(VENV)/.installed-dev
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

# requirements.lock: every dependency pinned, with hashes, for the Docker image. Run it after
# changing the dependencies in pyproject.toml.
lock: $(VENV)/.installed-dev
	$(BIN)/pip install -q uv
	$(BIN)/uv pip compile pyproject.toml --universal --python-version 3.11 --generate-hashes \
		--quiet --custom-compile-command "make lock" -o requirements.lock

bench: $(VENV)/.installed-dev
	$(BIN)/python bench/router_bench.py
	$(BIN)/python bench/intelligence_bench.py
	$(BIN)/python bench/joke_replay.py
	$(BIN)/python bench/ask_replay.py
	$(BIN)/python bench/discord_bench.py
	$(BIN)/python bench/twitch_bench.py
	$(BIN)/python bench/http_bench.py
	$(BIN)/python bench/dashboard_bench.py
	$(BIN)/python bench/edges_bench.py
	$(BIN)/python bench/retention_bench.py
	$(BIN)/python bench/users_bench.py
	bash bench/startup_bench.sh

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache .mypy_cache .import_linter_cache
