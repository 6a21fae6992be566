#!/usr/bin/env bash
# The one place that installs what fibfast needs on Debian 12. Safe to re-run: it checks first,
# and touches apt (or asks for root) only when something is missing.
#
#   install-deps.sh [--check] [GROUP...]     GROUP: build, test, bench, vm, deb (default: all five)
#
#   build   building and running the installed binary: `make install` on a router must not pull
#           in test tools, least of all a second routing daemon that starts itself
#   test    the namespace labs and the install checks
#   bench   the benchmark's tools (bench/)
#   vm      Debian 12's own kernel in a VM (scripts/vm/run.sh): qemu from Debian, then
#           scripts/vm/prepare.sh for what Debian does not package (virtme-ng, the kernel image)
#   deb     `make deb`: Debian's packaging tools, which a router building from source never needs
#
# --check (any user): only say what is missing and how to install it; exit 1 if anything is.
# Without --check, a normal user gets the same answer: only root installs.
set -euo pipefail
cd "$(dirname "$0")/.."

# nftables at run time: attach reads the firewall with nft and refuses when it cannot.
BUILD_PACKAGES=(libbpf-dev libelf-dev zlib1g-dev libnl-3-dev libnl-route-3-dev pkg-config nftables)
# bird2 and frr for the routing-daemon labs (they run their own daemons in namespaces; the
# packages' services stay masked, see below); systemd for `systemd-analyze verify`; groff-base
# to lint the man page.
TEST_PACKAGES=(
  iproute2 ethtool iputils-ping bpftool iptables tcpdump procps kmod python3
  bird2 frr systemd groff-base
)
# gcc for the generator and its control tool (the BPF side is the toolchain's clang); perf,
# gnuplot and jq for the profile, the chart and the report.
BENCH_PACKAGES=(gcc libbpf-dev libelf-dev zlib1g-dev iproute2 ethtool iputils-ping procps bpftool
  linux-perf gnuplot-nox python3 jq)
# Services these packages enable and start at install: a routing daemon in the machine's own
# namespace, reading /etc/frr or /etc/bird, is not what a test machine wants. Masked before the
# install (a link to /dev/null is what `systemctl mask` makes, and works without systemd
# running), so the package's postinst cannot start them; only when the package is being
# installed here, never on a machine that already runs it.
declare -A LAB_SERVICES=([frr]=frr.service [bird2]=bird.service)
# qemu to boot Debian's own kernel; python3-venv for virtme-ng, which only PyPI has; a static
# busybox for the initramfs virtme builds (Debian's kernel has 9p, its root filesystem, as a module).
VM_PACKAGES=(qemu-system-x86 python3-venv busybox-static)
# dpkg-buildpackage requires build-essential whatever the Build-Depends say; lintian is for
# `make deb-check`. No fakeroot: debian/control says Rules-Requires-Root: no.
DEB_PACKAGES=(debhelper dpkg-dev build-essential lintian)

usage() { echo "usage: install-deps.sh [--check] [build|test|bench|vm|deb]..." >&2; exit 2; }

check=false
if [[ ${1:-} == --check ]]; then
  check=true
  shift
fi
groups=("$@")
[[ ${#groups[@]} -gt 0 ]] || groups=(build test bench vm deb)

packages=()
vm=false
for group in "${groups[@]}"; do
  case $group in
    build) packages+=("${BUILD_PACKAGES[@]}") ;;
    test) packages+=("${TEST_PACKAGES[@]}") ;;
    bench) packages+=("${BENCH_PACKAGES[@]}") ;;
    vm) packages+=("${VM_PACKAGES[@]}"); vm=true ;;
    deb) packages+=("${DEB_PACKAGES[@]}") ;;
    *) usage ;;
  esac
done

missing=()
for p in $(printf '%s\n' "${packages[@]}" | sort -u); do
  # Status-Abbrev is "ii " only when fully installed; removed-but-configured ("rc") counts as missing.
  if [[ $(dpkg-query -W -f='${db:Status-Abbrev}' "$p" 2>/dev/null || true) != ii* ]]; then
    missing+=("$p")
  fi
done
vm_missing=
if $vm; then
  vm_missing=$(scripts/vm/prepare.sh --check || true)
fi
[[ ${#missing[@]} -eq 0 && -z $vm_missing ]] && exit 0

if $check || [[ $(id -u) -ne 0 ]]; then
  [[ ${#missing[@]} -eq 0 ]] || echo "install-deps.sh: missing Debian packages: ${missing[*]}" >&2
  [[ -z $vm_missing ]] || echo "install-deps.sh: missing for the VM: $vm_missing" >&2
  case "${groups[*]}" in
    build) how="sudo make deps-build" ;;
    "build test bench vm deb") how="sudo make deps" ;;
    *) how="sudo scripts/install-deps.sh ${groups[*]}" ;;
  esac
  echo "install-deps.sh: install them with \`$how\`" >&2
  exit 1
fi

if [[ ${#missing[@]} -gt 0 ]]; then
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
fi
if [[ -n $vm_missing ]]; then
  scripts/vm/prepare.sh
fi
