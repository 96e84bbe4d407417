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
exit 0
