#!/bin/bash
# Event pipeline benchmark (issue 12; method and results: docs/PERFORMANCE.md, "Event pipeline
# (issue 12)"). In one run, on this machine:
#   1. device decision -> event stored by the collector (SQLite): hot plugs under umockdev with
#      the agent enrolled to a local mynaguard-collector through its mynaguard-uplink; with no
#      other load and while 100 other enrolled terminals post event batches over HTTPS
#      (mynaguard-bench-pipeline-load); interleaved repetitions
#   2. RSS: agent and uplink idle with the pipeline on, next to usbguard-daemon with the same
#      rules (75 device rules, 10,000 rules); the agent with 100,000 unsent events spooled
#      while the collector is down, and after a restart on that spool
#   3. idle wake-ups of the agent and the uplink with poll and heartbeat at their 60 s defaults
#
#   bench/run-pipeline-bench.sh [BUILD_DIR]      (default BUILD_DIR: /tmp/benchbuild)
#
# Build first (no sanitizers):
#   cmake -S . -B /tmp/benchbuild -DCMAKE_BUILD_TYPE=RelWithDebInfo -DMYNAGUARD_BENCH=ON \
#       -DMYNAGUARD_TESTS=OFF
#   cmake --build /tmp/benchbuild -j2 --target mynaguard-agent mynaguardctl mynaguard-uplink \
#       mynaguard-collector mynaguard-bench-usbgen mynaguard-bench-pipeline \
#       mynaguard-bench-pipeline-load
# Runs as root (usbguard-daemon needs it; the agent runs its uplink as "nobody"). About 5-7
# minutes. Environment: MG_BENCH_REPS (latency repetitions per load setting, default 3),
# MG_BENCH_PLUGS (security hot plugs per run, 300), MG_BENCH_ROUTINE_PLUGS (routine hot plugs
# per run, 5), MG_BENCH_LOAD_AGENTS (100), MG_BENCH_LOAD_EVENTS (events per batch, 10),
# MG_BENCH_LOAD_INTERVAL_MS (one batch per terminal every 1000 ms), MG_BENCH_IDLE (seconds of
# idle measurement with 60 s intervals, 120: two whole periods), MG_BENCH_FILL (unsent events,
# 100000), MG_BENCH_RULES (the large rule set, 10000), MG_BENCH_TRIM (1 when gdb is installed:
# after each memory measurement gdb calls malloc_trim(0) in the agent and its VmRSS is read
# again, a diagnosis of heap kept by glibc; 0: not), MG_KEEP=1 keeps the work directory.
# Prints the machine facts and Markdown tables on stdout. Every wait is bounded; the
# collectors and usbguard run under timeout(1), the agent dies with its harness, and
# everything started here is stopped and the work directory removed on exit (also on failure).
set -eu

here=$(cd "$(dirname "$0")" && pwd)
src=$(cd "$here/.." && pwd)
build=${1:-/tmp/benchbuild}
agent=$build/agent/mynaguard-agent
ctlbin=$build/agent/mynaguardctl
uplink=$build/agent/mynaguard-uplink
collector=$build/server/mynaguard-collector
gen=$build/bench/mynaguard-bench-usbgen
harness=$build/bench/mynaguard-bench-pipeline
loadgen=$build/bench/mynaguard-bench-pipeline-load
reps=${MG_BENCH_REPS:-3}
plugs=${MG_BENCH_PLUGS:-300}
routine=${MG_BENCH_ROUTINE_PLUGS:-5}
load_agents=${MG_BENCH_LOAD_AGENTS:-100}
load_events=${MG_BENCH_LOAD_EVENTS:-10}
load_interval=${MG_BENCH_LOAD_INTERVAL_MS:-1000}
idle=${MG_BENCH_IDLE:-120}
fill=${MG_BENCH_FILL:-100000}
big_rules=${MG_BENCH_RULES:-10000}
ndev=64
trim=${MG_BENCH_TRIM:-$(command -v gdb >/dev/null 2>&1 && echo 1 || echo 0)}
trim_arg=
[ "$trim" = 1 ] && trim_arg=--trim-probe

