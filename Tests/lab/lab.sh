#!/usr/bin/env bash
# Three-namespace lab for fibfast: NAME-src <-> NAME-rtr <-> NAME-dst.
#
#   lab.sh up NAME [--no-warm] [--owner PID]
#                                build it (all or nothing); it is taken down when PID (default:
#                                the caller) exits, if nobody did it before

#   lab.sh down NAME             tear it down; never fails
#   lab.sh exec NAME HOST cmd... run cmd in NAME-HOST (HOST: src, rtr, dst)
#
# src eth0 10.1.0.2/24 fd00:1::2/64 -- p0 10.1.0.1/24 fd00:1::1/64 [rtr]
# [rtr] p1 10.2.0.1/24 fd00:2::1/64 -- dst eth0 10.2.0.2/24 fd00:2::2/64
set -euo pipefail

PROG=${0##*/}
SELF=$(readlink -f "$0")
HOSTS=(src rtr dst)
# shellcheck source=Tests/lab/lib.sh
source "${SELF%/*}/lib.sh"

usage() {
  echo "usage: $PROG up NAME [--no-warm] [--owner PID] | down NAME | exec NAME HOST cmd..." >&2
  exit 2
}

MAX_NAME=32

# Only what this run created is undone on failure, so a clash with an existing lab never
# deletes someone else's namespaces or links.
created_ns=()
created_links=()
log=

rollback() {
  local i
  for ((i = ${#created_links[@]} - 1; i >= 0; i--)); do
    ip link del "${created_links[i]}" 2>/dev/null || true
  done
  for ((i = ${#created_ns[@]} - 1; i >= 0; i--)); do
    ip netns del "${created_ns[i]}" 2>/dev/null || true
  done
  created_links=()
  created_ns=()
}

# Runs one step quietly; on failure shows the command and its output, undoes everything, exits.
step() {
  if ! "$@" >"$log" 2>&1; then
    echo "$PROG: up $NAME failed: $*" >&2
    sed 's/^/  /' "$log" >&2
    rollback
    rm -f "$log"
    exit 1
  fi
}

# Connects HOST_A:IF_A to HOST_B:IF_B. The pair is born in the root namespace under names unique
# to this process (IFNAMSIZ allows 15 chars, too few for arbitrary lab names) and renamed inside.
link() {
  local ha=$1 ifa=$2 hb=$3 ifb=$4 ta tb
  ta=$(printf 'fl%06x%s' "$$" "$5a")
  tb=$(printf 'fl%06x%s' "$$" "$5b")
  step ip link add "$ta" type veth peer name "$tb"
  created_links+=("$ta" "$tb")
  step ip link set "$ta" netns "$NAME-$ha"
  step ip link set "$tb" netns "$NAME-$hb"
  step ip -n "$NAME-$ha" link set "$ta" name "$ifa"
  step ip -n "$NAME-$hb" link set "$tb" name "$ifb"
}

addr() {
  local h=$1 ifc=$2 v4=$3 v6=$4
  step ip -n "$NAME-$h" addr add "$v4" dev "$ifc"
  step ip -n "$NAME-$h" -6 addr add "$v6" dev "$ifc" nodad
  step ip -n "$NAME-$h" link set "$ifc" up
}

warm() {
  # -w keeps re-sending until one reply or the deadline, so a first probe lost to neighbour
  # resolution does not fail the lab.
  step ip netns exec "$NAME-src" ping -q -n -c 1 -i 0.2 -w 5 10.2.0.2
  step ip netns exec "$NAME-src" ping -6 -q -n -c 1 -i 0.2 -w 5 fd00:2::2
}

cmd_up() {
  local warm_up=1 owner=$PPID h
  [[ $# -ge 1 ]] || usage
  NAME=$1; shift
  check_name "$NAME" "$MAX_NAME" || exit 2
  while [[ $# -gt 0 ]]; do
    case $1 in
      --no-warm) warm_up=0 ;;
      --owner) [[ $# -ge 2 && $2 =~ ^[0-9]+$ ]] || usage; owner=$2; shift ;;
      *) usage ;;
    esac
    shift
  done
  need_root
  log=$(mktemp)
  trap 'rollback; rm -f "$log"; exit 130' INT TERM

  for h in "${HOSTS[@]}"; do
    step ip netns add "$NAME-$h"
    created_ns+=("$NAME-$h")
    # Set before any veth arrives: a device moved in takes the namespace's "default" conf.
    # No RA/RS/SLAAC so tests see only their own traffic; no DAD so link-locals work at once.
    step ip netns exec "$NAME-$h" sysctl -q -w \
      net.ipv6.conf.default.accept_ra=0 net.ipv6.conf.all.accept_ra=0 \
      net.ipv6.conf.default.autoconf=0 net.ipv6.conf.all.autoconf=0 \
      net.ipv6.conf.default.router_solicitations=0 net.ipv6.conf.all.router_solicitations=0 \
      net.ipv6.conf.default.accept_dad=0 net.ipv6.conf.all.accept_dad=0
    step ip -n "$NAME-$h" link set lo up
  done

  link src eth0 rtr p0 0
  link rtr p1 dst eth0 1

  addr src eth0 10.1.0.2/24 fd00:1::2/64
  addr rtr p0 10.1.0.1/24 fd00:1::1/64
  addr rtr p1 10.2.0.1/24 fd00:2::1/64
  addr dst eth0 10.2.0.2/24 fd00:2::2/64

  step ip netns exec "$NAME-rtr" sysctl -q -w net.ipv4.ip_forward=1 net.ipv6.conf.all.forwarding=1

  step ip -n "$NAME-src" route add default via 10.1.0.1
  step ip -n "$NAME-src" -6 route add default via fd00:1::1
  step ip -n "$NAME-dst" route add default via 10.2.0.1
  step ip -n "$NAME-dst" -6 route add default via fd00:2::1

  # veth drops XDP-redirected frames unless its peer has XDP or GRO: the end hosts get GRO.
  step ip netns exec "$NAME-src" ethtool -K eth0 gro on
  step ip netns exec "$NAME-dst" ethtool -K eth0 gro on
  # A veth sender leaves UDP/TCP checksums for the receiver to finish
  # (CHECKSUM_PARTIAL), which survives the kernel path but not an XDP
  # redirect. The hosts send finished checksums, as a NIC delivers them.
  step ip netns exec "$NAME-src" ethtool -K eth0 tx off
  step ip netns exec "$NAME-dst" ethtool -K eth0 tx off

  if [[ $warm_up -eq 1 ]]; then warm; fi

  trap - INT TERM
  rm -f "$log"
  reap_with_owner "$owner" "/run/netns/$NAME-rtr" "$SELF" down "$NAME"
}

cmd_down() {
  local h ns pid
  [[ $# -eq 1 ]] || exit 0
  NAME=$1
  check_name "$NAME" "$MAX_NAME" 2>/dev/null || exit 0
  for h in "${HOSTS[@]}"; do
    ns=$NAME-$h
    [[ -e /run/netns/$ns ]] || continue
    # A process left inside keeps the namespace and its veths alive after the name is gone.
    for pid in $(ip netns pids "$ns" 2>/dev/null); do
      [[ $pid == "$$" ]] || kill "$pid" 2>/dev/null || true
    done
    ip netns del "$ns" 2>/dev/null || true
  done
  exit 0
}

cmd_exec() {
  [[ $# -ge 3 ]] || usage
  NAME=$1 host=$2; shift 2
  check_name "$NAME" "$MAX_NAME" || exit 2
  case $host in src | rtr | dst) ;; *) echo "$PROG: HOST must be src, rtr or dst" >&2; exit 2 ;; esac
  exec ip netns exec "$NAME-$host" "$@"
}

[[ $# -ge 1 ]] || usage
cmd=$1; shift
case $cmd in
  up) cmd_up "$@" ;;
  down) cmd_down "$@" ;;
  exec) cmd_exec "$@" ;;
  *) usage ;;
esac
