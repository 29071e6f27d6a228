#!/bin/bash
# Differential test against the real USBGuard (Debian usbguard 1.1.2): the same umockdev
# devices go to usbguard-daemon (DeviceManagerBackend=umockdev) and to usbguard_hash_probe
# (mynaguard's parser and hash); hash, parent-hash and with-interface must agree, and a
# device usbguard rejects must be rejected by us. Devices present at start test the
# enumeration path; malformed ones are hot-added (a rejected device would otherwise cost a
# 2 s enumeration timeout each).
#
# Usage: test_usbguard_hash.sh PATH/TO/usbguard_hash_probe
# Exit 0 pass, 1 fail, 77 skip (usbguard-daemon or umockdev-wrapper missing).
set -euo pipefail

probe=${1:?usage: $0 usbguard_hash_probe}
for tool in usbguard-daemon umockdev-wrapper; do
	if ! command -v "$tool" >/dev/null 2>&1; then
		echo "SKIP: $tool not installed"
		exit 77
	fi
done

work=$(mktemp -d "${TMPDIR:-/tmp}/mg-usbguard.XXXXXX")
daemon_pid=
# daemon_pid is timeout(1)'s: TERM to it reaches the daemon, and KILL follows 3 s later.
stop_daemon() {
	if [ -n "$daemon_pid" ]; then
		kill -TERM "$daemon_pid" 2>/dev/null || true
		wait "$daemon_pid" 2>/dev/null || true
		daemon_pid=
	fi
}
cleanup() {
	stop_daemon
	[ -n "${MG_KEEP:-}" ] || rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 129' HUP
trap 'exit 130' INT
trap 'exit 143' TERM
trap 'exit 141' PIPE
mkdir "$work/present" "$work/hot" "$work/tmp"

fail() {
	echo "FAIL: $*"
	echo "--- usbguard-daemon log (warnings) ---"
	grep -a -E '\((W|E)\)' "$work/daemon.log" 2>/dev/null | tail -20 || true
	exit 1
}

# --- device descriptions -------------------------------------------------------------
ROOT=/devices/pci0000:00

pci() { # pci() ADDR DRIVER
	printf 'P: %s/%s\nE: DRIVER=%s\nE: PCI_CLASS=C0320\nE: SUBSYSTEM=pci\n' "$ROOT" "$1" "$2"
	printf 'A: class=0x0c0320\\n\nA: vendor=0x8086\\n\n\n'
}

# usb DEVPATH VID PID NAME|- SERIAL|- HEX...   (- : attribute absent)
usb() {
	local path=$1 vid=$2 pid=$3 name=$4 serial=$5
	shift 5
	printf 'P: %s\nE: DEVTYPE=usb_device\nE: DRIVER=usb\nE: SUBSYSTEM=usb\n' "$path"
	printf 'E: PRODUCT=%s/%s/100\n' "${vid#0}" "${pid#0}"
	printf 'A: authorized=1\\n\nA: idVendor=%s\\n\nA: idProduct=%s\\n\n' "$vid" "$pid"
	case ${path##*/} in
	usb*) printf 'A: authorized_default=1\\n\n' ;;
	*) printf 'A: port/connect_type=hotplug\\n\n' ;;
	esac
	[ "$name" = - ] || printf 'A: product=%s\\n\n' "$name"
	[ "$serial" = - ] || printf 'A: serial=%s\\n\n' "$serial"
	printf 'H: descriptors=%s\n\n' "$(printf '%s' "$*" | tr -d ' ')"
}

XHCI=$ROOT/0000:00:14.0
EHCI=$ROOT/0000:00:1d.0

# Descriptor pieces (USB 2.0 spec 9.6), hex bytes.
SANDISK_DEV="12 01 10 02 00 00 00 40 81 07 83 55 00 01 01 02 03 01"
SANDISK_CFG="09 02 20 00 01 01 00 80 70"
MSC_IF="09 04 00 00 02 08 06 50 00"
BULK_IN="07 05 81 02 00 02 00"
BULK_OUT="07 05 02 02 00 02 00"
SANDISK="$SANDISK_DEV $SANDISK_CFG $MSC_IF $BULK_IN $BULK_OUT"