die() {
	echo "run-pipeline-bench: $*" >&2
	exit 1
}
for f in "$agent" "$ctlbin" "$uplink" "$collector" "$gen" "$harness" "$loadgen"; do
	[ -x "$f" ] || die "$f missing: build with -DMYNAGUARD_BENCH=ON (see the header)"
done
for t in usbguard-daemon umockdev-wrapper unshare timeout; do
	command -v "$t" >/dev/null 2>&1 || die "$t not installed"
done
[ "$(id -u)" -eq 0 ] || die "run as root"
id nobody >/dev/null 2>&1 || die "no user 'nobody' for the uplink"

work=$(mktemp -d "${TMPDIR:-/tmp}/mg-pipebench.XXXXXX")
coll_tpid='' coll2_tpid='' load_pid='' ug_tpid=''
running() { # running PID: the process exists and is not a zombie
	[ -r "/proc/$1/stat" ] && ! awk '{sub(/^.*\) /, ""); exit ($1 == "Z" ? 0 : 1)}' "/proc/$1/stat"
}
stop_pid() { # stop_pid PID: SIGTERM, then SIGKILL after 10 s; reaps it
	[ -n "$1" ] || return 0
	kill -TERM "$1" 2>/dev/null || return 0
	for _ in $(seq 1 100); do
		running "$1" || break
		sleep 0.1
	done
	running "$1" && kill -KILL "$1" 2>/dev/null
	wait "$1" 2>/dev/null || true
}
# shellcheck disable=SC2317 # called by the EXIT trap
cleanup() {
	stop_pid "$load_pid"
	stop_pid "$ug_tpid"
	stop_pid "$coll_tpid"
	stop_pid "$coll2_tpid"
	if [ -n "${MG_KEEP:-}" ]; then
		echo "work directory kept: $work" >&2
	else
		rm -rf "$work"
	fi
}
trap cleanup EXIT
trap 'exit 129' HUP
trap 'exit 130' INT
trap 'exit 143' TERM
mkdir "$work/res"

# --- devices and rules ----------------------------------------------------------------
"$gen" "$work/gen" "$ndev" 0 "$big_rules" >/dev/null
ndevices=$(wc -l <"$work/gen/devices.txt")
# The latency runs: hubs, HID and smart-card readers allowed, everything else blocked (the
# shipped profile's core), so that some leaves are blocked (security events) and some allowed.
printf '%s\n' 'allow with-interface match-all { 09:00:* }' \
	'allow with-interface one-of { 03:*:* 0b:*:* }' >"$work/gen/rules-pipeline.conf"

# --- collectors ---------------------------------------------------------------------------
# start_collector NAME: a new data directory, `serve` on a free port under timeout(1).
# Sets c_dir, c_port, c_tpid (timeout's pid), c_pid (the collector's).
start_collector() {
	c_dir=$work/$1
	printf 'bench admin password, long enough\n' >"$work/$1.pw"
	chmod 600 "$work/$1.pw"
	"$collector" init --data-dir "$c_dir" --db "sqlite:$c_dir/collector.db" \
		--admin benchadmin --admin-password-file "$work/$1.pw" >"$work/$1.init.log" 2>&1 ||
		die "collector init failed: $(cat "$work/$1.init.log")"
	: >"$work/$1.port"
	timeout -k 3 1800 "$collector" serve --data-dir "$c_dir" --db "sqlite:$c_dir/collector.db" \
		--listen 127.0.0.1:0 --ready-fd 3 3>"$work/$1.port" </dev/null >"$work/$1.log" 2>&1 &
	c_tpid=$!
	c_port=
	for _ in $(seq 1 300); do
		c_port=$(head -n1 "$work/$1.port" 2>/dev/null || true)
		[ -n "$c_port" ] && break
		kill -0 "$c_tpid" 2>/dev/null || die "collector $1 exited: $(tail -n 5 "$work/$1.log")"
		sleep 0.1
	done
	[ -n "$c_port" ] || die "collector $1 did not announce its port"
	c_pid=$(awk '{print $1}' "/proc/$c_tpid/task/$c_tpid/children")
	[ -n "$c_pid" ] || die "no collector process under timeout"
}
token() { # token USES: a new enrolment token of the collector in c_dir
	"$collector" token create --data-dir "$c_dir" --db "sqlite:$c_dir/collector.db" \
		--uses "$1" | head -n1
}
cpu_ticks() { # utime + stime of PID
	awk '{print $14 + $15}' "/proc/$1/stat"
}

