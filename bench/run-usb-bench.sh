#!/bin/bash
# USB decision benchmark: mynaguard-agent and Debian's usbguard-daemon side by side under
# umockdev, same devices, same rules text, same run (method: docs/PERFORMANCE.md).
#
#   bench/run-usb-bench.sh [BUILD_DIR]        (default BUILD_DIR: /tmp/benchbuild)
#
# Build first (no sanitizers):
#   cmake -S . -B /tmp/benchbuild -DCMAKE_BUILD_TYPE=RelWithDebInfo -DMYNAGUARD_BENCH=ON \
#       -DMYNAGUARD_TESTS=OFF
#   cmake --build /tmp/benchbuild -j2 --target mynaguard-agent mynaguard-bench-usbgen \
#       mynaguard-bench-usbharness mynaguard-bench-rules
# Environment: MG_BENCH_DEVICES (leaf devices, default 64; with hubs and root hubs 75 USB
# devices), MG_BENCH_RULES (default "0 1000 10000 100000"), MG_BENCH_REPS (default 3),
# MG_BENCH_IDLE (idle measurement in seconds, default 5), MG_BENCH_HOTPLUG (leaves hot-plugged
# one at a time after the start, default all; 0: none), MG_BENCH_OTHER (rules of the "other
# products" shape, default 10000; 0: none), MG_BENCH_TMPFS (1: also the tmpfs diagnostic runs,
# default), MG_KEEP=1 keeps the work directory. bench/run-startup-bench.sh sets these for the
# start-up comparison.
# Runs as root (usbguard-daemon needs it; the agent's files must belong to its user).
# Prints the machine facts and Markdown tables on stdout; raw results go to the work
# directory (kept with MG_KEEP=1). Every wait is bounded; both daemons run under timeout(1).
set -eu

here=$(cd "$(dirname "$0")" && pwd)
src=$(cd "$here/.." && pwd)
build=${1:-/tmp/benchbuild}
agent=$build/agent/mynaguard-agent
gen=$build/bench/mynaguard-bench-usbgen
harness=$build/bench/mynaguard-bench-usbharness
rules_bench=$build/bench/mynaguard-bench-rules
ndev=${MG_BENCH_DEVICES:-64}
rules_list=${MG_BENCH_RULES:-"0 1000 10000 100000"}
reps=${MG_BENCH_REPS:-3}
idle=${MG_BENCH_IDLE:-5}
hotplug_n=${MG_BENCH_HOTPLUG:-$ndev}
other_rules=${MG_BENCH_OTHER:-10000} # the usbguard-favourable rule shape, at one size
with_tmpfs=${MG_BENCH_TMPFS:-1}
decide_timeout=300 # seconds for one daemon to decide every present device

die() {
	echo "run-usb-bench: $*" >&2
	exit 1
}
for f in "$agent" "$gen" "$harness" "$rules_bench"; do
	[ -x "$f" ] || die "$f missing: build with -DMYNAGUARD_BENCH=ON (see the header)"
done
for t in usbguard-daemon umockdev-wrapper unshare timeout; do
	command -v "$t" >/dev/null 2>&1 || die "$t not installed"
done
[ "$(id -u)" -eq 0 ] || die "run as root"