usb1() {
	usb "$XHCI/usb1" 1d6b 0002 "xHCI Host Controller" 0000:00:14.0 \
		12 01 00 02 09 00 01 40 6b 1d 02 00 01 06 03 02 01 01 \
		09 02 19 00 01 01 00 e0 00  09 04 00 00 01 09 00 00 00  07 05 81 03 04 00 0c
}
usb2() { # USB 3 root hub, SuperSpeed endpoint companion
	usb "$XHCI/usb2" 1d6b 0003 "xHCI Host Controller" 0000:00:14.0 \
		12 01 00 03 09 00 03 09 6b 1d 03 00 01 06 03 02 01 01 \
		09 02 1f 00 01 01 00 e0 00  09 04 00 00 01 09 00 00 00  07 05 81 03 04 00 0c \
		06 30 00 00 02 00
}
usb3() { # EHCI root hub of an older kernel: bcdDevice 5.15
	usb "$EHCI/usb3" 1d6b 0002 "EHCI Host Controller" 0000:00:1d.0 \
		12 01 00 02 09 00 00 40 6b 1d 02 00 15 05 03 02 01 01 \
		09 02 19 00 01 01 00 e0 00  09 04 00 00 01 09 00 00 00  07 05 81 03 04 00 ff
}
hub13() { # Genesys 05e3:0610, multi-TT alternate setting
	usb "$XHCI/usb1/1-3" 05e3 0610 "USB2.0 Hub" - \
		12 01 10 02 09 00 02 40 e3 05 10 06 a1 92 00 01 00 01 \
		09 02 29 00 01 01 00 e0 32  09 04 00 00 01 09 00 01 00  07 05 81 03 01 00 0c \
		09 04 00 01 01 09 00 02 00  07 05 81 03 01 00 0c
}

dev_1_1() {
	usb "$XHCI/usb1/1-1" 0781 5583 " SanDisk 3.2Gen1" 4C530001090604116463 $SANDISK
}
dev_1_2() { # HID descriptors (0x21)
	usb "$XHCI/usb1/1-2" 413c 2113 "Dell KB216 Wired Keyboard" - \
		12 01 10 01 00 00 00 08 3c 41 13 21 10 01 01 02 00 01 \
		09 02 3b 00 02 01 00 a0 32 \
		09 04 00 00 01 03 01 01 00  09 21 11 01 00 01 22 41 00  07 05 81 03 08 00 0a \
		09 04 01 00 01 03 00 00 00  09 21 11 01 00 01 22 9f 00  07 05 82 03 08 00 0a
}
dev_1_4() { # two configurations
	usb "$XHCI/usb1/1-4" 1234 0001 "Two Configs" SN-2CFG \
		12 01 00 02 00 00 00 40 34 12 01 00 00 01 01 02 03 02 \
		$SANDISK_CFG $MSC_IF $BULK_IN $BULK_OUT \
		09 02 19 00 01 02 00 80 32  09 04 00 00 01 ff 00 00 00  07 05 83 03 08 00 0a
}
dev_1_3_1() { # keyboard + mass storage behind a hub, with an IAD
	usb "$XHCI/usb1/1-3/1-3.1" 1234 5678 "Composite KM" 0123456789AB \
		12 01 00 02 ef 02 01 40 34 12 78 56 00 01 01 02 03 01 \
		09 02 41 00 02 01 00 80 32  08 0b 00 01 03 01 01 00 \
		09 04 00 00 01 03 01 01 00  09 21 11 01 00 01 22 3f 00  07 05 81 03 08 00 0a \
		09 04 01 00 02 08 06 50 00  07 05 82 02 00 02 00  07 05 03 02 00 02 00
}
dev_1_3_2() { # USB Audio 1.0: class-specific descriptors, alt settings, 9-byte endpoint
	usb "$XHCI/usb1/1-3/1-3.2" 0d8c 000c "USB Audio Device" - \
		12 01 10 01 00 00 00 08 8d 0d 0c 00 00 01 01 02 00 01 \
		09 02 4f 00 02 01 00 80 32 \
		09 04 00 00 00 01 01 00 00  09 24 01 00 01 09 00 01 01 \
		09 04 01 00 00 01 02 00 00  09 04 01 01 01 01 02 00 00 \
		07 24 01 01 01 01 00  0b 24 02 01 02 02 10 01 80 bb 00 \
		09 05 01 09 c8 00 01 00 00  07 25 01 01 01 01 00
}
dev_2_1() { # SuperSpeed with endpoint companions (0x30)
	usb "$XHCI/usb2/2-1" 0781 5583 " SanDisk 3.2Gen1" 4C530001090604116463 \
		12 01 20 03 00 00 00 09 81 07 83 55 00 01 01 02 03 01 \
		09 02 2c 00 01 01 00 80 38  $MSC_IF \
		07 05 81 02 00 04 00  06 30 0f 00 00 00  07 05 02 02 00 04 00  06 30 0f 00 00 00
}
dev_3_1() { # wTotalLength 32, 25 bytes sent (kernel "descriptor too short"): accepted
	usb "$EHCI/usb3/3-1" 0781 5583 " SanDisk 3.2Gen1" 4C530001090604116999 \
		$SANDISK_DEV $SANDISK_CFG $MSC_IF $BULK_IN
}
dev_3_2() { # a device descriptor alone: no with-interface
	usb "$EHCI/usb3/3-2" 1234 0002 - - $SANDISK_DEV
}