start_collector coll
coll_tpid=$c_tpid
coll_pid=$c_pid
coll_dir=$c_dir
coll_port=$c_port
agent_token=$(token 100)
load_token=$(token "$load_agents")

# --- one agent run ------------------------------------------------------------------------
# mg_run NAME RULES_FILE COLLECTOR_DIR PORT TOKEN HARNESS_ARGS...: res/NAME.txt
mg_run() {
	local name=$1 rules=$2 cdir=$3 port=$4 tok=$5 r=$work/run-$1
	shift 5
	mkdir -p "$r/rules.d" "$r/run" "$r/tmp"
	mkdir -m 0700 "$r/state"
	cp "$rules" "$r/rules.conf"
	chmod 600 "$r/rules.conf"
	sed -e "s|^rules_file = .*|rules_file = $r/rules.conf|" \
		-e "s|^rules_dir = .*|rules_dir = $r/rules.d|" \
		-e "s|^state_dir = .*|state_dir = $r/state|" \
		-e "s|^socket = .*|socket = $r/run/agent.sock|" \
		-e "s|^event_socket = .*|event_socket = $r/run/events.sock|" \
		-e "s|^pam_pending_file = .*|pam_pending_file = $r/events.pending|" \
		-e "s|^staff_db = .*|staff_db = $r/staff.db|" \
		-e "s|^uplink_user = .*|uplink_user = nobody|" \
		-e "s|^uplink_binary = .*|uplink_binary = $uplink|" \
		"$src/deploy/agent.conf" >"$r/agent.conf"
	chmod 600 "$r/agent.conf"
	TMPDIR=$r/tmp timeout -k 3 900 umockdev-wrapper "$harness" --agent "$agent" \
		--ctl "$ctlbin" --config "$r/agent.conf" --gen "$work/gen" \
		--collector "https://127.0.0.1:$port" --token "$tok" --ca "$cdir/ca.pem" \
		--db "$cdir/collector.db" "$@" >"$work/res/$name.txt" 2>"$work/res/$name.err" || {
		tail -n 20 "$work/res/$name.err" >&2
		tail -n 20 "$r/state/agent.log" >&2 || true
		die "agent run $name failed"
	}
	cp "$r/state/agent.log" "$work/res/$name.log" 2>/dev/null || true
	rm -rf "$r"
}

