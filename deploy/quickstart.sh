#!/bin/sh
# Sets up and runs the whole system on one fresh Debian 12 machine: installs the
# dependencies, builds mynaguard, starts mynaguard-collector on embedded SQLite, and
# mynaguard-agent with the shipped My Number terminal policy, enrolled to that collector.
#
#   deploy/quickstart.sh            simulated USB bus (umockdev): 20 realistic devices
#                                   (storage, phones, network adapters, keyboards, FIDO keys,
#                                   card reader, BadUSB, ...) are decided, then the agent
#                                   keeps running until Ctrl-C (or exits at once with CI=true
#                                   or no terminal)
#   deploy/quickstart.sh --real     the real USB bus of this machine (a terminal): as root,
#                                   in the foreground; USB storage etc. is really blocked
#
# The simulated run then shows the pipeline end to end: the agent enrols (its unprivileged
# mynaguard-uplink holds the TLS key), every decision arrives at the collector
# (`mynaguard-collector events`), a blocked USB stick is requested from the terminal
# (`mynaguardctl request`), approved through the admin API, and allowed after the next policy
# poll without re-plugging. As root the uplink runs as the system user `mynaguard` (created
# here if missing, as the packages do).
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
build=${MG_BUILD_DIR:-$top/build}
demo=${MG_DEMO_DIR:-/tmp/mynaguard-quickstart}
real=0
[ "${1:-}" = "--real" ] && real=1

if [ "$(id -u)" -eq 0 ]; then
  sh deploy/install-build-deps.sh
else
  echo "quickstart: not root; assuming the dependencies are installed (deploy/install-build-deps.sh)"
fi
cmake -S "$top" -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DMYNAGUARD_TESTS=OFF >/dev/null
cmake --build "$build" -j "$(nproc)" --target mynaguard-agent mynaguardctl mynaguard-uplink \
  mynaguard-bench-usbgen mynaguard-collector pam_mynaguard mynaguard-enroll

rm -rf "$demo"
mkdir -p "$demo/rules.d"
mkdir -m 0700 "$demo/state"
chmod 0755 "$demo" "$demo/rules.d"
cp deploy/rules/mynumber-terminal.conf "$demo/rules.conf"
chmod 0644 "$demo/rules.conf"
sed -e "s|^rules_file = .*|rules_file = $demo/rules.conf|" \
    -e "s|^rules_dir = .*|rules_dir = $demo/rules.d|" \
    -e "s|^state_dir = .*|state_dir = $demo/state|" \
    -e "s|^socket = .*|socket = $demo/agent.sock|" \
    -e "s|^event_socket = .*|event_socket = $demo/events.sock|" \
    -e "s|^pam_pending_file = .*|pam_pending_file = $demo/auth-state/events.pending|" \
    -e "s|^staff_db = .*|staff_db = $demo/staff.db|" \
    -e "s|^uplink_binary = .*|uplink_binary = $build/agent/mynaguard-uplink|" \
    -e "s|^poll_interval = .*|poll_interval = 2|" \
    deploy/agent.conf > "$demo/agent.conf"
chmod 0600 "$demo/agent.conf"
if [ "$(id -u)" -eq 0 ] && ! id mynaguard >/dev/null 2>&1; then
  useradd --system --home-dir /nonexistent --no-create-home --shell /usr/sbin/nologin mynaguard
fi
ctl="$build/agent/mynaguardctl --socket $demo/agent.sock"

if [ "$real" -eq 1 ]; then
  [ "$(id -u)" -eq 0 ] || { echo "quickstart --real: run as root" >&2; exit 1; }
  echo "mynaguard-agent on the real USB bus; stop with Ctrl-C. In another shell: $ctl list-devices"
  exec "$build/agent/mynaguard-agent" --config "$demo/agent.conf"
fi

# The collector on embedded SQLite.
collector="$build/server/mynaguard-collector"
# The first administrator's password: random, kept 0600 beside the demo.
( umask 077; openssl rand -base64 18 > "$demo/admin-password" )
"$collector" init --data-dir "$demo/collector" --admin admin \
  --admin-password-file "$demo/admin-password" >"$demo/collector-init.txt"
"$collector" serve --data-dir "$demo/collector" --listen 127.0.0.1:8443 \
  2>"$demo/collector.log" &
