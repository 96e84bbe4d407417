#!/bin/sh
# Re-records the compatibility corpus against CoreOS Ignition's own
# ignition-validate, built from the Go module proxy in a scratch folder (its
# code is never part of this repository). Run from the repository root:
#   tests/compat/record.sh
# Needs network access to the module proxy; not part of `make test`.
set -eu
IGN_VERSION=v2.26.0
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
here=$(pwd)
(
	cd "$scratch"
	cat > go.mod <<MOD
module scratch
go 1.25
require github.com/coreos/ignition/v2 $IGN_VERSION
MOD
	GOFLAGS=-mod=mod CGO_ENABLED=0 go build -o ignition-validate github.com/coreos/ignition/v2/validate
)
{
	for f in tests/compat/cases/*.ign; do
		python3 -c 'import json,sys; print(json.dumps({"name": sys.argv[1], "config": open(sys.argv[2]).read()}))' \
			"$(basename "$f" .ign)" "$f"
	done
	for seed in 1 2 3; do go run ./tests/compat/gen -seed $seed -n 1000; done
} | go run ./tests/compat/record -validate "$scratch/ignition-validate" > tests/compat/ignition-$IGN_VERSION.jsonl
wc -l tests/compat/ignition-$IGN_VERSION.jsonl
