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
# deletes someone else's namespaces. Every link lives in one of them and goes with it.
created_ns=()
log=

rollback() {
  local i
  for ((i = ${#created_ns[@]} - 1; i >= 0; i--)); do
    ip netns del "${created_ns[i]}" 2>/dev/null || true
  done
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

# Each process started costs a second or more in the VM lane's emulated guest, where every test
# builds its own lab: so a namespace's addresses, links and routes go to one `ip -batch`, and
# each veth pair is born with its ends already in their namespaces.

# Connects HOST_A:IF_A to HOST_B:IF_B. The namespaces are new, so the names cannot clash.
link() {
  step ip -n "$NAME-$1" link add "$2" type veth peer name "$4" netns "$NAME-$3"
}

# configure HOST: the rest of HOST's set-up, one command per line (`ip -batch`).
configure() {
  step ip -n "$NAME-$1" -batch -
}

# end_host HOST N: HOST's eth0 is 10.N.0.2 and fd00:N::2, routed through the router's .1.
end_host() {
  configure "$1" <<EOF
link set lo up
addr add 10.$2.0.2/24 dev eth0
addr add fd00:$2::2/64 dev eth0 nodad
link set eth0 up
route add default via 10.$2.0.1
route add ::/0 via fd00:$2::1
EOF
  # veth drops XDP-redirected frames unless its peer has XDP or GRO: the end hosts get GRO.
  # A veth sender leaves UDP/TCP checksums for the receiver to finish (CHECKSUM_PARTIAL), which
  # survives the kernel path but not an XDP redirect: the hosts send finished checksums, as a
  # NIC delivers them.
  step ip netns exec "$NAME-$1" ethtool -K eth0 gro on tx off
}

warm() {
  # -w keeps re-sending until one reply or the deadline, so a first probe lost to neighbour
  # resolution does not fail the lab.
  step ip netns exec "$NAME-src" ping -q -n -c 1 -i 0.2 -w 5 10.2.0.2
  step ip netns exec "$NAME-src" ping -6 -q -n -c 1 -i 0.2 -w 5 fd00:2::2
}

cmd_up() {
  local warm_up=1 owner=$PPID h forwarding
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
    # Set before any veth arrives: a new device takes the namespace's "default" conf.
    # No RA/RS/SLAAC so tests see only their own traffic; no DAD so link-locals work at once.
    forwarding=()
    [[ $h == rtr ]] && forwarding=(net.ipv4.ip_forward=1 net.ipv6.conf.all.forwarding=1)
    step ip netns exec "$NAME-$h" sysctl -q -w \
      net.ipv6.conf.default.accept_ra=0 net.ipv6.conf.all.accept_ra=0 \
      net.ipv6.conf.default.autoconf=0 net.ipv6.conf.all.autoconf=0 \
      net.ipv6.conf.default.router_solicitations=0 net.ipv6.conf.all.router_solicitations=0 \
      net.ipv6.conf.default.accept_dad=0 net.ipv6.conf.all.accept_dad=0 "${forwarding[@]}"
  done

  link src eth0 rtr p0
  link rtr p1 dst eth0

  configure rtr <<'EOF'
link set lo up
addr add 10.1.0.1/24 dev p0
addr add fd00:1::1/64 dev p0 nodad
link set p0 up
addr add 10.2.0.1/24 dev p1
addr add fd00:2::1/64 dev p1 nodad
link set p1 up
EOF
  end_host src 1
  end_host dst 2

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