# Each file carries its devices' whole parent chain (identical copies: the first one wins).
{ pci 0000:00:14.0 xhci_hcd; usb1; dev_1_1; dev_1_2; dev_1_4; } >"$work/present/10-xhci-usb2.umockdev"
{ pci 0000:00:14.0 xhci_hcd; usb1; hub13; dev_1_3_1; dev_1_3_2; } >"$work/present/20-hub.umockdev"
{ pci 0000:00:14.0 xhci_hcd; usb2; dev_2_1; } >"$work/present/30-xhci-usb3.umockdev"
{ pci 0000:00:1d.0 ehci-pci; usb3; dev_3_1; dev_3_2; } >"$work/present/40-ehci.umockdev"
# The same devices once each, for the probe's sysfs mode under umockdev-run.
{
	pci 0000:00:14.0 xhci_hcd; usb1; dev_1_1; dev_1_2; dev_1_4; hub13; dev_1_3_1; dev_1_3_2
	usb2; dev_2_1; pci 0000:00:1d.0 ehci-pci; usb3; dev_3_1; dev_3_2
} >"$work/all.umockdev"

# Hot-added one per file (a burst of uevents overflows umockdev's socket): each malformed in
# a way USBGuard refuses, except 1-15 (below).
bad() { # bad PORT NAME HEX...
	local port=$1 name=$2
	shift 2
	{ pci 0000:00:14.0 xhci_hcd; usb1; usb "$XHCI/usb1/$port" 0781 5583 "$name" - "$@"; } \
		>"$work/hot/50-$port.umockdev"
}
bad 1-5 "interface before configuration" $SANDISK_DEV $MSC_IF $BULK_IN $BULK_OUT
bad 1-6 "bLength past the end" $SANDISK_DEV $SANDISK_CFG $MSC_IF $BULK_IN 07 05 02 02 00 02
bad 1-7 "two device descriptors" $SANDISK $SANDISK_DEV
bad 1-8 "endpoint before its configuration's interface" \
	$SANDISK 09 02 10 00 01 02 00 80 32  07 05 83 03 08 00 0a
bad 1-9 "endpoint of 8 bytes" \
	$SANDISK_DEV $SANDISK_CFG $MSC_IF 08 05 81 02 00 02 00 00 $BULK_OUT
