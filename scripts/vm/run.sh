#!/usr/bin/env bash
# Runs a command inside a VM booted on Debian 12's own kernel (6.1), over this machine's own
# filesystem (read-only, with writable overlays on /tmp, /etc, /var, ...), and exits with the
# command's status. `scripts/install-deps.sh vm` provides the kernel, qemu and virtme-ng.
#
#   run.sh [--timeout SECONDS] COMMAND [ARG...]
#
# COMMAND starts in the repository's root, as root. Its output comes back on stdout, without the
# kernel's messages. The VM is stopped after SECONDS (default 1800), on Ctrl-C, or if this
# script fails: no qemu is left running.
set -euo pipefail

CACHE=${FIBFAST_VM_CACHE:-/var/lib/fibfast-vm}
limit=1800
if [[ ${1:-} == --timeout ]]; then
  limit=$2
  shift 2
fi
[[ $# -ge 1 ]] || { echo "usage: run.sh [--timeout SECONDS] COMMAND [ARG...]" >&2; exit 2; }
cd "$(dirname "$0")/../.."

release=$(cat "$CACHE/release" 2>/dev/null) || {
  echo "run.sh: no kernel in $CACHE: run sudo scripts/install-deps.sh vm first" >&2
  exit 1
}

# vng's own exit status is not the command's, and this kernel cannot reach virtme's script I/O
# ports, so the command's output arrives on the serial console among the kernel's messages (and
# only with --verbose). The command's output is framed by two markers, the second carrying its
# status; the leading newline keeps a marker off a line the command left unfinished. The guest
# powers off as soon as the command ends, which can lose what still sits in the serial port's
# buffer (the status marker, seen): re-applying the port's own settings with stty waits for it
# to drain (tcsetattr TCSADRAIN).
BEGIN=FIBFAST-VM-BEGIN
END=FIBFAST-VM-STATUS
guest="printf '\\n$BEGIN\\n'; $(printf '%q ' "$@"); printf '\\n$END %d\\n' \$?; stty \"\$(stty -g)\""

tmp=$(mktemp -d /tmp/fibfast-vm.XXXXXX)
: >"$tmp/console"  # before tail reads it: the VM's redirection may come later
vm=
stop_vm() {
  [[ -n $vm ]] || return 0
  # vng runs in its own session: the group holds virtme-run and qemu too.
  kill -TERM -- "-$vm" 2>/dev/null || true
  for _ in {1..50}; do kill -0 -- "-$vm" 2>/dev/null || break; sleep 0.1; done
  kill -KILL -- "-$vm" 2>/dev/null || true
  vm=
}
trap 'stop_vm; rm -rf "$tmp"' EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# TCG, not KVM: KVM guests do not run on these machines (qemu aborts with -cpu host and hangs
# after the boot loader with any other model). TCG is slow, so the VM runs under nice: the host's
# two cores are shared. 9p rather than virtiofs: Debian 12's qemu only has the old virtiofsd,
# which virtme-ng cannot drive, and waiting for it to fail costs seconds.
PATH=$CACHE/venv/bin:$PATH setsid nice -n 10 vng --verbose --disable-kvm --force-9p \
  --run "$CACHE/kernel/boot/vmlinuz-$release" --cpus 2 --memory 4G \
  --exec "$guest" </dev/null >"$tmp/console" 2>&1 &
vm=$!
started=$SECONDS

# Shows the command's output as it comes: what lies between the markers, less the kernel's
# timestamped lines. Writes the status to $tmp/status.
tail -n +1 -f --pid="$vm" "$tmp/console" | awk -v begin="$BEGIN" -v end="$END" -v status="$tmp/status" '
  { sub(/\r$/, "") }  # the serial console ends lines with CR LF
  !on && index($0, begin) { on = 1; next }
  on && match($0, end " [0-9]+") {
    print substr($0, RSTART + length(end) + 1, RLENGTH - length(end) - 1) > status
    on = 0; blank = 0; next
  }
  # Blank lines wait for the next line, so the one before the end marker is dropped.
  on && /^$/ { blank++; next }
  on && !/^\[ *[0-9]+\.[0-9]+\] / { for (; blank; blank--) print ""; print; fflush() }' &
output=$!

while kill -0 "$vm" 2>/dev/null; do
  # A guest that panics (panic=-1, and qemu runs with -no-reboot) would sit idle until the limit.
  if grep -q -e 'Kernel panic' -e '^PANIC:' "$tmp/console"; then
    echo "run.sh: the guest kernel panicked; the console's last lines:" >&2
    tail -n 30 "$tmp/console" >&2
    stop_vm
    exit 125
  fi
  if ((SECONDS - started >= limit)); then
    echo "run.sh: the VM ran past ${limit}s; stopping it" >&2
    stop_vm
    exit 124
  fi
  sleep 1
done
wait "$vm" || true
vm=
wait "$output" || true
echo "run.sh: VM on $release ran $((SECONDS - started))s" >&2

if [[ ! -s $tmp/status ]]; then
  echo "run.sh: the command never reported its status; the console's last lines:" >&2
  tail -n 30 "$tmp/console" >&2
  exit 125
fi
exit "$(cat "$tmp/status")"
