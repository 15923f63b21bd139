#!/usr/bin/env bash
# Start the local services the integration tests use (PostgreSQL, Redis, Mosquitto, NATS
# with JetStream) when they are not already answering. Installs them, and the Chromium the
# browser tests drive, from Debian's packages when missing.
set -euo pipefail

need_apt=()
command -v pg_ctlcluster >/dev/null || need_apt+=(postgresql)
command -v redis-server >/dev/null || need_apt+=(redis-server)
command -v mosquitto >/dev/null || need_apt+=(mosquitto)
command -v mosquitto_pub >/dev/null || need_apt+=(mosquitto-clients)  # bench/ingest.py publishes with it
# The JetStream tests start a private nats-server; the demo publishes to the machine's.
command -v nats-server >/dev/null || [ -x /usr/sbin/nats-server ] || need_apt+=(nats-server)
# The portal's browser tests drive Debian's Chromium (Playwright cannot download browsers here).
[ -x /usr/bin/chromium ] || need_apt+=(chromium)
# The HSM key-store tests use SoftHSM2 through PKCS#11.
[ -e /usr/lib/softhsm/libsofthsm2.so ] || need_apt+=(softhsm2)
# The alert and recording rules (deploy/monitoring) are checked and unit-tested with promtool.
command -v promtool >/dev/null || need_apt+=(prometheus)
# `make prod-smoke` (and its test) runs the production stack behind Debian's nginx.
command -v nginx >/dev/null || [ -x /usr/sbin/nginx ] || need_apt+=(nginx)
if [ ${#need_apt[@]} -gt 0 ]; then
  echo "installing ${need_apt[*]}"
  # RUNLEVEL=1: a package's service (prometheus) is installed, not started
  apt-get update -qq && RUNLEVEL=1 DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need_apt[@]}"
fi

if ! pg_isready -q -h 127.0.0.1 -p 5432; then
  echo "starting PostgreSQL"
  pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -1)" main start
  for _ in $(seq 50); do pg_isready -q -h 127.0.0.1 -p 5432 && break; sleep 0.2; done
fi
if ! (exec 3<>/dev/tcp/127.0.0.1/6379) 2>/dev/null; then
  echo "starting Redis"
  mkdir -p /var/lib/redis /var/log/redis
  redis-server --daemonize yes --bind 127.0.0.1 -::1 --port 6379 --save "" --appendonly no \
    --dir /var/lib/redis --logfile /var/log/redis/ci.log
fi
if ! (exec 3<>/dev/tcp/127.0.0.1/1883) 2>/dev/null; then
  echo "starting Mosquitto"
  mosquitto -d -c /etc/mosquitto/mosquitto.conf
fi
if ! (exec 3<>/dev/tcp/127.0.0.1/4222) 2>/dev/null; then
  echo "starting NATS (JetStream)"
  mkdir -p /var/lib/nats
  "$(command -v nats-server || echo /usr/sbin/nats-server)" -a 127.0.0.1 -p 4222 -js \
    -sd /var/lib/nats >/var/log/nats-ci.log 2>&1 &
  for _ in $(seq 50); do (exec 3<>/dev/tcp/127.0.0.1/4222) 2>/dev/null && break; sleep 0.2; done
fi
pg_isready -h 127.0.0.1 -p 5432