work=$(mktemp -d "${TMPDIR:-/tmp}/mg-usbbench.XXXXXX")
shm=$(mktemp -d /dev/shm/mg-usbbench.XXXXXX)
ug_tpid=
# shellcheck disable=SC2317 # called by the EXIT trap
cleanup() {
	if [ -n "$ug_tpid" ]; then
		kill -TERM "$ug_tpid" 2>/dev/null || true
		wait "$ug_tpid" 2>/dev/null || true
	fi
	rm -rf "$shm"
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
gen_args=
for r in $rules_list; do gen_args="$gen_args $r"; done
configs="$rules_list"
if [ "$other_rules" -gt 0 ]; then
	gen_args="$gen_args other:$other_rules"
	configs="$configs ${other_rules}-other"
fi
# shellcheck disable=SC2086
"$gen" "$work/gen" "$ndev" $gen_args
ndevices=$(wc -l <"$work/gen/devices.txt")

# Sum of schedstat run time (ns) and context switches over every thread of a process.
cpu_of() { # cpu_of PID -> "NS SWITCHES"
	local t ns=0 sw=0 v
	for t in /proc/"$1"/task/*; do
		read -r v _ <"$t/schedstat" || continue
		ns=$((ns + v))
		v=$(awk '/^(non)?voluntary_ctxt_switches:/ {s += $2} END {print s + 0}' "$t/status")
		sw=$((sw + v))
	done
	echo "$ns $sw"
}

# --- usbguard -----------------------------------------------------------------------------
# usbguard_run CONFIG REP IDLE: writes key=value lines to res/ug-CONFIG-REP.txt.
usbguard_run() {
	local cfg=$1 rep=$2 idle_s=$3 d=$work/ug out=$work/res/ug-$1-$2.txt
	rm -rf "$d"
	mkdir -p "$d/present" "$d/tmp"
	ln "$work/gen/present/"*.umockdev "$d/present/"
	cp "$work/gen/rules-$cfg.conf" "$d/rules.conf"
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
	local t0 pid='' n
	t0=$(date +%s.%N)
	# A private network namespace keeps usbguard's fixed abstract IPC socket name from
	# clashing with a host daemon. timeout bounds its life even if this script dies.
	USBGUARD_UMOCKDEV_DEVICEDIR=$d/present TMPDIR=$d/tmp \
		timeout -k 3 $((decide_timeout + idle_s + 60)) unshare -n \
		umockdev-wrapper usbguard-daemon -k -P -c "$d/daemon.conf" \
		</dev/null >"$d/daemon.log" 2>&1 &
	ug_tpid=$!
	# unshare and umockdev-wrapper exec: timeout's child becomes usbguard-daemon.
	for _ in $(seq 1 500); do
		pid=$(awk '{print $1}' "/proc/$ug_tpid/task/$ug_tpid/children" 2>/dev/null || true)
		[ -n "$pid" ] && [ "$(cat "/proc/$pid/comm" 2>/dev/null)" = usbguard-daemon ] && break
		pid=
		sleep 0.01
	done
	[ -n "$pid" ] || die "usbguard-daemon did not start (see $d/daemon.log)"
	n=0
	for _ in $(seq 1 $((decide_timeout * 20))); do
		n=$(grep -a -c "type='Policy.Device.Update'" "$d/audit.log" 2>/dev/null || true)
		[ "${n:-0}" -ge "$ndevices" ] && break
		kill -0 "$pid" 2>/dev/null || die "usbguard-daemon exited (see $d/daemon.log)"
		sleep 0.05
	done
	[ "${n:-0}" -ge "$ndevices" ] ||
		die "usbguard decided $n of $ndevices devices in ${decide_timeout} s ($cfg rules)"
	sleep 0.2
	{
		echo "devices=$n"
		echo "allowed=$(grep -a "type='Policy.Device.Update'" "$d/audit.log" |
			grep -a -c "target.new='allow'")"
		# Audit timestamps: [seconds.milliseconds], one Policy.Device.Update per decision.
		grep -a "type='Policy.Device.Update'" "$d/audit.log" |
			sed -E 's/^\[([0-9]+\.[0-9]+)\].*/\1/' |
			awk -v t0="$t0" 'NR == 1 {f = $1} {l = $1}
				END {printf "first_to_last_us=%d\nper_device_us=%.1f\nspawn_to_last_us=%d\n",
					(l - f) * 1e6, (l - f) * 1e6 / (NR - 1), (l - t0) * 1e6}'
		awk '/^VmRSS:/ {print "rss_kb=" $2} /^VmHWM:/ {print "hwm_kb=" $2}' "/proc/$pid/status"
		if [ "$idle_s" -gt 0 ]; then
			sleep 0.5
			local a b
			a=$(cpu_of "$pid")
			sleep "$idle_s"
			b=$(cpu_of "$pid")
			echo "idle_s=$idle_s"
			echo "idle_cpu_ns=$((${b% *} - ${a% *}))"
			echo "idle_switches=$((${b#* } - ${a#* }))"
		fi
	} >"$out"
	kill -TERM "$ug_tpid" 2>/dev/null || true
	wait "$ug_tpid" 2>/dev/null || true
	ug_tpid=
}

