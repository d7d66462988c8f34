# The two commands of the README's Quick start are `make demo` and `make test`.
# Both install what they need first (scripts/bootstrap.sh) and are safe to run again.

VENV ?= .venv
PY := $(VENV)/bin/python
OUT ?= out

.PHONY: demo test lint unit bench assets wheel clean help golden

help:
	@echo "make demo    install, then render the sample plant (headless snapshot when there is no display)"
	@echo "make test    install, then lint (fails fast), then run the whole test suite"
	@echo "make lint    ruff, mypy and the import contracts (layers of docs/architecture.md)"
	@echo "make bench   run the benchmarks in benchmarks/ (prints figures)"
	@echo "make assets  regenerate assets/*.glb and scenes/demo-plant.toml"

demo:
	@scripts/bootstrap.sh dev,scan,xr,plant,usd
	$(VENV)/bin/xrclient demo --out $(OUT)/demo-plant.png

# lint first: it takes seconds, the suite takes minutes
test:
	@scripts/bootstrap.sh dev,scan,xr,plant,usd
	$(MAKE) --no-print-directory lint
	@scripts/install_monado.sh >/dev/null
	@scripts/install_gltf_tools.sh >/dev/null
	$(PY) -m pytest

lint:
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy
	$(VENV)/bin/lint-imports --no-cache --no-logo

bench:
	@scripts/bootstrap.sh dev,scan,xr,plant,usd
	@scripts/install_monado.sh >/dev/null
	@scripts/install_gltf_tools.sh >/dev/null
	$(PY) benchmarks/run_all.py

assets:
	@scripts/bootstrap.sh dev,scan,xr,plant,usd
	$(PY) scripts/make_assets.py

golden:
	@scripts/bootstrap.sh dev,scan,xr,plant,usd
	$(PY) scripts/update_golden.py

wheel:
	@scripts/bootstrap.sh dev,scan,xr,plant,usd
	$(PY) -m build --wheel --outdir dist .

clean:
	rm -rf $(OUT) dist build .pytest_cache .mypy_cache .ruff_cache
