#!/usr/bin/env bash
# Start or stop the demo's background services: the simulated SSH fleet, an RQ worker, the NetBox web
# server (with the Monit collector on: TRIAGE_DEMO_COLLECTOR, scripts/configuration.py.in) and real monit
# daemons reporting to it for a few seed hosts (scripts/demo_monit.sh). A second `start` reuses whatever
# is already running.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
export NETBOX_ROOT=${NETBOX_ROOT:-$ROOT/.netbox}
RUN=$NETBOX_ROOT/run
LOG=$NETBOX_ROOT/log
VENV=$ROOT/.venv
mkdir -p "$RUN" "$LOG"

running() { [ -s "$RUN/$1.pid" ] && kill -0 "$(cat "$RUN/$1.pid")" 2>/dev/null; }

launch() {  # launch NAME COMMAND...
  local name=$1; shift
  if running "$name"; then
    echo "    $name already running (pid $(cat "$RUN/$name.pid"))"
    return 0
  fi
  nohup setsid "$@" >"$LOG/$name.log" 2>&1 < /dev/null &
  echo $! > "$RUN/$name.pid"
  echo "    started $name (pid $!, log $LOG/$name.log)"
}

stop_one() {
  if running "$1"; then
    kill -TERM -- "-$(cat "$RUN/$1.pid")" 2>/dev/null || kill -TERM "$(cat "$RUN/$1.pid")" 2>/dev/null || true
    echo "    stopped $1"
  fi
  rm -f "$RUN/$1.pid"
}

case "${1:-}" in
  start)
    host=${2:-127.0.0.1}; port=${3:-8000}
    echo '==> services'
    export TRIAGE_DEMO_COLLECTOR=1 TRIAGE_DEMO_PORT=$port
    if [ -f "$ROOT/netbox_triage/fleet/server.py" ]; then
      launch fleet "$VENV/bin/python" -m netbox_triage.fleet.server --seed --port 2222 \
        --authorized-key "$NETBOX_ROOT/ssh/id_ed25519.pub" --state-dir "$NETBOX_ROOT/fleet"
    fi
    launch worker "$VENV/bin/netbox" rqworker high default low
    launch web "$VENV/bin/netbox" runserver "$host:$port" --insecure --noreload
    for _ in $(seq 1 240); do
      (exec 3<>"/dev/tcp/$host/$port") 2>/dev/null && break
      sleep 0.5
    done
    case $host in
      127.*|0.0.0.0|localhost)
        echo '==> monit daemons (reporting to the collector on 127.0.0.1)'
        bash "$ROOT/scripts/demo_monit.sh" start "$port" || echo '    monit daemons not started (see above)' ;;
      *) echo "==> no monit daemons: they report to 127.0.0.1, and the web server listens on $host" ;;
    esac
    cat <<TXT

netbox-triage demo is up:  http://$host:$port/plugins/triage/incidents/
  log in as ${TRIAGE_ADMIN_USER:-admin} / ${TRIAGE_ADMIN_PASSWORD:-admin}
  probe again: ./manage.py triage_probe --all   (or "Probe selected" on the device and VM lists)
  Monit: real daemons play some seed hosts, reporting every 30 s (.netbox/monit/<host>/)
  logs in $LOG; stop everything with 'make stop'
TXT
    ;;
  stop)
    bash "$ROOT/scripts/demo_monit.sh" stop || true
    for name in web worker fleet; do stop_one "$name"; done
    ;;
  *)
    echo "usage: $0 start [HOST PORT] | stop" >&2; exit 2 ;;
esac
