#!/bin/sh
# The package version from git describe, made Debian-valid (a native
# package: no revision): v1.2.3-4-gabc -> 1.2.3+4.gabc, an untagged tree
# 0.0~gitYYYYMMDD.<hash>, a tree with changes +dirty.
d=$(git describe --tags --always --dirty 2>/dev/null || echo unknown)
case "$d" in
v[0-9]*) d=${d#v} ;;
[0-9]*.[0-9]*) ;;
*) d="0.0~git$(git log -1 --format=%cd --date=format:%Y%m%d 2>/dev/null || date -u +%Y%m%d).$d" ;;
esac
echo "$d" | sed -e 's/-\([0-9]*\)-g/+\1.g/' -e 's/-dirty$/+dirty/' -e 's/-/~/g'
