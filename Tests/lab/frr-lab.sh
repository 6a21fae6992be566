#!/usr/bin/env bash
# A BGP edge router under FRR with a full table: a source host, the router running FRR's zebra
# and bgpd (Debian's frr, default settings: routes go to the kernel through nexthop objects), and
# a peer running BIRD 2 that announces a generated table over two eBGP sessions per family.
#
#   frr-lab.sh up NAME V4 V6      build it, generate a table of V4 IPv4 and V6 IPv6 prefixes
#                                 (fulltable.py), start zebra and bgpd on the router and bird on
#                                 the peer with its sessions disabled (all or nothing); it is taken
#                                 down when the caller exits, if nobody did it before
#   frr-lab.sh down NAME          stop the daemons, tear it down; never fails
#   frr-lab.sh sessions NAME enable|disable   bring every BGP session of the peer up or down
#   frr-lab.sh vtysh NAME cmd...  ask the router's FRR (e.g. "show bgp summary")
#   frr-lab.sh birdc NAME cmd...  ask the peer's bird
#   frr-lab.sh exec NAME NODE cmd...   run cmd in NAME-NODE (NODE: src, rtr, peer)
#   frr-lab.sh dir NAME           print the lab's state directory (configs, logs, pid files,
#                                 destinations.json)
#
#   src eth0 198.18.1.2 -- (src 198.18.1.1) rtr (p1 198.18.2.1) -- (r1 198.18.2.2) peer
#                                              (p2 198.18.3.1) -- (r2 198.18.3.2)
#   IPv6 alike in 2001:2:0:N::/64 (the router ::1, the others ::2).
#
# The peer (AS 65001) announces every prefix over both links to the router (AS 65000); one path
# wins by AS-path length (group a: through p1, group b: through p2), or both tie and bgpd installs
# a multipath route (group m); see fulltable.py. The daemons keep everything (configs, vty
# sockets, pid files, logs) in the state directory, never in /etc/frr or /run/frr; FRR's
# daemons run as the package's frr user, as they do under its service.
set -euo pipefail

