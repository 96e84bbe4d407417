#!/bin/sh
# make bench (CLI part): wall time and max RSS of ignition-validate on the
# large generated configs, measured with /usr/bin/time -v.
set -eu
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
command -v /usr/bin/time >/dev/null || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq time >/dev/null; }
go run ./tests/bench/genconfig -files 20000 > "$dir/20k.ign"
go run ./tests/bench/genconfig -files 100000 > "$dir/100k.ign"
go run ./tests/bench/genconfig -files 20000 -links 5000 > "$dir/20k-5k-links.ign"
for f in 20k 100k 20k-5k-links; do
	for run in 1 2 3; do
		/usr/bin/time -v ./bin/ignition-validate "$dir/$f.ign" 2> "$dir/time" >/dev/null
		wall=$(sed -n 's/.*Elapsed (wall clock) time (h:mm:ss or m:ss): //p' "$dir/time")
		rss=$(sed -n 's/.*Maximum resident set size (kbytes): //p' "$dir/time")
		echo "$f.ign run $run: wall $wall, max RSS $((rss / 1024)) MB"
	done
done
