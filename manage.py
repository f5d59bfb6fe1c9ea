#!/bin/sh
# NetBox's manage.py for this checkout's development instance: points NETBOX_ROOT at .netbox/
# and runs the `netbox` entry point of .venv, e.g. `./manage.py triage_demo`, `./manage.py nbshell`.
# Run `make demo` or `make test` once first: they create .venv and .netbox/.
here=$(cd "$(dirname "$0")" && pwd)
if [ ! -x "$here/.venv/bin/netbox" ] || [ ! -f "$here/.netbox/conf/configuration.py" ]; then
  echo "manage.py: no development instance yet; run 'make demo' (or 'make test') first." >&2
  exit 1
fi
NETBOX_ROOT="${NETBOX_ROOT:-$here/.netbox}" exec "$here/.venv/bin/netbox" "$@"
