#!/usr/bin/env bash
# Installs what a fresh Debian machine lacks to build and run the cloud.
#   (no argument)  build deps of libvirt-python (libvirt-dev, pkg-config, gcc, python3-dev, venv)
#   --test         also MariaDB, RabbitMQ, QEMU and libvirtd for the tests, started if not running
set -euo pipefail

want=(libvirt-dev pkg-config gcc python3-dev python3-venv)
if [ "${1:-}" = "--test" ]; then
  want+=(mariadb-server rabbitmq-server libvirt-daemon-system qemu-system-x86 qemu-utils
         busybox-static cpio xz-utils)
fi

missing=()
for pkg in "${want[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done

# python3-venv is only needed when the interpreter lacks the venv module.
if python3 -c "import venv, ensurepip" 2>/dev/null; then
  missing=("${missing[@]/python3-venv}")
fi
missing=($(printf '%s\n' "${missing[@]}" | grep -v '^$' || true))

if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" != 0 ]; then
    echo "missing packages: ${missing[*]}; install them as root (apt-get install ${missing[*]})" >&2
    exit 1
  fi
  echo "installing: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -q -o DPkg::Lock::Timeout=600 >/dev/null
  apt-get install -y -q --no-install-recommends -o DPkg::Lock::Timeout=600 "${missing[@]}" >/dev/null
fi

[ "${1:-}" = "--test" ] || exit 0

# Start the servers the integration tests use, if they are not running (no systemd needed).
if ! mariadb-admin -uroot ping >/dev/null 2>&1; then
  echo "starting MariaDB"
  mkdir -p /run/mysqld && chown mysql:mysql /run/mysqld 2>/dev/null || true
  start-stop-daemon --start --oknodo --background --exec /usr/sbin/mariadbd -- --user=mysql
  for _ in $(seq 60); do mariadb-admin -uroot ping >/dev/null 2>&1 && break; sleep 1; done
fi
if ! rabbitmqctl -q status >/dev/null 2>&1; then
  echo "starting RabbitMQ"
  rabbitmq-server -detached
  for _ in $(seq 90); do rabbitmqctl -q status >/dev/null 2>&1 && break; sleep 1; done
fi
mariadb-admin -uroot ping >/dev/null
rabbitmqctl -q status >/dev/null
# The deployed topology runs ~20 processes per cloud, each with a connection pool,
# and the tests run a few clouds in turn: the default of 151 connections is too few.
if [ "$(mariadb -uroot -N -e 'SELECT @@max_connections')" -lt 1000 ]; then
  mariadb -uroot -e "SET GLOBAL max_connections = 1000"
fi