# --- mynaguard ----------------------------------------------------------------------------
# mynaguard_run CONFIG REP IDLE STATE_PARENT TAG: writes res/TAG-CONFIG-REP.txt.
mynaguard_run() {
	local cfg=$1 rep=$2 idle_s=$3 state_parent=$4 tag=$5 d=$work/mg
	local out=$work/res/$tag-$cfg-$rep.txt rules=$work/gen/rules-$cfg.conf
	rm -rf "$d" "$state_parent/mg-state"
	mkdir -p "$d/rules.d" "$d/run" "$d/tmp" "$state_parent/mg-state"
	# The same single rules file as usbguard reads.
	cp "$rules" "$d/rules.conf"
	chmod 600 "$d/rules.conf"
	sed -e "s|^rules_file = .*|rules_file = $d/rules.conf|" \
		-e "s|^rules_dir = .*|rules_dir = $d/rules.d|" \
		-e "s|^state_dir = .*|state_dir = $state_parent/mg-state|" \
		-e "s|^socket = .*|socket = $d/run/agent.sock|" \
		-e "s|^event_socket = .*|event_socket = $d/run/events.sock|" \
		-e "s|^pam_pending_file = .*|pam_pending_file = $d/state/events.pending|" \
		"$src/deploy/agent.conf" >"$d/agent.conf"
	chmod 600 "$d/agent.conf"
	TMPDIR=$d/tmp timeout -k 3 $((decide_timeout + idle_s + 120)) \
		umockdev-wrapper "$harness" --agent "$agent" --config "$d/agent.conf" \
		--gen "$work/gen" --hotplug "$hotplug_n" --idle "$idle_s" --timeout "$decide_timeout" \
		>"$out" || die "mynaguard run failed ($cfg rules; agent log: $state_parent/mg-state/agent.log)"
	cp "$state_parent/mg-state/agent.log" "$work/res/$tag-$cfg-$rep.log"
}

load_before=$(cut -d' ' -f1-3 /proc/loadavg)
t_start=$(date +%s)
for rep in $(seq 1 "$reps"); do
	idle_now=0
	[ "$rep" -eq 1 ] && idle_now=$idle
	for cfg in $configs; do
		echo "rep $rep/$reps: $cfg rules: usbguard" >&2
		usbguard_run "$cfg" "$rep" "$idle_now"
		echo "rep $rep/$reps: $cfg rules: mynaguard" >&2
		mynaguard_run "$cfg" "$rep" "$idle_now" "$work" mg
	done
done
# Diagnostic: the agent's event log on tmpfs, where fdatasync costs nothing.
for cfg in $configs; do
	[ "$with_tmpfs" = 1 ] || break
	echo "diagnostic: $cfg rules: mynaguard, event log on tmpfs" >&2
	mynaguard_run "$cfg" 1 0 "$shm" mgtmpfs
done
# The rule engine alone, in process: load time, heap, match time (no I/O, no umockdev).
# shellcheck disable=SC2086
"$rules_bench" "$work/gen" "$ndev" $gen_args >"$work/res/rules-engine.md"
load_after=$(cut -d' ' -f1-3 /proc/loadavg)
elapsed=$(($(date +%s) - t_start))

# --- report ---------------------------------------------------------------------------------
val() { # val FILE KEY
	sed -n "s/^$2=//p" "$1" | head -1
}
# med TAG CONFIG KEY: "median [min-max]" over the repetitions, or the single value.
# (Files TAG-CONFIG-REP.txt; [0-9]* keeps CONFIG 10000 from matching 10000-other.)
med() {
	local f
	for f in "$work/res/$1-$2-"[0-9]*.txt; do val "$f" "$3"; done | sort -g |
		awk '{v[NR] = $1} END {if (NR == 0) {print "?"; exit}
			printf "%s", v[int((NR + 1) / 2)]; if (NR > 1) printf " [%s-%s]", v[1], v[NR]; print ""}'
}
# Median only, as a number.
mednum() {
	local f
	for f in "$work/res/$1-$2-"[0-9]*.txt; do val "$f" "$3"; done | sort -g |
		awk '{v[NR] = $1} END {print (NR ? v[int((NR + 1) / 2)] : 0)}'
}
# fmt DIVISOR DECIMALS: "median [min-max]" on stdin, scaled.
fmt() {
	awk -v d="$1" -v p="$2" '{
		f = "%." p "f"; out = sprintf(f, $1 / d)
		if (NF > 1) {
			s = $2; gsub(/[][]/, "", s); split(s, r, "-")
			out = out sprintf(" [" f "-" f "]", r[1] / d, r[2] / d)
		}
		print out }'
}
commas() {
	echo "$1" | sed -e ':a' -e 's/\B[0-9]\{3\}\>/,&/' -e 'ta'
}
label() { # label CONFIG
	case $1 in
	*-other) printf "%s (other products)" "$(commas "${1%-other}")" ;;
	*) commas "$1" | tr -d '\n' ;;
	esac
}

