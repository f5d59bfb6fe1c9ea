#!/usr/bin/env bash
# The demo's real Monit daemons (Debian's monit): one per seed host in DEMO_MONIT_DAEMONS (netbox_triage/demo.py),
# all on this machine, each with the control file the plugin's own Monit export writes for its host, reporting
# to the demo's collector on 127.0.0.1 (scripts/configuration.py.in enables the collector when
# TRIAGE_DEMO_COLLECTOR=1). The export is the operator's `triage_export monit --with-secrets`: each host's
# secrets/mmonit.monitrc gets the `set mmonit` line with the collector's user and password (from
# TRIAGE_MONIT_COLLECTOR_PASSWORD), which no bundle served by NetBox carries. Called by scripts/services.sh.
#
#   scripts/demo_monit.sh start [PORT]   export, install under .netbox/monit/<host>/, start (a running one is kept)
#   scripts/demo_monit.sh stop           stop them (monit quit, by their own pid files)
#
# Per host, under .netbox/monit/<host>/: monitrc (0600; the export with `set daemon` shortened, the log, pid,
# state, id and event files here, no httpd), secrets/ (0600: mmonit.monitrc, slack-webhook.url, database check
# credentials), monit.id (the fixed ID demo.create_demo_agents() maps to the host), monit.pid, monit.state,
# monit.log. The bundle itself (it holds the password) is deleted once installed. Only loopback: a control
# file or secrets file naming any address outside 127.0.0.0/8 is not started.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
export NETBOX_ROOT=${NETBOX_ROOT:-$ROOT/.netbox}
DIR=$NETBOX_ROOT/monit
MONIT=$(command -v monit || echo /usr/bin/monit)
CYCLE=${TRIAGE_DEMO_MONIT_CYCLE:-30}
PLACEHOLDER=/netbox-triage-demo-monit

rc_of() { echo "$DIR/$1/monitrc"; }
alive() { [ -s "$DIR/$1/monit.pid" ] && kill -0 "$(cat "$DIR/$1/monit.pid")" 2>/dev/null; }
hosts_installed() { for rc in "$DIR"/*/monitrc; do [ -f "$rc" ] && basename "$(dirname "$rc")"; done; return 0; }

stop_all() {
  local host
  for host in $(hosts_installed); do
    if alive "$host"; then
      HOME="$DIR/$host" "$MONIT" -c "$(rc_of "$host")" quit >/dev/null 2>&1 \
        || kill -TERM "$(cat "$DIR/$host/monit.pid")" 2>/dev/null || true
      for _ in $(seq 1 20); do alive "$host" || break; sleep 0.25; done
      echo "    stopped monit $host"
    fi
  done
}

loopback_only() {  # loopback_only FILE...: every address and URL host in these Monit files is in 127.0.0.0/8
  local bad
  bad=$(cat "$@" | grep -Eo '(address|mmonit https?://([^@ ]*@)?)[ ]*[^ :/@]+' \
        | sed -E 's/^(address|mmonit https?:\/\/([^@ ]*@)?) *//' \
        | grep -Ev '^(127\.[0-9]+\.[0-9]+\.[0-9]+|localhost)$' || true)
  [ -z "$bad" ] || { echo "    refusing $1: non-loopback address(es): $bad" >&2; return 1; }
}

start_all() {
  local port=${1:-8000} bundle out host monit_id rc home
  [ -x "$MONIT" ] || { echo '    monit is not installed: no demo Monit daemons (apt-get install monit)'; return 0; }
  mkdir -p "$DIR"
  chmod 700 "$DIR"
  bundle=$DIR/bundle.tar.gz
  # One NetBox start: the plugin's own export of the demo site and the daemons' fixed IDs. The export's prefix
  # allows no component starting with a dot (.netbox): it is written for a placeholder prefix, relocated below.
  if ! out=$(TRIAGE_DEMO_COLLECTOR=1 TRIAGE_DEMO_PORT=$port "$ROOT/.venv/bin/netbox" shell --no-imports -c "
from django.core.management import call_command
from netbox_triage.demo import DEMO_MONIT_DAEMONS, demo_monit_id
call_command('triage_export', 'monit', '--prefix', '$PLACEHOLDER', '--site', 'customer-dc', '--with-secrets',
             '--output', '$bundle')
for name in DEMO_MONIT_DAEMONS:
    print('demo-monit', name, demo_monit_id(name))
" 2>"$DIR/export.log"); then
    tail -n 5 "$DIR/export.log" >&2
    return 1
  fi
  while read -r _tag host monit_id; do
    home=$DIR/$host
    rc=$home/monitrc
    if alive "$host"; then
      echo "    monit $host already running (pid $(cat "$home/monit.pid"))"
      continue
    fi
    rm -rf "$home"
    if ! tar -xzf "$bundle" -C "$DIR" "$host/" 2>/dev/null; then
      echo "    monit $host: not in the export (is the demo loaded?)" >&2
      continue
    fi
    # Relocate the install prefix (paths of the scripts and secrets includes, comments).
    grep -rlF "$PLACEHOLDER/$host/" "$home" | while read -r file; do
      sed -i "s|$PLACEHOLDER/$host/|$home/|g" "$file"
    done
    # The export as generated, but: a shorter cycle, the log and Monit's own files in this folder, no web
    # interface (nothing to listen on; `monit quit` signals the pid file). `set mmonit` stays as exported.
    sed -i -E \
      -e "s|^set daemon [0-9]+$|set daemon $CYCLE|" \
      -e "s|^set log syslog$|set log $home/monit.log\nset pidfile $home/monit.pid\nset statefile $home/monit.state\nset idfile $home/monit.id\nset eventqueue basedir $home/events slots 100|" \
      -e '/^set httpd /d' -e '/^    allow 127\.0\.0\.1$/d' \
      "$rc"
    chmod 600 "$rc"
    chmod 700 "$home/secrets"
    if ! grep -q "^include $home/secrets/mmonit.monitrc$" "$rc" \
        || ! grep -q "^set mmonit http://[^ ]*@127.0.0.1:$port/plugins/triage/collector/monit/$" \
          "$home/secrets/mmonit.monitrc"; then
      echo "    monit $host: no 'set mmonit' to the demo collector in $home/secrets (TRIAGE_DEMO_COLLECTOR)" >&2
      continue
    fi
    loopback_only "$rc" "$home"/secrets/*.monitrc || continue
    printf '%s\n' "$monit_id" > "$home/monit.id"
    chmod 600 "$home/monit.id"
    if ! HOME=$home "$MONIT" -t -c "$rc" >"$home/monit-t.log" 2>&1; then
      echo "    monit $host: control file rejected, see $home/monit-t.log" >&2
      continue
    fi
    HOME=$home "$MONIT" -c "$rc" >"$home/start.log" 2>&1 < /dev/null || true
    for _ in $(seq 1 20); do alive "$host" && break; sleep 0.25; done
    if alive "$host"; then
      echo "    started monit $host (pid $(cat "$home/monit.pid"), id $monit_id, log $home/monit.log)"
    else
      echo "    monit $host did not start, see $home/start.log and $home/monit.log" >&2
    fi
  done < <(grep '^demo-monit ' <<<"$out")
  rm -f "$bundle"  # it holds the collector's password; the installed secrets files keep it (0600)
}

case "${1:-}" in
  start) start_all "${2:-8000}" ;;
  stop) stop_all ;;
  *) echo "usage: $0 start [PORT] | stop" >&2; exit 2 ;;
esac