bad 1-10 "bLength 1" $SANDISK 01 24
bad 1-11 "configuration first" $SANDISK_CFG $SANDISK_DEV
bad 1-12 "truncated header" $SANDISK 07
bad 1-13 "interface of 10 bytes" \
	$SANDISK_DEV $SANDISK_CFG 0a 04 00 00 02 08 06 50 00 00 $BULK_IN $BULK_OUT
bad 1-14 "device descriptor of 17 bytes" 11 01 10 02 00 00 00 40 81 07 83 55 00 01 01 02 03
# USBGuard accepts descriptors before the device descriptor; the kernel never writes them,
# mynaguard refuses them: the one intended difference.
bad 1-15 "HID descriptor first" 09 21 11 01 00 01 22 41 00 $SANDISK
stricter="$XHCI/usb1/1-15"

# --- mynaguard ---------------------------------------------------------------------------
"$probe" "$work"/present/*.umockdev "$work"/hot/*.umockdev | sort >"$work/ours" ||
	fail "usbguard_hash_probe failed"
[ "$(grep -c ' hash ' "$work/ours")" -eq 12 ] || fail "probe accepted $(grep -c ' hash ' "$work/ours") devices, want 12"
[ "$(grep -c ' rejected ' "$work/ours")" -eq 11 ] || fail "probe rejected $(grep -c ' rejected ' "$work/ours") devices, want 11"

# --- usbguard ----------------------------------------------------------------------------
# Empty but for the test hub: blocking a hub removes its children under umockdev, and the
# devices behind it are what tests a parent-hash taken from a parent device.
echo 'allow id 05e3:0610' >"$work/rules.conf"
cat >"$work/daemon.conf" <<EOF
RuleFile=$work/rules.conf
ImplicitPolicyTarget=block
PresentDevicePolicy=apply-policy
PresentControllerPolicy=keep
InsertedDevicePolicy=apply-policy
DeviceManagerBackend=umockdev
AuditBackend=FileAudit
AuditFilePath=$work/audit.log
EOF
chmod 600 "$work/rules.conf" "$work/daemon.conf"

# The daemon's IPC socket name is fixed (abstract "usbguard"): a private network namespace
# keeps it from clashing with a host daemon or a parallel run; without one, runs take turns.
netns=()
if unshare -n true 2>/dev/null; then
	netns=(unshare -n)
elif command -v flock >/dev/null 2>&1; then
	exec 9>"${TMPDIR:-/tmp}/mynaguard-usbguard-ipc.lock"
	flock -w 60 9 || fail "another usbguard test holds the IPC lock"
fi
# timeout bounds the daemon's life even if this script is killed.
USBGUARD_UMOCKDEV_DEVICEDIR="$work/present" TMPDIR="$work/tmp" \
	timeout -k 3 30 "${netns[@]}" umockdev-wrapper usbguard-daemon -K -l "$work/daemon.log" -P \
	-c "$work/daemon.conf" </dev/null >"$work/daemon.out" 2>&1 &
daemon_pid=$!
deadline=$((SECONDS + 15))

# decided PATH: usbguard logged the device's rule, or rejected it.
decided() {
	grep -a -q -F "device.system_name='$1' type='Device." "$work/audit.log" 2>/dev/null ||
		grep -a -o -E "Rejecting device at syspath=[^ ]+" "$work/daemon.log" 2>/dev/null |
			grep -q -x -F "Rejecting device at syspath=$1"
}
wait_for() { # wait_for PATH...
	local p
	for p in "$@"; do
		until decided "$p"; do
			kill -0 "$daemon_pid" 2>/dev/null || fail "usbguard-daemon exited early"
			[ $SECONDS -lt $deadline ] || fail "usbguard-daemon did not decide $p in time"
			sleep 0.1
		done
	done
}

mapfile -t present < <("$probe" "$work"/present/*.umockdev | cut -d' ' -f1)
wait_for "${present[@]}"
# A hard link makes the complete file appear at once (inotify IN_CREATE).
for f in "$work"/hot/*.umockdev; do
	ln "$f" "$work/present/"
	port=${f##*/50-}
	wait_for "$XHCI/usb1/${port%.umockdev}"
