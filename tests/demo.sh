#!/bin/sh
# make demo: validate and explain every example config, as a CI pipeline or
# an operator would, then show the machine-readable report of a broken one.
set -u
bin=./bin/ignition-validate
echo "== ignition-validate --explain examples/*.ign"
$bin --explain examples/*.ign
echo
echo "== ignition-validate --format json examples/broken.ign"
$bin --format json examples/broken.ign
echo "(exit status $?: 1 means invalid)"
echo
echo "== ignition-validate --strict examples/webserver.ign"
$bin --strict examples/webserver.ign && echo "webserver.ign passes strict mode"

echo
echo "== provisioning examples/webserver.ign into a scratch root, as the initramfs would"
if [ "$(id -u)" != 0 ]; then
	echo "(skipped: the files stage needs root)"
	exit 0
fi
w=$(mktemp -d /tmp/ignition-demo-XXXX)
mkdir -p "$w/root/etc" "$w/run" "$w/sys"; : > "$w/cmdline"
printf 'root:x:0:0:root:/root:/bin/sh\n' > "$w/root/etc/passwd"
printf 'root:x:0:\nwheel:x:10:\n' > "$w/root/etc/group"
printf 'root:*:19000:0:99999:7:::\n' > "$w/root/etc/shadow"
printf 'root:*::\nwheel:*::\n' > "$w/root/etc/gshadow"
chmod 600 "$w/root/etc/shadow" "$w/root/etc/gshadow"
export IGNITION_CONFIG_FILE="$PWD/examples/webserver.ign" IGNITION_KERNEL_CMDLINE_PATH="$w/cmdline" \
	IGNITION_SYSTEM_CONFIG_DIR="$w/sys" IGNITION_SYSTEM_RUNTIME_CONFIG_DIR="$w/sys" IGNITION_SYSTEM_LOCAL_CONFIG_DIR="$w/sys"
F="-platform file -root $w/root -config-cache $w/run/ignition.json -state-file $w/run/state -neednet $w/run/neednet -log-to-stdout"
./bin/ignition $F -stage fetch-offline | tail -1
echo "-- files -dry-run:"
./bin/ignition $F -stage files -dry-run | grep '^files:'
./bin/ignition $F -stage files | tail -1
echo "-- the provisioned tree:"
(cd "$w/root" && find . -path ./etc/skel -prune -o -printf '%M %U:%G %p %l\n' | sort -k3 | grep -v -e '\.pwd\.lock' -e '-$' )
echo "-- /etc/systemd/system-preset/20-ignition.preset:"
cat "$w/root/etc/systemd/system-preset/20-ignition.preset"
rm -rf "$w"