cpu=$(awk -F': ' '/^model name/ {print $2; exit}' /proc/cpuinfo)
ug_version=$(dpkg-query -W -f '${Version}' usbguard 2>/dev/null || echo unknown)
umd_version=$(dpkg-query -W -f '${Version}' umockdev 2>/dev/null || echo unknown)
mg_version=$("$agent" --version | awk '{print $2}')
mg_commit=$(git -C "$src" rev-parse --short HEAD 2>/dev/null || echo unknown)
if [ -n "$(git -C "$src" status --porcelain 2>/dev/null)" ]; then mg_commit="$mg_commit+changes"; fi
fs=$(df -T "$work" | awk 'NR == 2 {print $2}')

echo "### Machine and run"
echo
echo "- $(nproc) CPUs, $cpu; $(awk '/^MemTotal/ {printf "%.0f GiB RAM", $2 / 1048576}' /proc/meminfo); kernel $(uname -r)"
echo "- usbguard $ug_version (Debian), umockdev $umd_version, mynaguard-agent $mg_version ($mg_commit), $(cc --version | head -1)"
echo "- $ndevices USB devices present ($ndev leaves, $((ndevices - ndev - 2)) hubs, 2 root hubs); $reps repetitions: median [min-max]"
echo "- work directory on $fs (usbguard's audit file, the agent's event log, the umockdev testbeds)"
echo "- load average before $load_before, after $load_after; $elapsed s"
echo
echo "### Per-device decision time at start, ms (first to last decision / (devices - 1))"
echo
echo "| Rules before the matching one | usbguard | mynaguard-agent | Speed-up | mynaguard, event log on tmpfs |"
echo "|---|---|---|---|---|"
for cfg in $configs; do
	u=$(mednum ug "$cfg" per_device_us)
	m=$(mednum mg "$cfg" start_per_device_us)
	printf "| %s | %s | %s | %sx | %s |\n" "$(label "$cfg")" \
		"$(med ug "$cfg" per_device_us | fmt 1000 2)" "$(med mg "$cfg" start_per_device_us | fmt 1000 2)" \
		"$(awk -v u="$u" -v m="$m" 'BEGIN {printf "%.1f", (m > 0 ? u / m : 0)}')" \
		"$(if [ "$with_tmpfs" = 1 ]; then med mgtmpfs "$cfg" start_per_device_us | fmt 1000 2; else echo "not run"; fi)"
done
echo
echo "### All $ndevices present devices decided at start"
echo
echo "| Rules | usbguard first to last, ms | mynaguard first to last, ms | usbguard start to last decision, ms | mynaguard start to last decision, ms |"
echo "|---|---|---|---|---|"
for cfg in $configs; do
	printf "| %s | %s | %s | %s | %s |\n" "$(label "$cfg")" \
		"$(med ug "$cfg" first_to_last_us | fmt 1000 0)" \
		"$(med mg "$cfg" start_first_to_last_us | fmt 1000 0)" \
		"$(med ug "$cfg" spawn_to_last_us | fmt 1000 0)" \
		"$(awk -v a="$(mednum mg "$cfg" start_first_decision_us)" \
			-v b="$(mednum mg "$cfg" start_first_to_last_us)" 'BEGIN {printf "%.0f", (a + b) / 1000}')"