# --- usbguard (as bench/run-usb-bench.sh runs it) ----------------------------------------
# ug_run NAME RULES_FILE: res/NAME.txt with rss_kb once every present device is decided.
ug_run() {
	local d=$work/ug out=$work/res/$1.txt pid='' n=0
	rm -rf "$d"
	mkdir -p "$d/present" "$d/tmp"
	ln "$work/gen/present/"*.umockdev "$d/present/"
	cp "$2" "$d/rules.conf"
	cat >"$d/daemon.conf" <<EOF
RuleFile=$d/rules.conf
ImplicitPolicyTarget=block
PresentDevicePolicy=apply-policy
PresentControllerPolicy=apply-policy
InsertedDevicePolicy=apply-policy
RestoreControllerDeviceState=false
DeviceManagerBackend=umockdev
IPCAllowedUsers=root
AuditBackend=FileAudit
AuditFilePath=$d/audit.log
EOF
	chmod 600 "$d/rules.conf" "$d/daemon.conf"
	USBGUARD_UMOCKDEV_DEVICEDIR=$d/present TMPDIR=$d/tmp \
		timeout -k 3 300 unshare -n umockdev-wrapper usbguard-daemon -k -P -c "$d/daemon.conf" \
		</dev/null >"$d/daemon.log" 2>&1 &
	ug_tpid=$!
	for _ in $(seq 1 500); do
		pid=$(awk '{print $1}' "/proc/$ug_tpid/task/$ug_tpid/children" 2>/dev/null || true)
		[ -n "$pid" ] && [ "$(cat "/proc/$pid/comm" 2>/dev/null)" = usbguard-daemon ] && break
		pid=
		sleep 0.01
	done
	[ -n "$pid" ] || die "usbguard-daemon did not start (see $d/daemon.log)"
	for _ in $(seq 1 4000); do
		n=$(grep -a -c "type='Policy.Device.Update'" "$d/audit.log" 2>/dev/null || true)
		[ "${n:-0}" -ge "$ndevices" ] && break
		kill -0 "$pid" 2>/dev/null || die "usbguard-daemon exited (see $d/daemon.log)"
		sleep 0.05
	done
	[ "${n:-0}" -ge "$ndevices" ] || die "usbguard decided $n of $ndevices devices"
	sleep 1
	awk '/^VmRSS:/ {print "rss_kb=" $2} /^VmHWM:/ {print "hwm_kb=" $2}' "/proc/$pid/status" >"$out"
	kill -TERM "$pid" 2>/dev/null || true # the daemon itself: timeout then exits with it
	for _ in $(seq 1 150); do
		running "$pid" || break
		sleep 0.1
	done
	stop_pid "$ug_tpid"
	ug_tpid=
}

# --- the load: 100 other terminals --------------------------------------------------------
"$loadgen" --port "$coll_port" --ca "$coll_dir/ca.pem" --token "$load_token" \
	--agents "$load_agents" --events "$load_events" --interval-ms "$load_interval" \
	--max-seconds 1800 >"$work/load.out" 2>"$work/load.err" &
load_pid=$!
for _ in $(seq 1 1200); do
	grep -q '^ready' "$work/load.out" 2>/dev/null && break
	kill -0 "$load_pid" 2>/dev/null || die "load generator exited: $(tail -n 5 "$work/load.err")"
	sleep 0.1
done
grep -q '^ready' "$work/load.out" || die "load generator not ready in 120 s"
periods=0
load_on() {
	kill -USR1 "$load_pid"
	sleep 3 # every terminal has sent a few batches
}
load_off() { # load_off NAME: its period's line into res/NAME.load
	kill -USR2 "$load_pid"
	periods=$((periods + 1))
	for _ in $(seq 1 600); do
		[ "$(grep -c '^period=' "$work/load.out")" -ge "$periods" ] && break
		sleep 0.1
	done
	grep "^period=$periods " "$work/load.out" | tr ' ' '\n' >"$work/res/$1.load" ||
		die "the load generator did not report period $periods"
}

load_before=$(cut -d' ' -f1-3 /proc/loadavg)
t_start=$(date +%s)

# --- 1. decision -> stored, interleaved ---------------------------------------------------
for rep in $(seq 1 "$reps"); do
	order="none load"
	[ $((rep % 2)) -eq 0 ] && order="load none"
	for cond in $order; do
		echo "latency rep $rep/$reps: $cond" >&2
		name=lat-$cond-$rep
		[ "$cond" = load ] && load_on
		c0=$(cpu_ticks "$coll_pid")
		s0=$(date +%s.%N)
		mg_run "$name" "$work/gen/rules-pipeline.conf" "$coll_dir" "$coll_port" "$agent_token" \
			--plugs "$plugs" --routine-plugs "$routine" --samples "$work/res/$name.samples" \
			--settle 0
		c1=$(cpu_ticks "$coll_pid")
		s1=$(date +%s.%N)
		awk -v a="$c0" -v b="$c1" -v s="$s0" -v e="$s1" -v hz="$(getconf CLK_TCK)" \
			'BEGIN {printf "collector_cpu_pct=%.1f\n", 100 * (b - a) / hz / (e - s)}' \
			>>"$work/res/$name.txt"
		[ "$cond" = load ] && load_off "$name"
	done
