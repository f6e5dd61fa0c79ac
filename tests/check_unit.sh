#!/usr/bin/env bash
# check_unit.sh - keeps the service unit confined: systemd-analyze rates it
# (offline, as it would be installed) at an overall exposure of 2.0 or
# lower ("OK"), and reads it without a warning (systemd ignores a setting
# it does not know, so a misspelt one would weaken the unit in silence).
#
# usage: check_unit.sh UNIT_FILE
# Exits 0 when all is well, 1 naming what is wrong, 2 on bad usage.
set -euo pipefail

if [ $# -ne 1 ] || [ ! -f "$1" ]; then
    echo "usage: $0 UNIT_FILE" >&2
    exit 2
fi
unit=$1
max=2.0
# Never a skip: a machine that runs the tests has systemd-analyze, which
# scripts/test.sh installs (Debian's systemd package).
if ! command -v systemd-analyze >/dev/null 2>&1; then
    echo "check_unit: systemd-analyze not found: install systemd" \
         "(as root, FT_DEPS_TESTS=1 in scripts/deps.sh, which scripts/test.sh uses)" >&2
    exit 1
fi
errors=$(mktemp)
trap 'rm -f "$errors"' EXIT
report=$(systemd-analyze security --offline=true --no-pager "$unit" 2>"$errors") || true
if [ -s "$errors" ]; then
    echo "check_unit: systemd-analyze warns about $unit:" >&2
    cat "$errors" >&2
    exit 1
fi
# "→ Overall exposure level for ft.service: 1.2 OK 🙂"
level=$(printf '%s\n' "$report" |
        sed -n 's/.*Overall exposure level for [^:]*: \([0-9.]*\) .*/\1/p')
if [ -z "$level" ]; then
    echo "check_unit: no overall exposure level in systemd-analyze's report:" >&2
    printf '%s\n' "$report" >&2
    exit 1
fi
if ! awk -v l="$level" -v m="$max" 'BEGIN { exit !(l <= m) }'; then
    echo "check_unit: $unit: exposure $level, above $max; what counts:" >&2
    printf '%s\n' "$report" | grep '✗' >&2 || true
    exit 1
fi
echo "check_unit: $unit: exposure $level (at most $max)"
