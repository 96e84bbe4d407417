#!/bin/bash
# make demo: what ignition-go is for, on this machine in under a minute.
# A disk image on a loop device plays a new machine's disk: partition 1
# holds its root filesystem, the rest is free. examples/demo-disk.ign adds
# a partition for /var, formats and mounts it, writes files, a user and
# units. The demo prints the plan first, then what was done, then the
# resulting disk and root, and removes everything it made.
set -euo pipefail
cd "$(dirname "$0")/.."
bin=./bin
cfg=examples/demo-disk.ign

echo "== ignition-validate --explain $cfg"
$bin/ignition-validate --strict --explain "$cfg"
echo
echo "== ignition-validate --format json examples/broken.ign (a broken config: every problem, with line and column)"
$bin/ignition-validate --format json examples/broken.ign || echo "(exit status $?: 1 means invalid)"

if [ "$(id -u)" != 0 ]; then
	echo
	echo "(the rest provisions a loop disk, which needs root: run make demo as root)"
	exit 0
fi

w=$(mktemp -d /tmp/ignition-demo-XXXX)
loop=""
cleanup() {
	set +e
	mountpoint -q "$w/root/var" && umount "$w/root/var"
	mountpoint -q "$w/root" && umount "$w/root"
	mountpoint -q "$w/look" && umount "$w/look"
	if [ -n "$loop" ]; then
		partx -d "$loop" 2>/dev/null
		losetup -d "$loop"
	fi
	rm -rf "$w"
}
trap cleanup EXIT

# the machine's disk: a GPT with a 128 MiB root partition (an OS image would
# bring this), 256 MiB free behind it
mkdir -p "$w/tree/etc" "$w/root" "$w/run" "$w/sys" "$w/look"
printf 'root:x:0:0:root:/root:/bin/sh\n' > "$w/tree/etc/passwd"
printf 'root:x:0:\n' > "$w/tree/etc/group"
printf 'root:*:19000:0:99999:7:::\n' > "$w/tree/etc/shadow"
printf 'root:*::\n' > "$w/tree/etc/gshadow"
chmod 600 "$w/tree/etc/shadow" "$w/tree/etc/gshadow"
truncate -s 400M "$w/disk.img"
sgdisk -n1:0:+128M -c1:root "$w/disk.img" >/dev/null
truncate -s 128M "$w/rootfs.img"
mkfs.ext4 -q -L root -d "$w/tree" "$w/rootfs.img"
dd if="$w/rootfs.img" of="$w/disk.img" bs=1M seek=1 conv=notrunc status=none
rm "$w/rootfs.img"
loop=$(losetup --show -f "$w/disk.img")
partx -a "$loop" 2>/dev/null || true
echo
echo "== the machine's disk is $loop (a loop device on $w/disk.img): before"
sgdisk -p "$loop" | sed -n '/^Number/,$p'
# the config, pointed at the loop disk
sed "s#/dev/disk/by-id/demo-disk#$loop#" "$cfg" > "$w/config.ign"
export IGNITION_CONFIG_FILE="$w/config.ign" IGNITION_KERNEL_CMDLINE_PATH="$w/cmdline" \
	IGNITION_SYSTEM_CONFIG_DIR="$w/sys" IGNITION_SYSTEM_RUNTIME_CONFIG_DIR="$w/sys" IGNITION_SYSTEM_LOCAL_CONFIG_DIR="$w/sys"
: > "$w/cmdline"
F=(-platform file -root "$w/root" -config-cache "$w/run/ignition.json" -state-file "$w/run/state" -neednet "$w/run/neednet" -log-to-stdout)
ign() { "$bin/ignition" "${F[@]}" "$@"; }
ign -stage fetch-offline > "$w/log"

# As in the initramfs, the disks stage runs before the root is mounted
# (it refuses to change a disk with a partition in use); the root is then
# mounted at $w/root (the initramfs's /sysroot) for the other stages.
echo
echo "== 1. the plan (ignition -stage disks|mount|files -dry-run): nothing is changed yet"
ign -stage disks -dry-run | grep -E "^disks:"
mount "${loop}p1" "$w/root"
for s in mount files; do
	ign -stage "$s" -dry-run | grep -E "^$s:"
done
umount "$w/root"

echo
echo "== 2. provisioning: the disks, mount, files and umount stages, as the initramfs runs them"
for s in disks mount files umount; do
	if [ "$s" = mount ]; then
		mount "${loop}p1" "$w/root"
	fi
	if ! ign -stage "$s" > "$w/log.$s" 2>&1; then
		cat "$w/log.$s"
		echo "demo: the $s stage failed"
		exit 1
	fi
	grep -E '\[finished\]|CRITICAL| done in ' "$w/log.$s" | grep -v 'platform setup' |
		sed -E 's/^.*(op\([0-9]+\): \[finished\] |INFO +: )/  /' | cut -c1-150
done

echo
echo "== 3. the result"
echo "-- sgdisk -p $loop"
sgdisk -p "$loop" | sed -n '/^Number/,$p'
echo "-- blkid"
blkid "${loop}p1" "${loop}p2"
mount "${loop}p2" "$w/look"
echo "-- /var/lib/app/README on the new var partition:"
cat "$w/look/lib/app/README"
umount "$w/look"
echo "-- the new passwd line:"
grep '^core:' "$w/root/etc/passwd"
echo "-- /home/core/.ssh/authorized_keys.d/ignition:"
cut -c1-60 "$w/root/home/core/.ssh/authorized_keys.d/ignition"
echo "-- units and the preset that enables them on first boot:"
ls "$w/root/etc/systemd/system/"
cat "$w/root/etc/systemd/system-preset/20-ignition.preset"
umount "$w/root"
echo
echo "demo: done; removing $loop and $w"