done
mapfile -t all < <(cut -d' ' -f1 "$work/ours")
wait_for "${all[@]}"

stop_daemon

# Their view, in the probe's format, from the rule in each Device.Present/Insert record.
grep -a -E "type='Device\.(Present|Insert)'" "$work/audit.log" |
	sed -E -n "s/.* hash \"([^\"]*)\" parent-hash \"([^\"]*)\".*device\.system_name='([^']*)'.*/\3 hash \1 parent-hash \2 @&/p" |
	while read -r path _ h _ ph rest; do
		ifs=
		if [[ $rest =~ with-interface\ \{\ ([^}]*)\ \} ]]; then
			ifs=${BASH_REMATCH[1]// /,}
		elif [[ $rest =~ with-interface\ ([0-9a-f:]+) ]]; then
			ifs=${BASH_REMATCH[1]}
		fi
		echo "$path hash $h parent-hash $ph with-interface ${ifs:--}"
	done | sort -u >"$work/theirs"
grep -a -o -E "Rejecting device at syspath=[^ ]+" "$work/daemon.log" | cut -d= -f2 |
	sort -u >"$work/their_rejects"

# --- compare -----------------------------------------------------------------------------
their_record() { awk -v p="$1" '$1 == p && $2 == "hash"' "$work/theirs"; }
status=0
while read -r path verdict rest; do
	if [ "$verdict" = rejected ]; then
		if [ "$path" = "$stricter" ]; then
			[ -n "$(their_record "$path")" ] ||
				{ echo "MISMATCH $path: usbguard no longer accepts a descriptor before the device descriptor"; status=1; }
		elif ! grep -q -x -F "$path" "$work/their_rejects"; then
			echo "MISMATCH $path: we reject ($rest), usbguard did not"
			status=1
		fi
		continue
	fi
	theirs=$(their_record "$path")
	if [ "$theirs" != "$path $verdict $rest" ]; then
		echo "MISMATCH $path"
		echo "  ours:     $path $verdict $rest"
		echo "  usbguard: ${theirs:-(no record; rejected: $(grep -c -x -F "$path" "$work/their_rejects"))}"
		status=1
	fi
done <"$work/ours"
# Nothing usbguard decided that we did not see.
cut -d' ' -f1 "$work/theirs" | sort >"$work/their_paths"
cut -d' ' -f1 "$work/ours" | sort >"$work/our_paths"
only=$(comm -23 "$work/their_paths" "$work/our_paths")
if [ -n "$only" ]; then
	echo "MISMATCH: devices only usbguard saw: $only"
	status=1
fi

# The probe's sysfs mode reads the same devices through umockdev's /sys.
if command -v umockdev-run >/dev/null 2>&1; then
	grep ' hash ' "$work/ours" >"$work/ours_good"
	mapfile -t good < <(cut -d' ' -f1 "$work/ours_good")
	ASAN_OPTIONS=${ASAN_OPTIONS:+$ASAN_OPTIONS:}verify_asan_link_order=0 \
		umockdev-run -d "$work/all.umockdev" -- "$probe" --sysfs /sys "${good[@]}" |
		sort >"$work/ours_sysfs" || fail "probe --sysfs failed"
	if ! diff -u "$work/ours_good" "$work/ours_sysfs"; then
		echo "MISMATCH: probe --sysfs differs from its umockdev file reading"
		status=1
	fi
fi

if [ $status -ne 0 ]; then
	fail "mynaguard and usbguard disagree"
fi
echo "PASS: $(grep -c ' hash ' "$work/ours") devices hash identically," \
	"$(grep -c ' rejected ' "$work/ours") rejected by both (1-15 intentionally stricter)"
