#!/bin/sh
# Sets up and runs the main job on a fresh Debian 12 machine: installs the dependencies,
# builds mynaguard, and runs mynaguard-agent with the shipped My Number terminal policy.
#
#   deploy/quickstart.sh            simulated USB bus (umockdev): 20 realistic devices
#                                   (storage, phones, network adapters, keyboards, FIDO keys,
#                                   card reader, BadUSB, ...) are decided, then the agent
#                                   keeps running until Ctrl-C (or exits at once with CI=true
#                                   or no terminal)
#   deploy/quickstart.sh --real     the real USB bus of this machine (a terminal): as root,
#                                   in the foreground; USB storage etc. is really blocked
#
# It also starts mynaguard-collector on embedded SQLite (127.0.0.1:8443, data in the demo
# directory) and creates an enrolment token. The agent does not upload to it yet (that is the
# event-pipeline issue): until then events stay in the agent's event log.
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
cmake --build "$build" -j "$(nproc)" --target mynaguard-agent mynaguardctl mynaguard-bench-usbgen \
  mynaguard-collector pam_mynaguard mynaguard-enroll

rm -rf "$demo"
mkdir -p "$demo/rules.d" "$demo/state"
chmod 0755 "$demo" "$demo/rules.d"
cp deploy/rules/mynumber-terminal.conf "$demo/rules.conf"
chmod 0644 "$demo/rules.conf"
sed -e "s|^rules_file = .*|rules_file = $demo/rules.conf|" \
    -e "s|^rules_dir = .*|rules_dir = $demo/rules.d|" \
    -e "s|^state_dir = .*|state_dir = $demo/state|" \
    -e "s|^socket = .*|socket = $demo/agent.sock|" \
    -e "s|^event_socket = .*|event_socket = $demo/events.sock|" \
    -e "s|^pam_pending_file = .*|pam_pending_file = $demo/auth-state/events.pending|" \
    -e "s|^uplink_binary = .*|uplink_binary = $build/agent/mynaguard-uplink|" \
    deploy/agent.conf > "$demo/agent.conf"
chmod 0600 "$demo/agent.conf"
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
$ctl status
echo
$ctl list-devices
echo
echo "events: $($ctl events --state-dir "$demo/state" | wc -l) in the spool $demo/state/spool ($ctl events --state-dir $demo/state); agent log: $demo/agent.log"
if ! kill -0 "$cpid" 2>/dev/null; then
  echo "quickstart: the collector did not start; its log:" >&2
  cat "$demo/collector.log" >&2
  exit 1
fi
echo "collector: https://127.0.0.1:8443 (SQLite in $demo/collector, CA $demo/collector/ca.pem);"
echo "  $(sed -n 's/^policy public key: /policy public key: /p' "$demo/collector-init.txt")"
echo "  enrolment token for a terminal: $token"
echo "  admin API: user admin, password in $demo/admin-password (docs/API.md), e.g."
echo "    curl --cacert $demo/collector/ca.pem https://127.0.0.1:8443/v1/admin/login \\"
echo "      -d '{\"name\":\"admin\",\"password\":\"'\$(cat $demo/admin-password)'\"}'"
echo "  CLI: $collector hosts|events|rules list --data-dir $demo/collector"
echo "  (agents do not enrol and upload yet: event-pipeline issue)"
if [ -t 0 ] && [ "${CI:-}" != "true" ]; then
  echo "mynaguard-agent is running on a simulated USB bus; stop with Ctrl-C."
  echo "Try: $ctl list-devices --json, $ctl generate-policy"
  wait "$pid"
fi
