#!/bin/bash
# Decision latency while unprivileged users flood the agent's control socket with
# connect/close (issue 11, item 6; docs/PERFORMANCE.md, "Control socket flood"). Under
# umockdev, 32 devices hot-plugged one at a time (uevent sent to `authorized` written), with
# no flood and with MG_BENCH_FLOODERS (default 2) processes running mynaguard-bench-ctlflood
# as nobody; each agent given, interleaved, MG_BENCH_REPS (default 3) times.
#
#   bench/run-ctl-flood-bench.sh [BUILD_DIR] [OLD_AGENT]
# BUILD_DIR as bench/run-usb-bench.sh says (also --target mynaguard-bench-ctlflood);
# OLD_AGENT: another mynaguard-agent binary to compare with (e.g. one built before a change).
# Runs as root. Prints a Markdown table; every wait is bounded.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
src=$(cd "$here/.." && pwd)
build=${1:-/tmp/benchbuild}
old=${2:-}
agent=$build/agent/mynaguard-agent
gen=$build/bench/mynaguard-bench-usbgen
harness=$build/bench/mynaguard-bench-usbharness
flood=$build/bench/mynaguard-bench-ctlflood
reps=${MG_BENCH_REPS:-3}
nflood=${MG_BENCH_FLOODERS:-2}
leaves=32

die() {
	echo "run-ctl-flood-bench: $*" >&2
	exit 1
}
for f in "$agent" "$gen" "$harness" "$flood"; do
	[ -x "$f" ] || die "$f missing: build with -DMYNAGUARD_BENCH=ON"
done
[ -z "$old" ] || [ -x "$old" ] || die "$old is not executable"
for t in umockdev-wrapper setpriv timeout; do
	command -v "$t" >/dev/null 2>&1 || die "$t not installed"
done
[ "$(id -u)" -eq 0 ] || die "run as root"

work=$(mktemp -d "${TMPDIR:-/tmp}/mg-floodbench.XXXXXX")
chmod 755 "$work" # the flooders (nobody) reach the socket below it
fpids=""
cleanup() {
	for p in $fpids; do kill "$p" 2>/dev/null || true; done
	rm -rf "$work"
}
trap cleanup EXIT
mkdir "$work/res"
"$gen" "$work/gen" "$leaves" 0 >/dev/null

# one TAG BIN FLOODERS REP
one() {
	local tag=$1 bin=$2 nf=$3 rep=$4 d=$work/run
	rm -rf "$d"
	mkdir -p "$d/rules.d" "$d/run" "$d/tmp" "$d/state"
	chmod 755 "$d" "$d/run"
	cp "$work/gen/rules-0.conf" "$d/rules.conf"
	chmod 600 "$d/rules.conf"
	sed -e "s|^rules_file = .*|rules_file = $d/rules.conf|" \
		-e "s|^rules_dir = .*|rules_dir = $d/rules.d|" \
		-e "s|^state_dir = .*|state_dir = $d/state|" \
		-e "s|^socket = .*|socket = $d/run/agent.sock|" \
		-e "s|^event_socket = .*|event_socket = $d/run/events.sock|" \
		-e "s|^pam_pending_file = .*|pam_pending_file = $d/state/events.pending|" \
		"$src/deploy/agent.conf" >"$d/agent.conf"
	chmod 600 "$d/agent.conf"
	fpids=""
	for i in $(seq 1 "$nf"); do
		setpriv --reuid=65534 --regid=65534 --clear-groups \
			timeout 300 "$flood" "$d/run/agent.sock" 300 >"$work/res/$tag-$nf-$rep.flood$i" &
		fpids="$fpids $!"
	done
	TMPDIR=$d/tmp timeout -k 3 300 umockdev-wrapper "$harness" --agent "$bin" \
		--config "$d/agent.conf" --gen "$work/gen" --hotplug "$leaves" --idle 0 \
		--timeout 60 --idle-wait 0 >"$work/res/$tag-$nf-$rep.txt" ||
		die "$tag run failed (flooders: $nf)"
	for p in $fpids; do kill -TERM "$p" 2>/dev/null || true; done
	for p in $fpids; do wait "$p" 2>/dev/null || true; done
	fpids=""
}

variants="new"
[ -n "$old" ] && variants="old new"
for rep in $(seq 1 "$reps"); do
	for nf in 0 "$nflood"; do
		for v in $variants; do
			bin=$agent
			[ "$v" = old ] && bin=$old
			echo "rep $rep/$reps: $v agent, $nf flooders" >&2
			one "$v" "$bin" "$nf" "$rep"
		done
	done
done

val() { sed -n "s/^$2=//p" "$1" | head -1; }
med() { # med TAG NF KEY: median [min-max] over the repetitions, in ms
	for f in "$work/res/$1-$2-"[0-9]*.txt; do val "$f" "$3"; done | sort -g |
		awk '{v[NR] = $1} END {printf "%.2f [%.2f-%.2f]", v[int((NR + 1) / 2)] / 1000, v[1] / 1000, v[NR] / 1000}'
}
rate() { # connections per second of all flooders together, median over repetitions
	for r in $(seq 1 "$reps"); do
		cat "$work/res/$1-$2-$r".flood* 2>/dev/null | sed -n 's/.*per_second=\([0-9]*\).*/\1/p' |
			awk '{s += $1} END {print s + 0}'
	done | sort -g | awk '{v[NR] = $1} END {print v[int((NR + 1) / 2)]}'
}
echo "- $(nproc) CPUs, $(awk -F': ' '/^model name/ {print $2; exit}' /proc/cpuinfo); kernel $(uname -r); $leaves devices hot-plugged one at a time; $reps repetitions: median [min-max]"
echo
echo "| Agent | Flooders (as nobody) | Refused connections/s | Hot plug p50, ms | p95, ms | max, ms |"
echo "|---|---|---|---|---|---|"
for v in $variants; do
	for nf in 0 "$nflood"; do
		printf "| %s | %s | %s | %s | %s | %s |\n" "$v" "$nf" \
			"$([ "$nf" -gt 0 ] && rate "$v" "$nf" || echo -)" \
			"$(med "$v" "$nf" hotplug_p50_us)" "$(med "$v" "$nf" hotplug_p95_us)" \
			"$(med "$v" "$nf" hotplug_max_us)"
	done
done
