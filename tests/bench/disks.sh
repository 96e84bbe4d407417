#!/bin/sh
# make bench (disks part): one 1 GiB loop disk, four partitions, three
# filesystems; the disks stage's wall time and our own share of it (the
# wall time less the time the external programs ran, from the log's
# "[finished] running ..." durations). Needs root and a loop device.
set -eu
[ "$(id -u)" = 0 ] || { echo "disks benchmark: needs root"; exit 0; }
go build -o bin/ignition ./cmd/ignition
w=$(mktemp -d /tmp/ignition-disks-bench-XXXX)
truncate -s 1G "$w/disk.img"
L=$(losetup -f --show -P "$w/disk.img")
trap 'partx -d "$L" 2>/dev/null || true; losetup -d "$L"; rm -rf "$w"' EXIT
cat > "$w/config.ign" <<CFG
{"ignition":{"version":"3.4.0"},"storage":{
 "disks":[{"device":"$L","wipeTable":true,"partitions":[
   {"number":1,"label":"efi","sizeMiB":64,"typeGuid":"C12A7328-F81F-11D2-BA4B-00A0C93EC93B"},
   {"number":2,"label":"boot","sizeMiB":128},
   {"number":3,"label":"var","sizeMiB":400},
   {"number":4,"label":"data"}]}],
 "filesystems":[
   {"device":"${L}p1","format":"vfat","label":"EFI"},
   {"device":"${L}p3","format":"xfs","label":"var"},
   {"device":"${L}p4","format":"ext4","label":"data"}]}}
CFG
mkdir -p "$w/root" "$w/run" "$w/sys"; : > "$w/cmdline"
export IGNITION_CONFIG_FILE="$w/config.ign" IGNITION_KERNEL_CMDLINE_PATH="$w/cmdline" \
	IGNITION_SYSTEM_CONFIG_DIR="$w/sys" IGNITION_SYSTEM_RUNTIME_CONFIG_DIR="$w/sys" IGNITION_SYSTEM_LOCAL_CONFIG_DIR="$w/sys"
F="-platform file -root $w/root -config-cache $w/run/ignition.json -state-file $w/run/state -neednet $w/run/neednet -log-to-stdout"
./bin/ignition $F -stage fetch-offline >/dev/null
for run in 1 2; do
	# run 1 makes everything; run 2 finds it all in place and keeps it
	/usr/bin/time -f "%e" -o "$w/time" ./bin/ignition $F -stage disks > "$w/log"
	total=$(cat "$w/time")
	# the time covered by external programs: the union of their
	# [started, finished] intervals (mkfs runs in parallel)
	ext=$(awk '
		function t(s,  a) { split(s, a, ":"); return a[1]*3600 + a[2]*60 + a[3] }
		/\[started\]  running / { match($0, /op\([0-9]+\)/); st[substr($0, RSTART, RLENGTH)] = t($1) }
		/\[(finished|failed)\] +running / { match($0, /op\([0-9]+\)/); id = substr($0, RSTART, RLENGTH); n++; b[n] = st[id]; e[n] = t($1) }
		END {
			for (i = 1; i <= n; i++) for (j = i + 1; j <= n; j++) if (b[j] < b[i]) { x = b[i]; b[i] = b[j]; b[j] = x; x = e[i]; e[i] = e[j]; e[j] = x }
			tot = 0; cs = -1; ce = -1
			for (i = 1; i <= n; i++) {
				if (b[i] > ce) { if (ce > cs) tot += ce - cs; cs = b[i]; ce = e[i] } else if (e[i] > ce) ce = e[i]
			}
			if (ce > cs) tot += ce - cs
			printf "%.3f", tot
		}' "$w/log")
	n=$(grep -c '\[finished\] running ' "$w/log" || true)
	echo "disks stage run $run (4 partitions, 3 filesystems): ${total} s wall, ${ext} s in $n external program(s), our share $(echo "$total $ext" | awk '{printf "%d ms", ($1-$2)*1000}')"
done
