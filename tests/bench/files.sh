#!/bin/sh
# make bench (files part): fetch-offline + files for 5,000 and 20,000 small
# files from data: URLs, on tmpfs (the stage's own cost) and on the disk
# under /tmp (the filesystem's cost dominates there), with /usr/bin/time;
# then the system calls per file, counted with strace. Needs root.
set -eu
[ "$(id -u)" = 0 ] || { echo "files benchmark: needs root"; exit 0; }
go build -o bin/ignition ./cmd/ignition
for base in /dev/shm /tmp; do
	[ -d "$base" ] || continue
	w=$(mktemp -d "$base/ignition-bench-XXXX")
	for n in 5000 20000; do
		go run ./tests/bench/genconfig -files $n -version 3.4.0 > "$w/config.ign"
		for run in 1 2 3; do
			rm -rf "$w/root" "$w/run"; mkdir -p "$w/root/etc" "$w/run" "$w/sys"; : > "$w/cmdline"
			export IGNITION_CONFIG_FILE="$w/config.ign" IGNITION_KERNEL_CMDLINE_PATH="$w/cmdline" \
				IGNITION_SYSTEM_CONFIG_DIR="$w/sys" IGNITION_SYSTEM_RUNTIME_CONFIG_DIR="$w/sys" IGNITION_SYSTEM_LOCAL_CONFIG_DIR="$w/sys"
			F="-platform file -root $w/root -config-cache $w/run/ignition.json -state-file $w/run/state -neednet $w/run/neednet -log-to-stdout"
			/usr/bin/time -f "%e %M" -o "$w/t1" ./bin/ignition $F -stage fetch-offline >/dev/null
			/usr/bin/time -f "%e %M" -o "$w/t2" ./bin/ignition $F -stage files >/dev/null
			read -r e1 m1 < "$w/t1"; read -r e2 m2 < "$w/t2"
			echo "$base $n files run $run: fetch-offline ${e1} s (${m1} KB), files ${e2} s (${m2} KB)"
		done
	done
	if [ "$base" = /dev/shm ] && command -v strace >/dev/null; then
		rm -rf "$w/root"; mkdir -p "$w/root/etc"
		strace -f -c -o "$w/strace" ./bin/ignition $F -stage files >/dev/null
		awk -v n=20000 '$NF ~ /^(newfstatat|openat|write|fchmod|fchown|close|renameat|openat2|mkdirat|syncfs)$/ {c[$NF]=$4; t+=$4}
			END {printf "system calls per file (20,000 files): %.2f (", t/n; for (k in c) printf "%s %d ", k, c[k]; print ")"}' "$w/strace"
	fi
	rm -rf "$w"
done
