#!/bin/sh
# make bench (disks part, 4 disks): four 1 GiB loop disks, each with the
# layout of disks.sh (four partitions, vfat + xfs + ext4): the disks
# stage's wall time, the slowest single mkfs (the limit the hardware
# sets), and their ratio. Issue 19's goal: within 1.3x of the slowest
# mkfs plus 100 ms. Needs root and four loop devices.
set -eu
[ "$(id -u)" = 0 ] || { echo "disks benchmark (4 disks): needs root"; exit 0; }
go build -o bin/ignition ./cmd/ignition
w=$(mktemp -d /tmp/ignition-disks4-bench-XXXX)
loops=""
cleanup() {
	for l in $loops; do partx -d "$l" 2>/dev/null || true; losetup -d "$l" || true; done
	rm -rf "$w"
}
trap cleanup EXIT
disks="" fss=""
for i in 1 2 3 4; do
	truncate -s 1G "$w/disk$i.img"
	L=$(losetup -f --show "$w/disk$i.img")
	loops="$loops $L"
	sep=","; [ "$i" = 1 ] && sep=""
	disks="$disks$sep{\"device\":\"$L\",\"wipeTable\":true,\"partitions\":[
	  {\"number\":1,\"label\":\"efi$i\",\"sizeMiB\":64,\"typeGuid\":\"C12A7328-F81F-11D2-BA4B-00A0C93EC93B\"},
	  {\"number\":2,\"label\":\"boot$i\",\"sizeMiB\":128},
	  {\"number\":3,\"label\":\"var$i\",\"sizeMiB\":400},
	  {\"number\":4,\"label\":\"data$i\"}]}"
	fss="$fss$sep{\"device\":\"${L}p1\",\"format\":\"vfat\",\"label\":\"EFI$i\"},
	  {\"device\":\"${L}p3\",\"format\":\"xfs\",\"label\":\"var$i\"},
	  {\"device\":\"${L}p4\",\"format\":\"ext4\",\"label\":\"data$i\"}"
done
printf '{"ignition":{"version":"3.4.0"},"storage":{"disks":[%s],"filesystems":[%s]}}\n' "$disks" "$fss" > "$w/config.ign"
mkdir -p "$w/root" "$w/run" "$w/sys"; : > "$w/cmdline"
export IGNITION_CONFIG_FILE="$w/config.ign" IGNITION_KERNEL_CMDLINE_PATH="$w/cmdline" \
	IGNITION_SYSTEM_CONFIG_DIR="$w/sys" IGNITION_SYSTEM_RUNTIME_CONFIG_DIR="$w/sys" IGNITION_SYSTEM_LOCAL_CONFIG_DIR="$w/sys"
F="-platform file -root $w/root -config-cache $w/run/ignition.json -state-file $w/run/state -neednet $w/run/neednet -log-to-stdout"
./bin/ignition $F -stage fetch-offline >/dev/null
/usr/bin/time -f "%e" -o "$w/time" ./bin/ignition $F -stage disks > "$w/log"
total=$(cat "$w/time")
# the slowest single mkfs, from its "[finished] running mkfs..." duration
slow=$(awk '
	function t(s,  a) { split(s, a, ":"); return a[1]*3600 + a[2]*60 + a[3] }
	/\[started\]  running mkfs/ { match($0, /op\([0-9]+\)/); st[substr($0, RSTART, RLENGTH)] = t($1) }
	/\[finished\] +running mkfs/ { match($0, /op\([0-9]+\)/); d = t($1) - st[substr($0, RSTART, RLENGTH)]; if (d > m) m = d }
	END { printf "%.3f", m }' "$w/log")
n=$(grep -c '\[finished\] running mkfs' "$w/log" || true)
echo "disks stage, 4 disks (16 partitions, $n filesystems): ${total} s wall; slowest mkfs ${slow} s; wall / (slowest mkfs + 0.1 s) = $(echo "$total $slow" | awk '{printf "%.2f", $1/($2+0.1)}') (goal: 1.3)"
