#!/usr/bin/env bash
# Prepare everything `make demo` and `make test` need, idempotently:
#   Python >= 3.12 and .venv with NetBox and the plugin, PostgreSQL and Redis on 127.0.0.1,
#   the system tools later features use, the NetBox instance folder (.netbox/), its databases,
#   migrations and an admin user.
# Databases: `<name>_template` is migrated and never touched otherwise; the demo database and the
# test databases are instant copies of it (CREATE DATABASE ... TEMPLATE), so the ~4.5 minute
# NetBox migration runs once per machine and once more only when the plugin's migrations change.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
NETBOX_VERSION=${NETBOX_VERSION:-4.7.3}
INSTANCE=${TRIAGE_INSTANCE:-$ROOT/.netbox}
DB_NAME=${TRIAGE_DB_NAME:-netbox_triage}
DB_USER=${TRIAGE_DB_USER:-netbox_triage}
DB_PASSWORD=${TRIAGE_DB_PASSWORD:-netbox_triage}
ADMIN_USER=${TRIAGE_ADMIN_USER:-admin}
ADMIN_PASSWORD=${TRIAGE_ADMIN_PASSWORD:-admin}
VENV=$ROOT/.venv
export NETBOX_ROOT=$INSTANCE

say() { printf '\033[1m==> %s\033[0m\n' "$*"; }
die() { printf '\033[31merror:\033[0m %s\n' "$*" >&2; exit 1; }
is_root() { [ "$(id -u)" = 0 ]; }
has_apt() { command -v apt-get >/dev/null 2>&1; }
port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

APT_UPDATED=
apt_install() {
  if [ -z "$APT_UPDATED" ]; then
    DEBIAN_FRONTEND=noninteractive apt-get update -qq >/dev/null
    APT_UPDATED=1
  fi
  say "apt-get install $*"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@" >/dev/null
}

find_python() {
  local candidates=("${PYTHON:-}" /root/.pyenv/versions/3.12*/bin/python3.12 /root/.pyenv/versions/3.13*/bin/python3.13
                    python3.13 python3.12 python3)
  for py in "${candidates[@]}"; do
    [ -n "$py" ] || continue
    command -v "$py" >/dev/null 2>&1 || continue
    if "$py" -c 'import sys, venv; sys.exit(0 if sys.version_info >= (3, 12) else 1)' 2>/dev/null; then
      echo "$py"; return 0
    fi
  done
  return 1
}

ensure_venv() {
  if [ ! -x "$VENV/bin/python" ]; then
    local py
    py=$(find_python) || die "Python >= 3.12 with venv is required. Install it (e.g. 'apt-get install python3.12-venv') or set PYTHON=/path/to/python3.12."
    say "creating .venv with $py"
    "$py" -m venv "$VENV"
  fi
  local stamp="$VENV/.triage-installed" want
  want="netbox==$NETBOX_VERSION $(sha1sum pyproject.toml | cut -c1-12)"
  if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
    say "installing netbox==$NETBOX_VERSION and netbox-triage (editable) into .venv"
    "$VENV/bin/python" -m pip install -q --upgrade pip 2>&1 | grep -v '^WARNING: Location' || true
    "$VENV/bin/python" -m pip install -q "netbox==$NETBOX_VERSION" -e ".[dev]" 2>&1 | grep -v '^WARNING: Location' || true
    "$VENV/bin/python" -c 'import netbox_triage, netbox' || die 'pip install failed (see above)'
    echo "$want" > "$stamp"
  fi
}

start_postgres() {
  if command -v pg_ctlcluster >/dev/null 2>&1 && [ -d /etc/postgresql ]; then
    local v
    for v in $(ls /etc/postgresql); do
      pg_ctlcluster --skip-systemctl-redirect "$v" main start 2>/dev/null || true
    done
  fi
}

ensure_postgres() {
  port_open 5432 && return 0
  if is_root && has_apt; then
    command -v pg_ctlcluster >/dev/null 2>&1 || apt_install postgresql postgresql-client
    start_postgres
    for _ in $(seq 1 30); do port_open 5432 && return 0; sleep 1; done
  fi
  die "PostgreSQL is not answering on 127.0.0.1:5432. Run:
    sudo apt-get install -y postgresql
    sudo pg_ctlcluster --skip-systemctl-redirect \$(ls /etc/postgresql) main start"
}