PROG=${0##*/}
SELF=$(readlink -f "$0")
HERE=${SELF%/*}
# shellcheck source=Tests/lab/lib.sh
source "$HERE/lib.sh"
# shellcheck source=Tests/lab/daemon-lab.sh
source "$HERE/daemon-lab.sh"
NODES=(src rtr peer)
STATE_ROOT=/run/fibfast-frr
MAX_NAME=24
FRR=/usr/lib/frr

usage() {
  echo "usage: $PROG up NAME V4 V6 | down NAME | sessions NAME enable|disable | vtysh NAME cmd... | birdc NAME cmd... | exec NAME NODE cmd... | dir NAME" >&2
  exit 2
}

link() { # link NODE_A PORT_A NODE_B PORT_B
  step ip -n "$NAME-$1" link add "$2" type veth peer name "$4" netns "$NAME-$3"
  step ip -n "$NAME-$1" link set "$2" up
  step ip -n "$NAME-$3" link set "$4" up
  # Frames redirected into a veth are dropped unless its peer runs XDP or has GRO on.
  step ip netns exec "$NAME-$1" ethtool -K "$2" gro on
  step ip netns exec "$NAME-$3" ethtool -K "$4" gro on
}

addr() { step ip -n "$NAME-$1" addr add "$3" dev "$2" nodad; }

zebra_config() {
  cat <<CONF
hostname $NAME-rtr
log file $DIR/zebra.log informational
CONF
}

bgpd_config() {
  local n
  cat <<CONF
hostname $NAME-rtr
log file $DIR/bgpd.log informational
router bgp 65000
 bgp router-id 198.18.1.1
 no bgp ebgp-requires-policy
CONF
  for n in 2 3; do
    # Connect retries every second: a session the peer re-enables comes up at once.
    printf ' neighbor %s remote-as 65001\n neighbor %s timers connect 1\n' "198.18.$n.2" "198.18.$n.2"
    printf ' neighbor %s remote-as 65001\n neighbor %s timers connect 1\n' "2001:2:0:$n::2" "2001:2:0:$n::2"
  done
  cat <<CONF
 address-family ipv4 unicast
  maximum-paths 4
 exit-address-family
 address-family ipv6 unicast
  neighbor 2001:2:0:2::2 activate
  neighbor 2001:2:0:3::2 activate
  maximum-paths 4
 exit-address-family
CONF
}

bird_config() {
  local n
  cat <<CONF
router id 198.18.2.2;
log "$DIR/bird.log" { warning, error, fatal, remote, auth, bug };
protocol device { }
include "$DIR/table.conf";
# One path is one AS longer than the other, but for group m, where they tie.
filter via_r1 { if proto ~ "b?" then bgp_path.prepend(65001); accept; }
filter via_r2 { if proto ~ "a?" then bgp_path.prepend(65001); accept; }
CONF
  for n in 1 2; do
    for f in 4 6; do
      local local=198.18.$((n + 1)).2 remote=198.18.$((n + 1)).1
      [[ $f == 6 ]] && local=2001:2:0:$((n + 1))::2 remote=2001:2:0:$((n + 1))::1
      cat <<CONF
protocol bgp r${n}v$f {
  disabled;
  local $local as 65001;
  neighbor $remote as 65000;
  connect delay time 1;
  connect retry time 1;
  error wait time 1, 5;
  ipv$f { import none; export filter via_r$n; };
}
CONF
    done
  done
}

in_dir_daemon() { # NODE command...: a daemon, with none of the caller's descriptors
  local node=$1
  shift
  (
    close_inherited_fds
    exec ip netns exec "$NAME-$node" "$@"
  ) </dev/null >>"$DIR/daemons.out" 2>&1
}

cmd_up() {
  local n
  [[ $# -eq 3 ]] || usage
  NAME=$1
  check_name "$NAME" "$MAX_NAME" || exit 2
  need_root
  for n in "$FRR/zebra" "$FRR/bgpd"; do
    [[ -x $n ]] || { echo "$PROG: $n missing (Debian package frr)" >&2; exit 1; }
  done
  command -v bird >/dev/null || { echo "$PROG: bird (Debian package bird2) is not installed" >&2; exit 1; }
  DIR=$STATE_ROOT/$NAME
  require_new_lab "$DIR" "${NODES[@]}"
  mkdir -p "$DIR"
  log=$(mktemp)
  trap 'fail interrupted' INT TERM

  add_lab_namespaces "${NODES[@]}"
  # The ECMP hash takes ports too, so flows between two hosts spread over a multipath route.
  step ip netns exec "$NAME-rtr" sysctl -q -w net.ipv4.ip_forward=1 net.ipv6.conf.all.forwarding=1 \
    net.ipv4.fib_multipath_hash_policy=1 net.ipv6.fib_multipath_hash_policy=1 \
    net.ipv4.conf.all.rp_filter=0 net.ipv4.conf.default.rp_filter=0
  # A port taken down and up again keeps its IPv6 addresses, and so its IPv6 sessions.
  step ip netns exec "$NAME-rtr" sysctl -q -w net.ipv6.conf.all.keep_addr_on_down=1
  link src eth0 rtr src
  link rtr p1 peer r1
  link rtr p2 peer r2
  addr src eth0 198.18.1.2/24; addr src eth0 2001:2:0:1::2/64
  addr rtr src 198.18.1.1/24;  addr rtr src 2001:2:0:1::1/64
  for n in 1 2; do
    addr rtr "p$n" "198.18.$((n + 1)).1/24"; addr rtr "p$n" "2001:2:0:$((n + 1))::1/64"
    addr peer "r$n" "198.18.$((n + 1)).2/24"; addr peer "r$n" "2001:2:0:$((n + 1))::2/64"
  done
  step ip -n "$NAME-src" route add default via 198.18.1.1
  step ip -n "$NAME-src" -6 route add default via 2001:2:0:1::1
  # Checksum offload off on the sender: a frame forwarded in XDP leaves with whatever checksum
  # state the veth left, and only the kernel's path finishes a partial one.
  step ip netns exec "$NAME-src" ethtool -K eth0 tx off

  # FRR's daemons drop to the frr user: their logs, sockets and pid files are written as it.
  step chown frr:frr "$DIR"
  step /usr/bin/python3 "$HERE/fulltable.py" "$DIR" "$2" "$3"
  zebra_config >"$DIR/zebra.conf"
  bgpd_config >"$DIR/bgpd.conf"
  bird_config >"$DIR/bird.conf"
  # Debian's /etc/frr/daemons gives zebra a 90 MB netlink buffer; the rest is FRR's defaults.
  step in_dir_daemon rtr "$FRR/zebra" -d -f "$DIR/zebra.conf" -i "$DIR/zebra.pid" -z "$DIR/zserv.api" \
    --vty_socket "$DIR" -P 0 -s 90000000
  step in_dir_daemon rtr "$FRR/bgpd" -d -f "$DIR/bgpd.conf" -i "$DIR/bgpd.pid" -z "$DIR/zserv.api" \
    --vty_socket "$DIR" -P 0
  step in_dir_daemon peer bird -c "$DIR/bird.conf" -s "$DIR/bird.ctl" -P "$DIR/bird.pid"
  trap - INT TERM
  rm -f "$log"
  reap_with_owner "$PPID" "/run/netns/$NAME-rtr" "$SELF" down "$NAME"
}

cmd_down() {
  [[ $# -eq 1 ]] || exit 0
  NAME=$1
  check_name "$NAME" "$MAX_NAME" 2>/dev/null || exit 0
  teardown_daemon_lab "$NAME" "$STATE_ROOT" "bird bgpd zebra" "${NODES[@]}"
  exit 0
}

named() { # named NAME: checks it, sets DIR
  NAME=$1
  check_name "$NAME" "$MAX_NAME" || exit 2
  DIR=$STATE_ROOT/$NAME
}

cmd_sessions() {
  [[ $# -eq 2 && ($2 == enable || $2 == disable) ]] || usage
  named "$1"
  local p
  for p in r1v4 r1v6 r2v4 r2v6; do
    birdc -s "$DIR/bird.ctl" "$2" "$p" >/dev/null
  done
}

[[ $# -ge 1 ]] || usage
cmd=$1; shift
case $cmd in
  up) cmd_up "$@" ;;
  down) cmd_down "$@" ;;
  sessions) cmd_sessions "$@" ;;
  vtysh) [[ $# -ge 2 ]] || usage; named "$1"; shift; exec ip netns exec "$NAME-rtr" vtysh --vty_socket "$DIR" -c "$*" ;;
  birdc) [[ $# -ge 2 ]] || usage; named "$1"; shift; exec birdc -s "$DIR/bird.ctl" "$@" ;;
  exec) [[ $# -ge 3 ]] || usage; named "$1"; node=$2; shift 2; exec ip netns exec "$NAME-$node" "$@" ;;
  dir) [[ $# -eq 1 ]] || usage; named "$1"; echo "$DIR" ;;
  *) usage ;;
esac
