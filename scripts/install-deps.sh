#!/usr/bin/env bash
# Installs the Debian 12 packages fibfast needs to build and to run its lab tests.
# Safe to re-run: it touches apt only when something is missing.
#
#   install-deps.sh         everything (build, lab tests, install checks)
#   install-deps.sh build   only what building and running the installed binary need: `make
#                           install` on a router must not pull in test tools, least of all a
#                           second routing daemon that starts itself
#   install-deps.sh vm      the Debian part of the Debian-kernel VM (scripts/vm/install-deps.sh
#                           does the rest)
set -euo pipefail

# nftables at run time: attach reads the firewall with nft and refuses when it cannot.
BUILD_PACKAGES=(libbpf-dev libelf-dev zlib1g-dev libnl-3-dev libnl-route-3-dev pkg-config nftables)
# bird2 and frr for the routing-daemon labs (they run their own daemons in namespaces; the
# packages' services stay masked, see below); systemd for `systemd-analyze verify`; groff-base
# to lint the man page.
TEST_PACKAGES=(
  iproute2 ethtool iputils-ping bpftool iptables tcpdump procps kmod python3
  bird2 frr systemd groff-base
)
# Services these packages enable and start at install: a routing daemon in the machine's own
# namespace, reading /etc/frr or /etc/bird, is not what a test machine wants. Masked before the
# install (a link to /dev/null is what `systemctl mask` makes, and works without systemd
# running), so the package's postinst cannot start them; only when the package is being
# installed here, never on a machine that already runs it.
declare -A LAB_SERVICES=([frr]=frr.service [bird2]=bird.service)
# qemu to boot Debian's own kernel; python3-venv for virtme-ng, which only PyPI has; a static
# busybox for the initramfs virtme builds (Debian's kernel has 9p, its root filesystem, as a module).
VM_PACKAGES=(qemu-system-x86 python3-venv busybox-static)

# --check: only say what is missing (any user), and how to install it.
check=false
if [[ ${1:-} == --check ]]; then
  check=true
  shift
fi

case ${1:-all} in
  build) PACKAGES=("${BUILD_PACKAGES[@]}") ;;
  all) PACKAGES=("${BUILD_PACKAGES[@]}" "${TEST_PACKAGES[@]}") ;;
  vm) PACKAGES=("${VM_PACKAGES[@]}") ;;
  *) echo "usage: install-deps.sh [build|all|vm]" >&2; exit 2 ;;
esac

missing=()
for p in "${PACKAGES[@]}"; do
  # Status-Abbrev is "ii " only when fully installed; removed-but-configured ("rc") counts as missing.
  if [[ $(dpkg-query -W -f='${db:Status-Abbrev}' "$p" 2>/dev/null || true) != ii* ]]; then
    missing+=("$p")
  fi
done
[[ ${#missing[@]} -eq 0 ]] && exit 0

if $check || [[ $(id -u) -ne 0 ]]; then
  target=deps
  [[ ${1:-all} == build ]] && target=deps-build
  echo "install-deps.sh: missing Debian packages: ${missing[*]}" >&2
  echo "install-deps.sh: install them with \`sudo make $target\` (or apt-get install ${missing[*]})" >&2
  exit 1
fi

export DEBIAN_FRONTEND=noninteractive
log=$(mktemp)
trap 'rm -f "$log"' EXIT

# apt is noisy even with -qq; keep its output and show it only when something goes wrong.
run() {
  if ! "$@" >"$log" 2>&1; then
    cat "$log" >&2
    echo "install-deps.sh: failed: $*" >&2
    exit 1
  fi
}

for p in "${missing[@]}"; do
  unit=${LAB_SERVICES[$p]:-}
  if [[ -n $unit && ! -e /etc/systemd/system/$unit ]]; then
    mkdir -p /etc/systemd/system
    ln -s /dev/null "/etc/systemd/system/$unit"
    echo "install-deps.sh: masked $unit (the lab starts its own daemons)"
  fi
done

# A fresh machine may have no package lists at all, so refresh before installing anything.
run apt-get -qq update
run apt-get -qq install -y --no-install-recommends "${missing[@]}"
echo "install-deps.sh: installed ${missing[*]}"
