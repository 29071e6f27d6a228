#!/bin/busybox sh
# /init of the real-kernel system test (tests/agent/qemu/test-qemu-usb.sh builds the
# initramfs around it): loads the USB, SCSI and HID drivers, starts mynaguard-agent with the
# shipped terminal profile, and reports what the kernel shows on the serial console, one
# "MG-CHECK <name> ok|FAIL <detail>" line per check. "MG-HOTPLUG <n>" asks the host to
# hot-plug the next devices; "MG-DONE" ends the run. The host judges the lines.
/bin/busybox --install -s /bin
export PATH=/bin:/sbin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
mkdir -p /tmp /run/mynaguard /var/lib/mynaguard
chown -R 0:0 /etc /bin /lib* /usr /var /run 2>/dev/null
chmod -R go-w /etc /bin /var /run
chmod 0700 /var/lib/mynaguard

for m in $(cat /modules.list); do
	insmod "/$m" 2>/dev/null || echo "MG-NOTE insmod $m failed"
done
mount -t configfs configfs /sys/kernel/config

USB=/sys/bus/usb/devices

# check NAME DETAIL COMMAND...: DETAIL is shell text evaluated when the check fails.
check() {
	name=$1 detail=$2
	shift 2
	if "$@"; then echo "MG-CHECK $name ok"; else echo "MG-CHECK $name FAIL $(eval "$detail")"; fi
}
# wait_until SECONDS COMMAND...: polls every 0.1 s.
wait_until() {
	n=$(($1 * 10))
	shift
	while [ "$n" -gt 0 ]; do
		"$@" && return 0
		sleep 0.1
		n=$((n - 1))
	done
	return 1
}
driver_is() { [ "$(basename "$(readlink "$USB/$1/driver" 2>/dev/null)" 2>/dev/null)" = "$2" ]; }
has_disk() {
	for b in /sys/block/sd*; do
		[ -e "$b" ] && readlink -f "$b" | grep -qF "/$1/$1:" && return 0
	done
	return 1
}
# decided PORT: the agent's spool holds a decision about the device at PORT.
decided() { mynaguardctl events --state-dir /var/lib/mynaguard 2>/dev/null | grep -qE "\"port\":\"$1\".*\"type\":\"device\.(allowed|blocked|rejected|suspicious)\""; }
attr_is() { [ "$(cat "$USB/$1" 2>/dev/null)" = "$2" ]; }
blocked_no_disk() { attr_is "$1/authorized" 0 && ! has_disk "$1"; }
unbound_off() { attr_is "$1/authorized" 0 && [ ! -e "$USB/$1/driver" ]; }
root_hubs_closed() {
	for h in "$USB"/usb*; do
		[ "$(cat "$h/authorized_default")" = 0 ] || return 1
	done
}
stamp() { echo "MG-TIME $1 $(cut -d' ' -f1 /proc/uptime)"; }
usb_table() { # one MG-USB line per USB device: name, ids, serial, authorized, drivers
	for d in "$USB"/*; do
		case "${d##*/}" in *:*) continue ;; esac
		drv=""
		for i in "$d"/"${d##*/}":*; do
			[ -e "$i/driver" ] && drv="$drv ${i##*/}=$(basename "$(readlink "$i/driver")")"
		done
		echo "MG-USB ${d##*/} $(cat "$d/idVendor"):$(cat "$d/idProduct") serial=$(cat "$d/serial" 2>/dev/null) authorized=$(cat "$d/authorized")$drv"
	done
}
# by_serial SERIAL: the sysfs name of the USB device with that serial (QEMU puts its sticks
# on the USB 3 bus when they are plugged into the controller, on USB 2 behind a hub).
by_serial() {
	for d in "$USB"/*; do
		[ "$(cat "$d/serial" 2>/dev/null)" = "$1" ] && echo "${d##*/}" && return 0
	done
	return 1
}
agent_alive() { kill -0 "$AGENT" 2>/dev/null; }
# The dummy_hcd bus (the composite gadget's), e.g. "3".
dummy_bus() { for h in "$USB"/usb*; do
	case "$(readlink -f "$h")" in *dummy_hcd*) echo "${h##*/usb}" && return 0 ;; esac
done; }

