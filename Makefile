# Everything runs inside .venv, created on first use from uv.lock: every dependency of the
# pins in pyproject.toml, transitive ones included, each checked against its hashes.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
# uv itself, installed by pip (hashes required) from devtools/uv-bootstrap.txt into .uv/.
UV_DIR := .uv
UV     := $(UV_DIR)/bin/uv
UV_BOOTSTRAP := devtools/uv-bootstrap.txt
# checkov pins its own boto3 (and more) against ours, so it lives in a virtualenv of its
# own, from the `scan` extra of pyproject.toml (locked in the same uv.lock).
CHECKOV_VENV  := .venv-checkov
CHECKOV_STAMP := $(CHECKOV_VENV)/.installed
SYNC := $(UV) sync --frozen --python $(PYTHON)

.PHONY: venv test check static lint scan unit demo soak bench fuzz clean build package deploy publish docs lock

venv: $(STAMP)

# One line, no traceback, when the Python is too old (a test runs this line).
PYTHON_CHECK := import sys; v = sys.version_info; sys.exit(None if v >= (3, 11) else \
	"hubrelay needs Python 3.11+, %s is %d.%d: run make PYTHON=python3.11 (or newer)" \
	% (sys.executable, v[0], v[1]))

$(UV): $(UV_BOOTSTRAP)
	@$(PYTHON) -c '$(PYTHON_CHECK)'
	rm -rf $(UV_DIR)
	$(PYTHON) -m pip install --quiet --disable-pip-version-check --require-hashes --no-deps \
		--target $(UV_DIR) -r $(UV_BOOTSTRAP)
	@touch $@

# Two passes: the first installs setuptools (and the rest) from the lock, the second builds
# hubrelay itself (editable) with it (tool.uv in pyproject.toml).
$(STAMP): pyproject.toml uv.lock $(UV)
	$(SYNC) --extra dev --no-install-project
	$(SYNC) --extra dev
	@touch $@

$(CHECKOV_STAMP): pyproject.toml uv.lock $(UV)
	UV_PROJECT_ENVIRONMENT=$(CHECKOV_VENV) $(SYNC) --extra scan --no-install-project
	@touch $@

# After a pin in pyproject.toml changes: re-resolves uv.lock (ARGS=--upgrade also moves the
# transitive dependencies) and writes uv-bootstrap.txt for tool.uv's required-version.
lock: $(UV)
	$(UV) lock $(ARGS)
	$(PYTHON) -c 'import tomllib; print("uv" + tomllib.load(open("pyproject.toml", "rb"))["tool"]["uv"]["required-version"])' \
		| $(UV) pip compile --quiet --generate-hashes --universal \
			--custom-compile-command 'make lock' - -o $(UV_BOOTSTRAP)

# Every package the tree holds: the product (layer and functions) and the three that never
# ship (release, devtools, emulator), and the benchmarks (bench).
MYPY_PATHS := layers/hubrelay/python/hubrelay functions release/hubrelay_release \
	devtools/hubrelay_devtools emulator/hubrelay_emulator bench

# The static checks that need nothing beyond .venv (checkov, the slow one, is `make scan`).
static: venv
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy $(MYPY_PATHS)
	$(VENV)/bin/cfn-lint template.yaml

lint: static $(CHECKOV_STAMP)
	$(PY) -m hubrelay_devtools.scan --checkov $(CHECKOV_VENV)/bin/checkov

# checkov on template.yaml, as it is and with every optional part on
# (devtools/hubrelay_devtools/scan.py).
scan: venv $(CHECKOV_STAMP)
	$(PY) -m hubrelay_devtools.scan --checkov $(CHECKOV_VENV)/bin/checkov

# The fast loop: static checks, then the unit and integration tests not marked slow, spread
# over every core (pytest-xdist; about 90 s on two cores, tests 78 s). `make test`
# runs everything, checkov and the slow tests included, in one process.
check: static
	$(PY) -m pytest tests/unit tests/integration -m "not slow" -n auto $(PYTEST_ARGS)

test: lint
	$(PY) -m pytest --durations=15 $(PYTEST_ARGS)

unit: venv
	$(PY) -m pytest tests/unit $(PYTEST_ARGS)

# Not echoed: stdout is the demo's own (with ARGS=--json, the summary alone, as JSON).
demo: venv
	@$(PY) -m hubrelay_emulator.demo $(ARGS)

# The oracle soak: a simulated month of collector runs through the real template, the end
# state of Security Hub checked against an oracle (tests/soak; docs/operations.md).
# Bytecode is cached under .venv even where PYTHONDONTWRITEBYTECODE is set: compiling
# moto, botocore and cfn-lint from source costs each run seconds before its first tick.
soak: venv
	env -u PYTHONDONTWRITEBYTECODE PYTHONPYCACHEPREFIX=$(CURDIR)/$(VENV)/pycache \
		$(PY) -m tests.soak $(ARGS)

bench: venv
	$(PY) -m bench $(ARGS)

# The long fuzz run: 10,000 inputs per parser of outside input, each bounded in time
# (tests/fuzz/harness.py); `make test` runs a short pass of the same tests.
fuzz: venv
	HUBRELAY_FUZZ=long $(PY) -m pytest tests/fuzz $(PYTEST_ARGS)

# Release (docs/setup.md): reproducible zips, an artifact bucket per Region named
# <prefix>-<region>, a stack, quick-create links. All of it is release/hubrelay_release/.
RELEASE := $(PY) -m hubrelay_release $(if $(BYTECODE_PYTHON),--python '$(BYTECODE_PYTHON)')

build: venv
	$(RELEASE) build

package: venv
	@test -n "$(BUCKET)" || { echo 'usage: make package BUCKET=<prefix>-<region> [PREFIX=hubrelay/<version>/] [REGION=<region>]'; exit 2; }
	$(RELEASE) package --bucket '$(BUCKET)' $(if $(PREFIX),--prefix '$(PREFIX)') $(if $(REGION),--region '$(REGION)')

# PARAMS is read from the environment (make exports command-line variables), so values
# may hold quotes and spaces: PARAMS='LogLevel=DEBUG SnsActionName="Page me"'.
deploy: venv
	@test -n "$(STACK)" -a -n "$(BUCKET)" || { echo 'usage: make deploy STACK=<name> BUCKET=<prefix>-<region> [PARAMS="K=V ..."]'; exit 2; }
	$(RELEASE) deploy --stack '$(STACK)' --bucket '$(BUCKET)' --params "$$PARAMS" $(if $(REGION),--region '$(REGION)')

publish: venv
	@test -n "$(BUCKET_PREFIX)" -a -n "$(REGIONS)" || { echo 'usage: make publish BUCKET_PREFIX=<prefix> REGIONS="us-east-1 eu-west-1" [PREFIX=hubrelay/<version>/] [STACK_NAME=hubrelay] [BYTECODE_PYTHON=<python3.13>] [ALLOW_WITHOUT_BYTECODE=1]'; exit 2; }
	$(RELEASE) publish --bucket-prefix '$(BUCKET_PREFIX)' --regions '$(REGIONS)' $(if $(PREFIX),--prefix '$(PREFIX)') $(if $(STACK_NAME),--stack-name '$(STACK_NAME)') $(if $(filter 1,$(ALLOW_WITHOUT_BYTECODE)),--allow-without-bytecode)

# Regenerates the parameters table of docs/setup.md from template.yaml (a test checks it).
docs: venv
	$(PY) -m hubrelay_devtools.docs

clean:
	rm -rf $(VENV) $(CHECKOV_VENV) $(UV_DIR) build .pytest_cache .mypy_cache .ruff_cache .hypothesis
