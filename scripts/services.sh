#!/usr/bin/env bash
# Makes sure the services the integration tests talk to are up on this machine, starting each one that is down:
# PostgreSQL (5432), NATS with JetStream (4222), RabbitMQ (5672), Redis (6379); and installs Debian's chromium for the
# dashboard's browser tests when it is missing. Idempotent; exits non-zero when a service cannot be brought up, naming
# it.
set -uo pipefail

up() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

wait_for() {
  local name=$1 port=$2 seconds=$3
  for _ in $(seq 1 "$seconds"); do
    up "$port" && { echo "services: $name is up on $port"; return 0; }
    sleep 1
  done
  echo "services: $name did not come up on port $port within ${seconds}s" >&2
  return 1
}

need_package() {
  local binary=$1 package=$2
  if ! command -v "$binary" >/dev/null 2>&1 && [ ! -x "$binary" ]; then
    echo "services: installing $package"
    if [ -z "${APT_UPDATED:-}" ]; then apt-get update -qq && APT_UPDATED=1; fi
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$package" >/dev/null
  fi
}

failed=0

if ! up 5432; then
  need_package pg_ctlcluster postgresql
  pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | sort -V | tail -1)" main start || true
  wait_for PostgreSQL 5432 30 || failed=1
else
  echo "services: PostgreSQL is up on 5432"
fi

if ! up 4222; then
  need_package /usr/sbin/nats-server nats-server
  mkdir -p /var/lib/nats-server
  start-stop-daemon --start --oknodo --background --exec /usr/sbin/nats-server -- \
    -a 127.0.0.1 -p 4222 -js -sd /var/lib/nats-server -l /var/log/nats-server.log || true
  wait_for NATS 4222 20 || failed=1
else
  echo "services: NATS is up on 4222"
fi

if ! up 5672; then
  need_package rabbitmq-server rabbitmq-server
  rabbitmq-server -detached || true
  wait_for RabbitMQ 5672 90 || failed=1
else
  echo "services: RabbitMQ is up on 5672"
fi

if ! up 6379; then
  need_package redis-server redis-server
  mkdir -p /var/lib/redis /var/log/redis
  redis-server --daemonize yes --bind 127.0.0.1 -::1 --port 6379 --save "" --appendonly no \
    --dir /var/lib/redis --logfile /var/log/redis/ci.log || true
  wait_for Redis 6379 20 || failed=1
else
  echo "services: Redis is up on 6379"
fi

# The dashboard's browser tests drive Debian's chromium (test/ops/dashboard.e2e.test.ts); with CI set they fail
# without it.
need_package /usr/bin/chromium chromium
if [ -x /usr/bin/chromium ]; then echo "services: chromium is installed"; else echo "services: chromium could not be installed" >&2; failed=1; fi

# The tests use the database "test" on PostgreSQL (trust auth on this machine).
if up 5432 && command -v psql >/dev/null 2>&1; then
  psql -h 127.0.0.1 -U postgres -d postgres -tAc "select 1 from pg_database where datname = 'test'" | grep -q 1 ||
    psql -h 127.0.0.1 -U postgres -d postgres -c 'create database test' >/dev/null
fi

exit "$failed"
