#!/bin/sh
# Start-up benchmark: from process start until every present device is decided, and RSS,
# mynaguard-agent against Debian's usbguard-daemon in the same run, under umockdev: 98 USB
# devices present (84 leaves behind hubs), 10,000 rules before the matching ones, 5
# interleaved repetitions, medians (docs/PERFORMANCE.md, "Start-up"). At boot with
# usbcore.authorized_default=0 this is the time the keyboard is dead.
#
#   bench/run-startup-bench.sh [BUILD_DIR]     (build as bench/run-usb-bench.sh says)
# MG_BENCH_RULES / MG_BENCH_REPS / MG_BENCH_DEVICES override the defaults.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
MG_BENCH_DEVICES=${MG_BENCH_DEVICES:-84} MG_BENCH_RULES=${MG_BENCH_RULES:-10000} \
	MG_BENCH_REPS=${MG_BENCH_REPS:-5} MG_BENCH_IDLE=0 MG_BENCH_HOTPLUG=0 MG_BENCH_OTHER=0 \
	MG_BENCH_TMPFS=0 exec "$here/run-usb-bench.sh" "$@"
