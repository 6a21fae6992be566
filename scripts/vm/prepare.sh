#!/usr/bin/env bash
# The part of the VM's set-up that Debian does not package, run by `scripts/install-deps.sh vm`
# after it installed qemu: virtme-ng (PyPI, in a venv: Debian's python3 is externally managed)
# and Debian 12's own kernel (6.1), fetched with `apt-get download` and unpacked into a cache
# rather than installed, so the host's boot set-up is left alone. Safe to re-run: once everything
# is there it touches neither apt nor pip.
#
#   prepare.sh --check   (any user) prints what is missing, if anything, and exits 1 then
#
# Not under /var/cache: virtme-ng mounts an empty tmpfs there in the guest, and the guest's
# modprobe must find the modules.
#
# Prints nothing when there was nothing to do; run.sh reads the kernel's release from $CACHE/release.
set -euo pipefail

CACHE=${FIBFAST_VM_CACHE:-/var/lib/fibfast-vm}
VIRTME_NG=virtme-ng==1.42
cd "$(dirname "$0")/../.."

release=$(cat "$CACHE/release" 2>/dev/null || true)
modules=/lib/modules/$release
if [[ ${1:-} == --check ]]; then
  missing=()
  [[ -x $CACHE/venv/bin/vng ]] || missing+=("$VIRTME_NG in $CACHE/venv")
  if [[ -z $release || ! -f $CACHE/kernel/boot/vmlinuz-$release ]]; then
    missing+=("Debian's kernel in $CACHE/kernel")
  elif [[ $(readlink "$modules" || true) != "$CACHE/kernel/lib/modules/$release" ]]; then
    missing+=("the link $modules")
  fi
  [[ ${#missing[@]} -eq 0 ]] && exit 0
  text=$(printf '%s, ' "${missing[@]}")
  echo "${text%, }"
  exit 1
fi

if [[ $(id -u) -ne 0 ]]; then
  echo "vm/prepare.sh: must run as root" >&2
  exit 1
fi

mkdir -p "$CACHE"

log=$(mktemp)
work=
trap 'rm -f "$log"; [[ -z $work ]] || rm -rf "$work"' EXIT
run() {
  if ! "$@" >"$log" 2>&1; then
    cat "$log" >&2
    echo "vm/prepare.sh: failed: $*" >&2
    exit 1
  fi
}

if [[ ! -x $CACHE/venv/bin/vng ]]; then
  rm -rf "$CACHE/venv"
  run /usr/bin/python3 -m venv "$CACHE/venv"
  run "$CACHE/venv/bin/pip" install -q "$VIRTME_NG"
  echo "vm/prepare.sh: installed $VIRTME_NG in $CACHE/venv"
fi

if [[ -z $release || ! -f $CACHE/kernel/boot/vmlinuz-$release ]]; then
  # The image package linux-image-amd64 points at, e.g. linux-image-6.1.0-57-amd64.
  image() { apt-cache show --no-all-versions linux-image-amd64 2>/dev/null |
    sed -n 's/^Depends: \(linux-image-[^ ,]*\).*/\1/p'; }
  package=$(image)
  if [[ -z $package ]]; then
    run apt-get -qq update
    package=$(image)
  fi
  [[ -n $package ]] || { echo "vm/prepare.sh: no linux-image-amd64 in apt's lists" >&2; exit 1; }
  release=${package#linux-image-}
  work=$(mktemp -d "$CACHE/.fetch.XXXXXX")
  # apt drops privileges to _apt for downloads, which must be able to write here.
  chmod 0777 "$work"
  (cd "$work" && run apt-get download -qq "$package")
  run dpkg-deb -x "$work"/"$package"_*.deb "$work/kernel"
  run depmod -b "$work/kernel" "$release"
  rm -rf "$CACHE/kernel"
  mv "$work/kernel" "$CACHE/kernel"
  echo "$release" > "$CACHE/release"
  echo "vm/prepare.sh: unpacked $package in $CACHE/kernel"
fi

# The guest sees the host's filesystem: modprobe inside finds the modules through this link.
modules=/lib/modules/$release
if [[ $(readlink "$modules" || true) != "$CACHE/kernel/lib/modules/$release" ]]; then
  mkdir -p /lib/modules
  ln -sfn "$CACHE/kernel/lib/modules/$release" "$modules"
fi
