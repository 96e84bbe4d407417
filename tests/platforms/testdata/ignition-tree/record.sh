#!/bin/sh
# Re-records tree.txt and sums.txt: what CoreOS Ignition v2.26.0's own files
# stage leaves in a root for config.ign (built from the Go module proxy in a
# scratch folder with cgo and libblkid-dev, SELinux relabelling off; its
# code is never part of this repository). Ignition stops with a D-Bus error
# after writing everything, at the instantiated units: it needs a running
# systemd for them, we do not. Run as root from this directory.
set -eu
here=$(pwd)
w=$(mktemp -d)
trap 'rm -rf "$w"' EXIT
apt-get install -y -qq --no-install-recommends libblkid-dev >/dev/null
( cd "$w" && printf 'module scratch\ngo 1.25\nrequire github.com/coreos/ignition/v2 v2.26.0\n' > go.mod &&
  GOFLAGS=-mod=mod CGO_ENABLED=1 go build -o ignition \
    -ldflags "-X github.com/coreos/ignition/v2/internal/distro.selinuxRelabel=false" github.com/coreos/ignition/v2/internal )
mkdir -p "$w/root/etc" "$w/run" "$w/sys"; : > "$w/cmdline"
printf 'motd\n' > "$w/root/etc/motd"; chmod 640 "$w/root/etc/motd"
export IGNITION_CONFIG_FILE="$here/config.ign" IGNITION_KERNEL_CMDLINE_PATH="$w/cmdline" \
  IGNITION_SYSTEM_CONFIG_DIR="$w/sys" IGNITION_SYSTEM_RUNTIME_CONFIG_DIR="$w/sys" IGNITION_SYSTEM_LOCAL_CONFIG_DIR="$w/sys"
F="-platform file -root $w/root -config-cache $w/run/ignition.json -state-file $w/run/state -neednet $w/run/neednet -log-to-stdout"
"$w/ignition" $F -stage fetch-offline >/dev/null
"$w/ignition" $F -stage files >/dev/null || true
cd "$w/root"
find . -printf '%M %U:%G %s %p -> %l\n' | grep -v ignition-result | sort -k5 > "$here/tree.txt"
find . -type f ! -name .ignition-result.json -exec sha256sum {} + | sort -k2 > "$here/sums.txt"