ensure_redis() {
  port_open 6379 && return 0
  if is_root && has_apt; then
    command -v redis-server >/dev/null 2>&1 || apt_install redis-server
    mkdir -p /var/lib/redis /var/log/redis
    redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save '' --appendonly no \
      --dir /var/lib/redis --logfile /var/log/redis/triage.log
    for _ in $(seq 1 30); do port_open 6379 && return 0; sleep 1; done
  fi
  die "Redis is not answering on 127.0.0.1:6379. Run:
    sudo apt-get install -y redis-server
    redis-server --daemonize yes --bind 127.0.0.1 --port 6379"
}

ensure_tools() {
  # Later features call these: Graphviz renders topology, monit validates exported configs,
  # sshd is the real OpenSSH server the probe is tested against.
  local missing=() pkgs=()
  command -v dot >/dev/null 2>&1 || { missing+=(dot); pkgs+=(graphviz); }
  command -v monit >/dev/null 2>&1 || { missing+=(monit); pkgs+=(monit); }
  [ -x /usr/sbin/sshd ] || { missing+=(sshd); pkgs+=(openssh-server openssh-client); }
  command -v ssh-keygen >/dev/null 2>&1 || pkgs+=(openssh-client)
  # The probe script's tests run it under busybox sh too (the shell of minimal hosts).
  command -v busybox >/dev/null 2>&1 || { missing+=(busybox); pkgs+=(busybox); }
  # The browser tests and screenshots drive Debian's Chromium through Playwright.
  [ -x /usr/bin/chromium ] || { missing+=(chromium); pkgs+=(chromium); }
  # The real-monit test records every connection monit opens (strace) to prove it dials loopback only.
  command -v strace >/dev/null 2>&1 || { missing+=(strace); pkgs+=(strace); }
  [ ${#pkgs[@]} -eq 0 ] && return 0
  if is_root && has_apt; then
    apt_install "${pkgs[@]}"
  else
    die "missing system tools: ${missing[*]}. Run:
    sudo apt-get install -y ${pkgs[*]}"
  fi
}

psql_admin() {
  export PGOPTIONS='--client-min-messages=warning'
  # A superuser session: trust/password over TCP first (these machines), then the local
  # `postgres` account (a fresh Debian install uses peer authentication).
  if psql -h 127.0.0.1 -U postgres -d postgres -Atq -c 'select 1' >/dev/null 2>&1; then
    psql -h 127.0.0.1 -U postgres -d postgres -Atq -v ON_ERROR_STOP=1 "$@"
  elif is_root && command -v runuser >/dev/null 2>&1; then
    (cd /tmp && runuser -u postgres -- psql -d postgres -Atq -v ON_ERROR_STOP=1 "$@")
  else
    die "cannot open a PostgreSQL superuser session. Create the role yourself:
    sudo -u postgres psql -c \"CREATE ROLE $DB_USER LOGIN CREATEDB PASSWORD '$DB_PASSWORD'\""
  fi
}

db_exists() { [ "$(psql_admin -c "select 1 from pg_database where datname='$1'")" = 1 ]; }

copy_db() {  # copy_db NEW: a fresh copy of the migrated template
  psql_admin -c "CREATE DATABASE \"$1\" OWNER $DB_USER TEMPLATE \"${DB_NAME}_template\"" >/dev/null
}

drop_db() { psql_admin -c "DROP DATABASE IF EXISTS \"$1\" WITH (FORCE)" >/dev/null; }

ensure_database_role() {
  command -v psql >/dev/null 2>&1 || { is_root && has_apt && apt_install postgresql-client; }
  if [ "$(psql_admin -c "select 1 from pg_roles where rolname='$DB_USER'")" != 1 ]; then
    say "creating PostgreSQL role $DB_USER"
    psql_admin -c "CREATE ROLE $DB_USER LOGIN CREATEDB PASSWORD '$DB_PASSWORD'" >/dev/null
  fi
}

write_instance() {
  mkdir -p "$INSTANCE/conf" "$INSTANCE/ssh" "$INSTANCE/run" "$INSTANCE/log" "$INSTANCE/media" "$INSTANCE/reports" \
           "$INSTANCE/scripts"
  [ -s "$INSTANCE/secret_key" ] || "$VENV/bin/python" -c \
    'import secrets, string; a = string.ascii_letters + string.digits + "!@#$%^&*(-_=+)"; print("".join(secrets.choice(a) for _ in range(60)))' \
    > "$INSTANCE/secret_key"
  [ -s "$INSTANCE/token_pepper" ] || "$VENV/bin/python" -c 'import secrets; print(secrets.token_urlsafe(48))' \
    > "$INSTANCE/token_pepper"
  [ -s "$INSTANCE/ssh/id_ed25519" ] || ssh-keygen -q -t ed25519 -N '' -C netbox-triage-demo -f "$INSTANCE/ssh/id_ed25519"
  : > "$INSTANCE/conf/__init__.py"
  sed -e "s/@DB_NAME@/$DB_NAME/g" -e "s/@DB_USER@/$DB_USER/g" -e "s/@DB_PASSWORD@/$DB_PASSWORD/g" \
    scripts/configuration.py.in > "$INSTANCE/conf/configuration.py.new"
  mv "$INSTANCE/conf/configuration.py.new" "$INSTANCE/conf/configuration.py"
}

migrations_hash() {
  { echo "$NETBOX_VERSION"; cat netbox_triage/migrations/*.py 2>/dev/null; } | sha1sum | cut -c1-10
}

ensure_template() {
  # The template carries a marker of the plugin migrations it was built with.
  local want have
  want=$(migrations_hash)
  have=$(cat "$INSTANCE/run/template-migrations" 2>/dev/null || true)
  if db_exists "${DB_NAME}_template" && [ "$want" = "$have" ]; then
    return 0
  fi
  db_exists "${DB_NAME}_template" || {
    say "creating database ${DB_NAME}_template"
    psql_admin -c "CREATE DATABASE \"${DB_NAME}_template\" OWNER $DB_USER" >/dev/null
  }
  say 'migrating the template database (about 4.5 minutes the first time on a 2-core machine)'
  TRIAGE_DB_NAME="${DB_NAME}_template" "$VENV/bin/netbox" migrate --no-input -v 0
  echo "$want" > "$INSTANCE/run/template-migrations"
}

ensure_main_db() {
  db_exists "$DB_NAME" || { say "creating database $DB_NAME from the template"; copy_db "$DB_NAME"; }
  "$VENV/bin/netbox" migrate --no-input -v 0
  "$VENV/bin/netbox" shell --no-imports -c "
from users.models import User
u, created = User.objects.get_or_create(username='$ADMIN_USER', defaults={'is_superuser': True})
if created:
    u.set_password('$ADMIN_PASSWORD'); u.save(); print('created admin user $ADMIN_USER')
"
}

ensure_test_db() {
  # The test database is named after the migrations it holds, so `--keepdb` never reuses a stale one.
  local name="test_${DB_NAME}_$(migrations_hash)"
  if ! db_exists "$name"; then
    say "creating test database $name from the template"
    local old
    for old in $(psql_admin -c "select datname from pg_database where datname like 'test_${DB_NAME}_%'"); do
      drop_db "$old"
    done
    copy_db "$name"
  fi
  echo "$name" > "$INSTANCE/run/test-db-name"
  # End-to-end tests (tests/) drive a live server on a fresh copy, made anew on every run.
  drop_db "${DB_NAME}_e2e"
  copy_db "${DB_NAME}_e2e"
}

main() {
  local purpose=${1:-demo}
  ensure_venv
  ensure_postgres
  ensure_redis
  ensure_tools
  ensure_database_role
  write_instance
  ensure_template
  ensure_main_db
  [ "$purpose" = test ] && ensure_test_db
  return 0
}

main "$@"
