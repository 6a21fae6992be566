#!/bin/sh
# Installs what `make bench` and `make bench-smoke` need and a fresh Debian 12
# machine lacks. Safe to run again: packages already present cost one dpkg query.
set -eu

pkgs="gcc libbpf-dev libelf-dev zlib1g-dev iproute2 ethtool iputils-ping procps
      bpftool linux-perf gnuplot-nox python3 jq"

missing=""
for p in $pkgs; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" ||
		missing="$missing $p"
done
[ -z "$missing" ] && exit 0

export DEBIAN_FRONTEND=noninteractive
# Only refresh the package lists when something is actually missing.
apt-get update -qq >/dev/null
# shellcheck disable=SC2086
apt-get install -y -qq --no-install-recommends $missing >/dev/null