done

# --- 2. and 3. RSS next to usbguard, idle wake-ups ----------------------------------------
for rep in 1 2; do
	idle_now=5
	[ "$rep" -eq 1 ] && idle_now=$idle
	for cfg in 0 "$big_rules"; do
		echo "memory rep $rep/2: $cfg rules: usbguard" >&2
		ug_run "ug-$cfg-$rep" "$work/gen/rules-$cfg.conf"
		i=5
		[ "$cfg" = 0 ] && i=$idle_now
		echo "memory rep $rep/2: $cfg rules: mynaguard, ${i} s idle" >&2
		mg_run "mem-$cfg-$rep" "$work/gen/rules-$cfg.conf" "$coll_dir" "$coll_port" \
			"$agent_token" --settle 5 --idle "$i" ${trim_arg:+"$trim_arg"}
	done
done

# --- 2. 100,000 unsent events: a collector of its own, stopped after the enrolment ---------
echo "spool: $fill unsent events with the collector down" >&2
start_collector coll2
coll2_tpid=$c_tpid
mg_run fill "$work/gen/rules-0.conf" "$c_dir" "$c_port" "$(token 1)" \
	--settle 3 --fill "$fill" --kill-collector "$c_pid" --restart ${trim_arg:+"$trim_arg"}
stop_pid "$coll2_tpid"
coll2_tpid=
load_after=$(cut -d' ' -f1-3 /proc/loadavg)
elapsed=$(($(date +%s) - t_start))

# --- report ---------------------------------------------------------------------------------
val() { # val FILE KEY
	sed -n "s/^$2=//p" "$1" | head -n1
}
# med PATTERN KEY DIV DEC: "median [min-max]" of KEY over res/PATTERN.txt, divided by DIV.
med() {
	local f
	for f in "$work"/res/$1.txt; do val "$f" "$2"; done | sort -g |
		awk -v d="$3" -v p="$4" '{v[NR] = $1 / d} END {
			if (NR == 0) {print "?"; exit}
			f = "%." p "f"; printf f, v[int((NR + 1) / 2)]
			if (NR > 1) printf " [" f "-" f "]", v[1], v[NR]; print ""}'
}
# medload COND KEY: the load generator's figure over the load runs.
medload() {
	local f
	for f in "$work"/res/lat-load-*.load; do val "$f" "$1"; done | sort -g |
		awk '{v[NR] = $1} END {if (NR == 0) {print "?"; exit}
			printf "%s", v[int((NR + 1) / 2)]; if (NR > 1) printf " [%s-%s]", v[1], v[NR]; print ""}'
}
num() { # num PATTERN KEY: the median as a plain number
	local f
	for f in "$work"/res/$1.txt; do val "$f" "$2"; done | sort -g |
		awk '{v[NR] = $1} END {print (NR ? v[int((NR + 1) / 2)] : 0)}'
}

cpu=$(awk -F': ' '/^model name/ {print $2; exit}' /proc/cpuinfo)
mg_commit=$(git -C "$src" rev-parse --short HEAD 2>/dev/null || echo unknown)
if [ -n "$(git -C "$src" status --porcelain 2>/dev/null)" ]; then mg_commit="$mg_commit+changes"; fi
echo "### Machine and run"
echo
echo "- $(nproc) CPUs, $cpu; $(awk '/^MemTotal/ {printf "%.0f GiB RAM", $2 / 1048576}' /proc/meminfo); kernel $(uname -r)"
echo "- mynaguard $("$agent" --version | awk '{print $2}') ($mg_commit), SQLite $(sqlite3 --version 2>/dev/null | cut -d' ' -f1 || echo '?')," \
	"libcurl $(pkg-config --modversion libcurl 2>/dev/null || echo '?'), usbguard $(dpkg-query -W -f '${Version}' usbguard 2>/dev/null || echo '?')," \
	"umockdev $(dpkg-query -W -f '${Version}' umockdev 2>/dev/null || echo '?')"