done
echo
echo "### Start-up: process start to every present device decided, ms (what the keyboard waits at boot)"
echo
echo "| Rules | usbguard | mynaguard-agent | Speed-up | mynaguard: start to agent.started | agent.started to first decision | first to last decision | usbguard RSS, MiB | mynaguard RSS, MiB | RSS ratio |"
echo "|---|---|---|---|---|---|---|---|---|---|"
for cfg in $configs; do
	u=$(mednum ug "$cfg" spawn_to_last_us)
	m=$(mednum mg "$cfg" start_spawn_to_last_us)
	ur=$(mednum ug "$cfg" rss_kb)
	mr=$(mednum mg "$cfg" rss_kb)
	printf "| %s | %s | %s | %sx | %s | %s | %s | %s | %s | %s |\n" "$(label "$cfg")" \
		"$(med ug "$cfg" spawn_to_last_us | fmt 1000 0)" \
		"$(med mg "$cfg" start_spawn_to_last_us | fmt 1000 1)" \
		"$(awk -v u="$u" -v m="$m" 'BEGIN {printf "%.1f", (m > 0 ? u / m : 0)}')" \
		"$(med mg "$cfg" start_load_us | fmt 1000 1)" \
		"$(med mg "$cfg" start_started_to_first_us | fmt 1000 1)" \
		"$(med mg "$cfg" start_first_to_last_us | fmt 1000 1)" \
		"$(med ug "$cfg" rss_kb | fmt 1024 1)" "$(med mg "$cfg" rss_kb | fmt 1024 1)" \
		"$(awk -v u="$ur" -v m="$mr" 'BEGIN {printf "%.2f", (u > 0 ? m / u : 0)}')"
done
if [ "$hotplug_n" -gt 0 ]; then
echo
echo "### mynaguard-agent hot plug: uevent sent to \`authorized\` written, ms ($ndev devices one at a time, agent idle before each)"
echo
echo "| Rules | p50 | p95 | max | p50, event log on tmpfs | p95, event log on tmpfs |"
echo "|---|---|---|---|---|---|"
for cfg in $configs; do
	printf "| %s | %s | %s | %s | %s | %s |\n" "$(label "$cfg")" \
		"$(med mg "$cfg" hotplug_p50_us | fmt 1000 2)" "$(med mg "$cfg" hotplug_p95_us | fmt 1000 2)" \
		"$(med mg "$cfg" hotplug_max_us | fmt 1000 2)" \
		"$(med mgtmpfs "$cfg" hotplug_p50_us | fmt 1000 2)" \
		"$(med mgtmpfs "$cfg" hotplug_p95_us | fmt 1000 2)"
done
fi
echo
if [ "$idle" -gt 0 ]; then
echo "### Memory after the start decisions (VmRSS, MiB) and idle CPU over ${idle} s"
echo
echo "| Rules | usbguard RSS | mynaguard RSS | mynaguard / usbguard | usbguard idle CPU, ms / context switches | mynaguard idle CPU, ms / context switches |"
echo "|---|---|---|---|---|---|"
for cfg in $configs; do
	u=$(mednum ug "$cfg" rss_kb)
	m=$(mednum mg "$cfg" rss_kb)
	printf "| %s | %s | %s | %s | %s / %s | %s / %s |\n" "$(label "$cfg")" \
		"$(med ug "$cfg" rss_kb | fmt 1024 1)" "$(med mg "$cfg" rss_kb | fmt 1024 1)" \
		"$(awk -v u="$u" -v m="$m" 'BEGIN {printf "%.2f", (u > 0 ? m / u : 0)}')" \
		"$(val "$work/res/ug-$cfg-1.txt" idle_cpu_ns | fmt 1000000 3)" \
		"$(val "$work/res/ug-$cfg-1.txt" idle_switches)" \
		"$(val "$work/res/mg-$cfg-1.txt" idle_cpu_ns | fmt 1000000 3)" \
		"$(val "$work/res/mg-$cfg-1.txt" idle_switches)"
done
echo
fi
echo "### mynaguard rule engine alone (mynaguard-bench-rules: same rule files, every device matched to its own rule)"
echo
cat "$work/res/rules-engine.md"
# Sanity: every device allowed by both, every time.
bad=0
for f in "$work"/res/ug-*.txt; do
	[ "$(val "$f" allowed)" = "$ndevices" ] || { echo "WARNING: $f: not all devices allowed" >&2; bad=1; }
done
for f in "$work"/res/mg-*.txt "$work"/res/mgtmpfs-*.txt; do
	[ -e "$f" ] || continue
	[ "$(val "$f" start_allowed)" = "$ndevices" ] || { echo "WARNING: $f: not all devices allowed" >&2; bad=1; }
done
exit $bad
