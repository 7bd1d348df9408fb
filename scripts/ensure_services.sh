#!/usr/bin/env bash
# Make sure what the integration tests need is running: PostgreSQL and Redis on 127.0.0.1, and
# Debian's Chromium for the browser test, and Debian's Go toolchain (golang-go) for the gate's
# native-export parity test. Starts what is installed but stopped; installs what is
# missing when run as root (apt-get); otherwise says exactly what is missing.
set -u
need_apt=()
as_root() { [ "$(id -u)" = 0 ]; }

pg_up() { (exec 3<>/dev/tcp/127.0.0.1/5432) 2>/dev/null; }
redis_up() { (exec 3<>/dev/tcp/127.0.0.1/6379) 2>/dev/null; }

if ! pg_up; then
  command -v pg_ctlcluster >/dev/null || need_apt+=(postgresql)
fi
if ! redis_up; then
  command -v redis-server >/dev/null || need_apt+=(redis-server)
fi
[ -x /usr/bin/chromium ] || need_apt+=(chromium)
command -v go >/dev/null || [ -x /usr/lib/go/bin/go ] || need_apt+=(golang-go)

if [ ${#need_apt[@]} -gt 0 ]; then
  if as_root && command -v apt-get >/dev/null; then
    echo "ensure_services: installing ${need_apt[*]}"
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need_apt[@]}" >/dev/null
  else
    echo "ensure_services: missing ${need_apt[*]}; install them (Debian: apt-get install ${need_apt[*]})" >&2
  fi
fi

if ! pg_up && command -v pg_ctlcluster >/dev/null; then
  ver=$(ls /etc/postgresql | sort -V | tail -n1)
  pg_ctlcluster --skip-systemctl-redirect "$ver" main start 2>/dev/null || pg_ctlcluster "$ver" main start
  for _ in $(seq 1 30); do pg_up && break; sleep 1; done
fi
if ! redis_up && command -v redis-server >/dev/null; then
  redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save '' --appendonly no
  for _ in $(seq 1 30); do redis_up && break; sleep 1; done
fi

pg_up && echo "ensure_services: PostgreSQL up on 127.0.0.1:5432" || echo "ensure_services: PostgreSQL NOT running (its tests will be skipped)" >&2
redis_up && echo "ensure_services: Redis up on 127.0.0.1:6379" || echo "ensure_services: Redis NOT running" >&2
[ -x /usr/bin/chromium ] && echo "ensure_services: Chromium at /usr/bin/chromium" || echo "ensure_services: Chromium missing (browser test will be skipped)" >&2
{ command -v go >/dev/null || [ -x /usr/lib/go/bin/go ]; } && echo "ensure_services: Go toolchain present" || echo "ensure_services: Go missing (the gate's Go export parity test will be skipped)" >&2
exit 0