echo "- work directory on $(df -T "$work" | awk 'NR == 2 {print $2}') (spool, collector database, umockdev testbeds); collector, load generator, agent and uplink on the same $(nproc) CPUs"
echo "- $ndevices USB devices present ($ndev leaves); latency: $reps repetitions per setting, interleaved, $plugs security and $routine routine hot plugs each; median [min-max] of the per-run figures"
echo "- load: $load_agents terminals, a batch of $load_events events every $load_interval ms each"
echo "- load average before $load_before, after $load_after; $elapsed s"
echo
echo "### Decision to stored on the collector, ms (event \"time\" to the row visible in the collector's SQLite database)"
echo
echo "| Events | Other load | hot plugs | p50 | p95 | p99 | max | p99 of each run | p50 decision to collector received | p50 received to committed | collector CPU |"
echo "|---|---|---|---|---|---|---|---|---|---|---|"
# pooled CLASS COND: "n p50 p95 p99 max p50_to_received p50_commit" (ms) over every hot plug
# of every run (nearest rank).
pooled() {
	local col
	cat "$work"/res/lat-"$2"-*.samples >"$work/pool"
	awk -v c="$1" '$1 == c {n++} END {printf "%d", n}' "$work/pool"
	# column 2: total; 3: decision to received; 4: received to committed
	for col in 2:50 2:95 2:99 2:100 3:50 4:50; do
		awk -v c="$1" -v k="${col%%:*}" '$1 == c {print $k}' "$work/pool" | sort -n |
			awk -v p="${col#*:}" '{v[NR] = $1} END {
				if (!NR) {printf " ?"; exit}
				k = int((NR * p + 99) / 100); if (k < 1) k = 1
				printf " %.1f", v[k] / 1000}'
	done
	echo
}
for cls in security routine; do
	for cond in none load; do
		lbl="security (device.blocked, sent at once)"
		[ "$cls" = routine ] && lbl="routine (device.allowed, sent within 2 s)"
		ld="none"
		[ "$cond" = load ] && ld="$load_agents uplinks sending"
		read -r n p50 p95 p99 pmax r50 c50 <<<"$(pooled "$cls" "$cond")"
		printf "| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s%% |\n" "$lbl" "$ld" \
			"$n" "$p50" "$p95" "$p99" "$pmax" "$(med "lat-$cond-*" "${cls}_p99_us" 1000 1)" \
			"$r50" "$c50" "$(med "lat-$cond-*" collector_cpu_pct 1 0)"
	done
done
echo
echo "p50 to max: every hot plug of the $reps runs of a setting together; p99 of each run: median [min-max] over the runs."
echo
echo "Load generator during the load runs: $(medload events_per_s) events/s in $(medload batches) batches," \
	"acknowledgement p50 $(medload ack_p50_ms) ms, p99 $(medload ack_p99_ms) ms, max $(medload ack_max_ms) ms;" \
	"failed $(medload failed), 503 $(medload busy503), slots skipped (previous batch unanswered) $(medload late);" \
	"generator CPU $(medload cpu_pct)%."
