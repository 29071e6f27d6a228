#!/bin/sh
# Real-kernel system test of mynaguard-agent (docs/AGENT.md, "Tested on a real kernel"): Debian's
# kernel under QEMU (TCG), an xHCI controller with a keyboard, an allowlisted stick and a
# stick no rule allows present at boot; then a HID + storage composite gadget (dummy_hcd),
# a hub with a keyboard and an allowlisted stick behind it hot-plugged while the agent runs;
# then the agent is killed and one more stick is plugged. Booted twice: with
# usbcore.authorized_default=0 and without it (the kernel binds boot devices before the agent
# starts). The guest (guest-init.sh) reports one MG-CHECK line per fact; every expected
# check must say ok in both boots.
#
#   test-qemu-usb.sh AGENT_BIN SOURCE_DIR WORK_DIR
# Exit 77 (skipped) when qemu-system-x86_64 is not installed. The kernel is Debian's
# linux-image-amd64 of the machine's apt sources, fetched with `apt-get download` into
# WORK_DIR once (or MG_QEMU_KERNEL_DEB=path/to/linux-image-*.deb). Needs busybox (static),
# kmod's depmod/modprobe, dpkg-deb.
set -eu
agent=$1
src=$2
work=$3

if ! command -v qemu-system-x86_64 >/dev/null 2>&1; then
	echo "SKIP: qemu-system-x86_64 is not installed (Debian package qemu-system-x86)"
	exit 77
fi
PATH=$PATH:/sbin:/usr/sbin
for tool in busybox depmod modprobe dpkg-deb; do
	command -v $tool >/dev/null 2>&1 || {
		echo "FAIL: $tool is missing (deploy/debian-build-deps.txt lists its package)" >&2
		exit 1
	}
done
mkdir -p "$work"
work=$(cd "$work" && pwd)
t0=$(date +%s)

# ---- the kernel: vmlinuz and the modules the test needs ------------------------------------
kdir=$work/kernel
if [ ! -e "$kdir/ready" ]; then
	rm -rf "$kdir"
	mkdir -p "$kdir"
	deb=${MG_QEMU_KERNEL_DEB:-}
	if [ -z "$deb" ]; then
		pkg=$(apt-cache depends linux-image-amd64 2>/dev/null |
			awk '/Depends: linux-image-[0-9]/ { print $2; exit }')
		[ -n "$pkg" ] || {
			echo "FAIL: apt-cache knows no linux-image-amd64 (set MG_QEMU_KERNEL_DEB)" >&2
			exit 1
		}
		(cd "$kdir" && apt-get download -q "$pkg" >/dev/null 2>&1) || {
			echo "FAIL: apt-get download $pkg failed (offline? set MG_QEMU_KERNEL_DEB)" >&2
			exit 1
		}
		deb=$(ls "$kdir"/linux-image-*.deb)
	fi
	dpkg-deb --fsys-tarfile "$deb" | tar -x -C "$kdir" --wildcards --no-wildcards-match-slash \
		'./boot/vmlinuz-*' './lib/modules/*/modules.*' './lib/modules/*/kernel/drivers/usb' \
		'./lib/modules/*/kernel/drivers/hid' './lib/modules/*/kernel/drivers/scsi' \
		'./lib/modules/*/kernel/crypto' './lib/modules/*/kernel/lib' \
		'./lib/modules/*/kernel/block' './lib/modules/*/kernel/fs/configfs' \
		'./lib/modules/*/kernel/arch/x86/crypto'
	rm -f "$kdir"/linux-image-*.deb
	touch "$kdir/ready"
fi
kver=$(ls "$kdir/lib/modules")
[ -e "$kdir/lib/modules/$kver/modules.dep" ] || depmod -b "$kdir" "$kver"
vmlinuz=$(ls "$kdir"/boot/vmlinuz-*)

# ---- the initramfs: busybox, the agent and its libraries, modules, rules -------------------
root=$work/root
rm -rf "$root"
mkdir -p "$root/bin" "$root/etc/mynaguard" "$root/proc" "$root/sys" "$root/dev" "$root/tmp"
copy_with_libs() {
	cp "$1" "$root/bin/"
	for lib in $(ldd "$1" | awk '/=> \// { print $3 } /^\t\// { print $1 }'); do
		mkdir -p "$root$(dirname "$lib")"
		cp -L "$lib" "$root$lib"
	done
}
cp "$(command -v busybox)" "$root/bin/busybox"
copy_with_libs "$agent"
copy_with_libs "$(dirname "$agent")/mynaguardctl" # reads the event spool in the guest
: >"$root/modules.list"
for m in xhci_pci usb_storage sd_mod usbhid hid_generic dummy_hcd libcomposite usb_f_hid \
	usb_f_mass_storage; do
	modprobe -d "$kdir" -S "$kver" --show-depends "$m" | awk '$1 == "insmod" { print $2 }'