cpid=$!
token=$("$collector" token create --data-dir "$demo/collector" --expires 1d)
[ -n "$token" ] || { echo "quickstart: no enrolment token" >&2; exit 1; }

"$build/bench/mynaguard-bench-usbgen" "$demo/devices" 20 >/dev/null
umockdev-run -d "$demo/devices/all.umockdev" -- \
  "$build/agent/mynaguard-agent" --config "$demo/agent.conf" 2>"$demo/agent.log" &
pid=$!
trap 'kill "$pid" "$cpid" 2>/dev/null || true' EXIT INT TERM
i=0
until $ctl status >/dev/null 2>&1; do
  i=$((i + 1))
  if [ "$i" -gt 100 ] || ! kill -0 "$pid" 2>/dev/null; then
    echo "quickstart: the agent did not start; its log:" >&2
    cat "$demo/agent.log" >&2
    exit 1
  fi
  sleep 0.1
done
if ! kill -0 "$cpid" 2>/dev/null; then
  echo "quickstart: the collector did not start; its log:" >&2
  cat "$demo/collector.log" >&2
  exit 1
fi
url=https://127.0.0.1:8443
echo "== enrolment (mynaguardctl enroll)"
$ctl enroll --collector "$url" --token "$token" --ca "$demo/collector/ca.pem"
$ctl sync
echo
$ctl status
echo
$ctl list-devices
echo
# A blocked USB stick: the first device the agent blocked that has a storage interface.
id=$($ctl list-devices --json | awk '
  /"id":/ { gsub(/[^0-9]/, "", $2); id = $2 }
  /"08:/ { storage = 1 }
  /"target": "block"/ { if (storage) { print id; exit } }
  /^  }/ { storage = 0 }')
if [ -n "$id" ]; then
  echo "== device request for device $id (mynaguardctl request), approved by the admin"
  $ctl request "$id" --reason "窓口で住民の書類をスキャン (quickstart)"
  $ctl sync >/dev/null
  pw=$(cat "$demo/admin-password")
  session=$(curl -sf --cacert "$demo/collector/ca.pem" "$url/v1/admin/login" \
    -H 'Content-Type: application/json' \
    -d "{\"name\":\"admin\",\"password\":\"$pw\"}" | sed -n 's/.*"token": *"\([^"]*\)".*/\1/p')
  rid=$(curl -sf --cacert "$demo/collector/ca.pem" -H "Authorization: Bearer $session" \
    "$url/v1/admin/requests?state=pending" | grep -o '"id": *[0-9]*' | head -n 1 | grep -o '[0-9]*$')
  curl -sf --cacert "$demo/collector/ca.pem" -H "Authorization: Bearer $session" \
    -H 'Content-Type: application/json' -d '{}' "$url/v1/admin/requests/$rid/approve" >/dev/null
  echo "approved request $rid on the collector; the terminal polls the new policy:"
  i=0
  until $ctl list-devices --json | awk -v id="$id" '
      /"id":/ { gsub(/[^0-9]/, "", $2); cur = $2 }
      /"target": "allow"/ { if (cur == id) found = 1 }
      END { exit !found }'; do
    i=$((i + 1))
    [ "$i" -gt 100 ] && { echo "quickstart: the approval did not reach the terminal" >&2; exit 1; }
    sleep 0.2
  done
  $ctl requests
  $ctl list-devices | grep -A2 "^ *$id " || true
fi
$ctl sync >/dev/null
echo
echo "== the collector's view (mynaguard-collector events)"
"$collector" events --data-dir "$demo/collector" | tail -n 12
echo
echo "events in the terminal's spool: $($ctl events --state-dir "$demo/state" | wc -l) ($ctl events --state-dir $demo/state); agent log: $demo/agent.log"
echo "collector: $url (SQLite in $demo/collector, CA $demo/collector/ca.pem);"
echo "  $(sed -n 's/^policy public key: /policy public key: /p' "$demo/collector-init.txt")"
echo "  admin API: user admin, password in $demo/admin-password (docs/API.md)"
echo "  CLI: $collector hosts|events|rules list --data-dir $demo/collector"
if [ -t 0 ] && [ "${CI:-}" != "true" ]; then
  echo "mynaguard-agent is running on a simulated USB bus; stop with Ctrl-C."
  echo "Try: $ctl list-devices --json, $ctl status, $ctl generate-policy"
  wait "$pid"
fi