echo
echo "### Memory, idle with the pipeline on (VmRSS, MiB; agent enrolled, uplink running, all events acknowledged)"
echo
echo "| Rules | usbguard | mynaguard-agent | agent / usbguard | mynaguard-uplink | agent peak (VmHWM) | agent after malloc_trim(0) |"
echo "|---|---|---|---|---|---|---|"
for cfg in 0 "$big_rules"; do
	u=$(num "ug-$cfg-*" rss_kb)
	m=$(num "mem-$cfg-*" idle_end_agent_rss_kb)
	lbl="$cfg + 75 device rules"
	[ "$cfg" = 0 ] && lbl="75 device rules"
	printf "| %s | %s | %s | %s | %s | %s | %s |\n" "$lbl" "$(med "ug-$cfg-*" rss_kb 1024 1)" \
		"$(med "mem-$cfg-*" idle_end_agent_rss_kb 1024 2)" \
		"$(awk -v u="$u" -v m="$m" 'BEGIN {printf "%.2f", (u > 0 ? m / u : 0)}')" \
		"$(med "mem-$cfg-*" idle_end_uplink_rss_kb 1024 2)" \
		"$(med "mem-$cfg-*" idle_end_agent_hwm_kb 1024 2)" \
		"$(if [ "$trim" = 1 ]; then med "mem-$cfg-*" idle_end_trimmed_agent_rss_kb 1024 2; else echo "not run"; fi)"
done
echo
echo "Agent VmRSS by mapping, KiB (smaps, 75 device rules, first repetition):" \
	"$(val "$work/res/mem-0-1.txt" idle_end_maps | sed 's/,/, /g; s/:/ /g')."
echo
f=$work/res/fill.txt
echo "### $fill unsent events spooled, collector down (75 device rules)"
echo
echo "| State | spool depth, events | spool, MiB | agent VmRSS, MiB | agent VmHWM, MiB | agent VmRSS after malloc_trim(0), MiB | uplink VmRSS, MiB |"
echo "|---|---|---|---|---|---|---|"
mib() { awk -v v="$1" 'BEGIN {if (v == "") print "-"; else printf "%.2f", v / 1024}'; }
for p in before_fill after_fill restart; do
	case $p in
	before_fill) lbl="enrolled, collector just stopped" ;;
	after_fill) lbl="after $fill auth events through the event socket" ;;
	restart) lbl="agent restarted on that spool (ready in $(awk -v v="$(val "$f" restart_ready_us)" 'BEGIN {printf "%.0f", v / 1000}') ms)" ;;
	esac
	printf "| %s | %s | %.1f | %s | %s | %s | %s |\n" "$lbl" "$(val "$f" "${p}_spool_depth")" \
		"$(awk -v v="$(val "$f" "${p}_spool_bytes")" 'BEGIN {print v / 1048576}')" \
		"$(mib "$(val "$f" "${p}_agent_rss_kb")")" "$(mib "$(val "$f" "${p}_agent_hwm_kb")")" \
		"$(mib "$(val "$f" "${p}_trimmed_agent_rss_kb")")" "$(mib "$(val "$f" "${p}_uplink_rss_kb")")"
done
echo
echo "Agent VmRSS by mapping after the fill, KiB: $(val "$f" after_fill_maps | sed 's/,/, /g; s/:/ /g')."
echo
echo "Fill: $(val "$f" fill_events) events in $(val "$f" fill_s) s ($(val "$f" fill_events_per_s) events/s; one connection and one fdatasync each, 8 connections in flight)."
echo
f=$work/res/mem-0-1.txt
s=$(val "$f" idle_s)
echo "### Idle with the pipeline on, poll and heartbeat every 60 s (75 device rules), over $s s"
echo
echo "| Process | times run (schedstat) | per minute | context switches | per minute | CPU, ms |"
echo "|---|---|---|---|---|---|"
for p in agent uplink; do
	printf "| mynaguard-%s | %s | %s | %s | %s | %s |\n" "$p" "$(val "$f" "idle_${p}_runs")" \
		"$(awk -v v="$(val "$f" "idle_${p}_runs")" -v s="$s" 'BEGIN {printf "%.1f", v * 60 / s}')" \
		"$(val "$f" "idle_${p}_switches")" \
		"$(awk -v v="$(val "$f" "idle_${p}_switches")" -v s="$s" 'BEGIN {printf "%.1f", v * 60 / s}')" \
		"$(awk -v v="$(val "$f" "idle_${p}_cpu_us")" 'BEGIN {printf "%.1f", v / 1000}')"
done