done | awk '!seen[$0]++' | while read -r ko; do
	rel=${ko#"$kdir"/}
	mkdir -p "$root/$(dirname "$rel")"
	cp "$ko" "$root/$rel"
	echo "$rel" >>"$root/modules.list"
done
cat >"$root/etc/mynaguard/agent.conf" <<'EOF'
rules_file = /etc/mynaguard/rules.conf
implicit_target = block
present_device_policy = apply-policy
mode = enforce
authorized_default = none
block_interfaces = 01:*:* 02:*:* 05:*:* 06:*:* 07:*:* 08:*:* 0a:*:* 0d:*:* 0e:*:* 0f:*:* 10:*:* 11:*:* 12:*:* dc:*:* e0:*:* ef:*:* fe:*:* ff:*:*
state_dir = /var/lib/mynaguard
socket = /run/mynaguard/agent.sock
uevent_source = kernel
log_level = info
EOF
{
	echo '# The approved sticks (QEMU USB HARDDRIVE 46f4:0001), then the shipped profile.'
	for s in MGALLOW1 MGALLOW2 MGALLOW3; do
		echo "allow id 46f4:0001 serial \"$s\" with-interface { 08:06:50 }"
	done
	cat "$src/deploy/rules/mynumber-terminal.conf"
} >"$root/etc/mynaguard/rules.conf"
cp "$src/tests/agent/qemu/guest-init.sh" "$root/init"
chmod 0755 "$root/init"
(cd "$root" && find . | busybox cpio -o -H newc 2>/dev/null) >"$work/initrd.cpio"
echo "-- kernel $kver and initramfs ready in $(($(date +%s) - t0)) s"

# ---- one boot --------------------------------------------------------------------------------
expected="boot_keyboard_usbhid allowed_stick_disk blocked_stick_blocked composite_hid_usbhid
composite_storage_off composite_no_disk hub_bound hotplug_keyboard_usbhid
hotplug_allowed_stick_disk root_hubs_authorized_default_0 agent_alive
killed_agent_new_device_blocked"
qemu_pid=""
cleanup() { [ -z "$qemu_pid" ] || kill "$qemu_pid" 2>/dev/null || true; }
trap cleanup EXIT INT TERM

# wait_for FILE PATTERN SECONDS: until FILE has a line matching PATTERN or QEMU ended.
wait_for() {
	n=$(($3 * 5))
	while [ "$n" -gt 0 ]; do
		grep -q "$2" "$1" 2>/dev/null && return 0
		kill -0 "$qemu_pid" 2>/dev/null || return 1
		sleep 0.2
		n=$((n - 1))
	done
	return 1
}

boot() { # boot NAME EXTRA_KERNEL_ARGS
	d=$work/$1
	rm -rf "$d"
	mkdir -p "$d"
	for i in 1 2 3 4 5; do truncate -s 16M "$d/disk$i.img"; done
	mkfifo "$d/mon.in" "$d/mon.out"
	b0=$(date +%s)
	qemu-system-x86_64 -accel tcg -cpu max -m 1024 -smp 1 -display none -no-reboot \
		-kernel "$vmlinuz" -initrd "$work/initrd.cpio" \
		-append "console=ttyS0 panic=-1 loglevel=4 $2" \
		-serial "file:$d/serial.log" -monitor "pipe:$d/mon" \
		-device qemu-xhci,id=xhci \
		-device usb-kbd,bus=xhci.0,port=1 \
		-drive if=none,id=s1,format=raw,file="$d/disk1.img" \
		-device usb-storage,bus=xhci.0,port=2,drive=s1,serial=MGALLOW1 \
		-drive if=none,id=s2,format=raw,file="$d/disk2.img" \
		-device usb-storage,bus=xhci.0,port=3,drive=s2,serial=MGBLOCK1 \
		-drive if=none,id=s3,format=raw,file="$d/disk3.img" \
		-drive if=none,id=s4,format=raw,file="$d/disk4.img" \
		>"$d/qemu.log" 2>&1 &
	qemu_pid=$!
	cat "$d/mon.out" >"$d/mon.log" &
	exec 3>"$d/mon.in"
	if wait_for "$d/serial.log" "^MG-HOTPLUG 1" 240; then
		echo "device_add usb-hub,bus=xhci.0,port=4,id=hub1" >&3
		sleep 1
		echo "device_add usb-kbd,bus=xhci.0,port=4.1,id=kbd2" >&3
		echo "device_add usb-storage,bus=xhci.0,port=4.2,drive=s3,serial=MGALLOW2,id=stk2" >&3
	fi
	if wait_for "$d/serial.log" "^MG-HOTPLUG 2" 240; then
		echo "device_add usb-storage,bus=xhci.0,port=4.3,drive=s4,serial=MGALLOW3,id=stk3" >&3
	fi
	wait_for "$d/serial.log" "^MG-DONE" 120 || true
	n=50
	while [ "$n" -gt 0 ] && kill -0 "$qemu_pid" 2>/dev/null; do
		sleep 0.2
		n=$((n - 1))
	done
	exec 3>&-
	cleanup
	wait "$qemu_pid" 2>/dev/null || true
	qemu_pid=""
	echo "== boot '$1' ($2) in $(($(date +%s) - b0)) s"
	tr -d '\r' <"$d/serial.log" | grep -E '^MG-(CHECK|NOTE|TIME)' || true
	bad=0
	for c in $expected; do
		if ! tr -d '\r' <"$d/serial.log" | grep -qx "MG-CHECK $c ok"; then
			echo "FAIL [$1] $c" >&2
			bad=1
		fi
	done
	if [ $bad -ne 0 ]; then
		echo "---- serial console of boot '$1' (last 80 lines)" >&2
		tr -d '\r' <"$d/serial.log" | tail -n 80 >&2
		return 1
	fi
}

status=0
boot default-deny "usbcore.authorized_default=0" || status=1
boot kernel-default "" || status=1
echo "== total $(($(date +%s) - t0)) s"
exit $status
