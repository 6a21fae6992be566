#!/usr/bin/env bash
# Runs inside the VM (scripts/vm/run.sh): gives the guest what the integration tests expect of a
# host, then runs the named tests of the host-built test bundle against the host-built fibfast.
#
#   guest-tests.sh BIN_PATH TEST[,TEST...]
#   guest-tests.sh BIN_PATH @FILE        the tests, one per line, in FILE
#
# BIN_PATH is `swift build --show-bin-path` (the guest cannot ask SwiftPM: .build is read-only
# there); a TEST is what XCTest on Linux takes as a filter: Module.Class or Module.Class/method.
set -euo pipefail

[[ $# -eq 2 ]] || { echo "usage: guest-tests.sh BIN_PATH TEST[,TEST...]|@FILE" >&2; exit 2; }
bin=$1 tests=$2
# A long list goes in a file: the command reaches the guest on the kernel's command line, which
# holds 2,048 bytes (longer, and 6.1 panics at boot: "detected buffer overflow in __fortify_strlen").
if [[ $tests == @* ]]; then
  tests=$(grep -v '^ *$' "${tests#@}" | paste -sd, -)
fi

echo "guest: kernel $(uname -r), booted in $(cut -d' ' -f1 /proc/uptime)s"
mountpoint -q /sys/fs/bpf || mount -t bpf bpf /sys/fs/bpf
# The root filesystem is the host's, read-only, with writable overlays on /tmp, /etc, /var and a
# few more; not on root's home, which tools may write to.
mount -t tmpfs tmpfs /root
# No udev in the guest: nothing loads tun for /dev/net/tun on first use.
modprobe tun

# XCTest runs no test at all, successfully, for a filter that matches none: refuse a misspelt one.
bundle=$bin/fibfastPackageTests.xctest
listed=$("$bundle" --list-tests)
IFS=, read -ra filters <<<"$tests"
for filter in "${filters[@]}"; do
  # Whole names from the start of the line: "FibCacheTests" (no module) matches nothing in XCTest.
  awk -v f="$filter" '$0 == f || index($0, f "/") == 1 { found = 1 } END { exit !found }' <<<"$listed" ||
    { echo "guest-tests.sh: no test matches $filter (Module.Class or Module.Class/method)" >&2; exit 2; }
done

start=$(cut -d' ' -f1 /proc/uptime)
status=0
# The guest's CPU is emulated: every deadline in the tests is stretched (Support/Deadline.swift).
FIBFAST_TEST_DEADLINE_SCALE=${FIBFAST_TEST_DEADLINE_SCALE:-6} FIBFAST_BIN=$bin/fibfast "$bundle" "$tests" || status=$?
echo "guest: tests ran $(awk -v start="$start" '{ printf "%.0f", $1 - start }' /proc/uptime)s, status $status"
exit "$status"
