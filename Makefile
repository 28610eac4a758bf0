# mss-server: `make run` starts a working operator, `make test` runs the suite.
# Both bootstrap their own virtual environment from requirements.lock.

PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
VAR    ?= var
DOMAIN ?= demo.mssante.fr
DEMO   ?= demo@$(DOMAIN)
PRODUCT := server smtp_gateway policy imap_store message directory certs

.PHONY: run test lint venv clean-var

$(BIN)/mss: pyproject.toml requirements.lock
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' || \
	  { echo "mss-server needs Python >= 3.11"; exit 1; }
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements.lock
	$(BIN)/python -m pip install --quiet --no-deps -e .
	@touch $(BIN)/mss

venv: $(BIN)/mss

$(VAR)/mss.toml: | $(BIN)/mss
	$(BIN)/mss init --dir $(VAR) --domain $(DOMAIN) --hostname localhost --dev-ports
	$(BIN)/python -m server.demo --config $(VAR)/mss.toml --address $(DEMO) \
	  --password-file $(VAR)/demo-password.txt

run: $(BIN)/mss $(VAR)/mss.toml
	@$(BIN)/python -m server.demo --config $(VAR)/mss.toml --address $(DEMO) \
	  --password-file $(VAR)/demo-password.txt --explain
	$(BIN)/mss --config $(VAR)/mss.toml serve

test: $(BIN)/mss
	$(BIN)/python -m pytest -q -p no:cacheprovider $(PYTEST_ARGS)

lint: $(BIN)/mss
	$(BIN)/ruff check $(PRODUCT) migrations tests bench
	$(BIN)/mypy $(PRODUCT)
	$(BIN)/lint-imports

clean-var:
	rm -rf $(VAR)