# A composite gadget on dummy_hcd: a HID keyboard (interface 0) and mass storage (1).
gadget() {
	g=/sys/kernel/config/usb_gadget/mg
	mkdir -p $g/strings/0x409 $g/configs/c.1 $g/functions/hid.kbd $g/functions/mass_storage.ms
	echo 0x1d6b >$g/idVendor
	echo 0x0104 >$g/idProduct
	echo MGCOMPOSITE >$g/strings/0x409/serialnumber
	echo "HID and storage" >$g/strings/0x409/product
	echo 1 >$g/functions/hid.kbd/protocol
	echo 1 >$g/functions/hid.kbd/subclass
	echo 8 >$g/functions/hid.kbd/report_length
	# The boot keyboard report descriptor (Documentation/usb/gadget_hid.rst).
	printf '\005\001\011\006\241\001\005\007\031\340\051\347\025\000\045\001\165\001\225\010\201\002\225\001\165\010\201\003\225\005\165\001\005\010\031\001\051\005\221\002\225\001\165\003\221\003\225\006\165\010\025\000\045\145\005\007\031\000\051\145\201\000\300' \
		>$g/functions/hid.kbd/report_desc
	dd if=/dev/zero of=/tmp/gadget.img bs=1024 count=4096 2>/dev/null
	echo /tmp/gadget.img >$g/functions/mass_storage.ms/lun.0/file
	ln -s $g/functions/hid.kbd $g/configs/c.1/
	ln -s $g/functions/mass_storage.ms $g/configs/c.1/
	ls /sys/class/udc >$g/UDC
}

stamp modules
/bin/mynaguard-agent --config /etc/mynaguard/agent.conf >/tmp/agent.log 2>&1 &
AGENT=$!

# Present at boot: a keyboard (1-1), an allowlisted stick, a stick no rule allows.
allowed1=$(wait_until 20 by_serial MGALLOW1)
blocked1=$(wait_until 20 by_serial MGBLOCK1)
wait_until 15 decided 1-1
wait_until 15 decided "$allowed1"
wait_until 15 decided "$blocked1"
stamp boot-decided
check boot_keyboard_usbhid 'echo 1-1:1.0 driver: $(readlink $USB/1-1:1.0/driver)' \
	wait_until 15 driver_is 1-1:1.0 usbhid
check allowed_stick_disk 'echo "$allowed1": no sd disk; ls /sys/block' \
	wait_until 20 has_disk "$allowed1"
check blocked_stick_blocked 'echo "$blocked1" authorized=$(cat $USB/$blocked1/authorized); ls /sys/block' \
	wait_until 15 blocked_no_disk "$blocked1"

usb_table
# Hot-plugged while the agent runs: a HID + storage composite device.
gadget
bus=$(dummy_bus)
wait_until 15 decided "$bus-1"
check composite_hid_usbhid 'echo $bus-1:1.0 driver: $(readlink $USB/$bus-1:1.0/driver)' \
	wait_until 15 driver_is "$bus-1:1.0" usbhid
check composite_storage_off 'echo $bus-1:1.1 authorized=$(cat $USB/$bus-1:1.1/authorized) driver=$(readlink $USB/$bus-1:1.1/driver)' \
	wait_until 5 unbound_off "$bus-1:1.1"
sleep 2
check composite_no_disk 'echo a disk appeared' eval '! has_disk "$bus-1"'

stamp composite
echo "MG-HOTPLUG 1"
# The host adds a hub at port 4, a keyboard behind it (4.1) and an allowlisted stick (4.2).
allowed2=$(wait_until 20 by_serial MGALLOW2)
wait_until 15 decided "$allowed2"
wait_until 15 decided 1-4.1
stamp hotplug-decided
usb_table
check hub_bound 'echo 1-4:1.0 driver: $(readlink $USB/1-4:1.0/driver)' wait_until 15 driver_is 1-4:1.0 hub
check hotplug_keyboard_usbhid 'echo 1-4.1:1.0 driver: $(readlink $USB/1-4.1:1.0/driver)' \
	wait_until 15 driver_is 1-4.1:1.0 usbhid
check hotplug_allowed_stick_disk 'echo "$allowed2": no sd disk; ls /sys/block' \
	wait_until 20 has_disk "$allowed2"
check root_hubs_authorized_default_0 'cat $USB/usb*/authorized_default | tr "\\n" " "' \
	root_hubs_closed
check agent_alive 'echo agent exited: $(tail -n 3 /tmp/agent.log)' agent_alive

kill -9 "$AGENT"
wait_until 5 sh -c "! kill -0 $AGENT 2>/dev/null"
echo "MG-HOTPLUG 2"
# The host adds another allowlisted stick (4.3): without the agent, nobody authorizes it.
allowed3=$(wait_until 20 by_serial MGALLOW3)
sleep 3
check killed_agent_new_device_blocked 'echo "$allowed3" authorized=$(cat $USB/$allowed3/authorized); ls /sys/block' \
	blocked_no_disk "$allowed3"

stamp end
usb_table
echo "MG-AGENT-LOG"
tail -n 20 /tmp/agent.log
echo "MG-DONE"
poweroff -f
