# Every target sets itself up: a fresh clone needs only `make demo` or `make test`.
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test lint bench package clean

$(STAMP): requirements.txt requirements-dev.txt pyproject.toml
	python3 -m venv $(VENV)
	$(BIN)/pip install -q --disable-pip-version-check -r requirements-dev.txt
	$(BIN)/pip install -q --disable-pip-version-check --no-deps -e .
	touch $(STAMP)

## demo: the main job: the master/worker cluster through run, stop, run, a worker stopped behind its back and healed, terminate (Step Functions control plane, local cloud)
demo: $(STAMP)
	$(BIN)/python examples/cluster_lifecycle.py

## test: lint, type check (mypy: the production packages, app.py, deploy/) and the whole test suite
test: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/mypy
	$(BIN)/pytest -n 2 --dist loadfile   # two workers (the machines have 2 cores); a file stays on one worker

## bench: the benchmarks, printing ratios measured side by side in one run
bench: $(STAMP)
	$(BIN)/python -m benchmarks

## package: the dev stage as one SAM/CloudFormation template (functions, state machine, table) in build/package
package: $(STAMP)
	mkdir -p build
	$(BIN)/python -m deploy.build_merge_template --stage dev > build/merge-template.json
	AWS_DEFAULT_REGION=us-east-1 $(BIN)/chalice package --stage dev --merge-template build/merge-template.json build/package
	$(BIN)/python -m deploy.precompile build/package/deployment.zip

clean:
	rm -rf $(VENV) build *.egg-info chalicelib/*.egg-info
