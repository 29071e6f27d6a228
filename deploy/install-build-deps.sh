#!/bin/sh
# Installs every package listed in deploy/debian-build-deps.txt (Debian 12). Needs root.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
pkgs=$(sed -e 's/#.*//' -e '/^[[:space:]]*$/d' "$here/debian-build-deps.txt" | tr '\n' ' ')
if [ "$(id -u)" -ne 0 ]; then
  echo "install-build-deps.sh: run as root (or: sudo $0)" >&2
  exit 1
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -q
# shellcheck disable=SC2086
apt-get install -y -q --no-install-recommends $pkgs
# usbguard's package starts its daemon; mynaguard only uses it as a reference in tests.
if command -v systemctl >/dev/null 2>&1 && systemctl is-active --quiet usbguard 2>/dev/null; then
  systemctl stop usbguard || true
fi
