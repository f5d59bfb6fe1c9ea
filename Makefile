# netbox-triage developer entry points. The README's quick start is `make demo` and `make test`;
# both set up everything they need (scripts/bootstrap.sh) and are safe to run again.
SHELL := /bin/bash
ROOT := $(CURDIR)
export NETBOX_ROOT := $(ROOT)/.netbox
VENV := $(ROOT)/.venv
NETBOX := $(VENV)/bin/netbox
RUN := $(NETBOX_ROOT)/run
LOG := $(NETBOX_ROOT)/log
HOST ?= 127.0.0.1
PORT ?= 8000

.PHONY: demo test setup lint migrations-check unit e2e stop fleet

setup:
	@bash scripts/bootstrap.sh demo

demo: setup
	@$(NETBOX) triage_demo
	@bash scripts/services.sh start $(HOST) $(PORT)
	@echo '==> probing the 12 seed hosts; the discovery rules follow'
	@$(NETBOX) triage_probe --all --user $${TRIAGE_ADMIN_USER:-admin} || true
	@echo "discoveries: http://$(HOST):$(PORT)/plugins/triage/discoveries/"

stop:
	@bash scripts/services.sh stop

test:
	@bash scripts/bootstrap.sh test
	@$(MAKE) --no-print-directory lint migrations-check unit e2e

lint:
	@echo '==> ruff'
	@$(VENV)/bin/ruff check netbox_triage tests bench scripts

migrations-check:
	@echo '==> makemigrations --check'
	@$(NETBOX) makemigrations --check --dry-run netbox_triage

unit:
	@echo '==> netbox test netbox_triage (NetBox harness, --keepdb)'
	@TRIAGE_TEST_DB_NAME=$$(cat $(RUN)/test-db-name) $(NETBOX) test netbox_triage --keepdb --noinput -v 1 $(TESTS)

e2e:
	@echo '==> end-to-end tests (tests/): live NetBox, real daemons'
	@PYTHONPATH=$(ROOT) $(VENV)/bin/python -m unittest discover -s tests -t . -v $(if $(TESTS),-k $(TESTS))
