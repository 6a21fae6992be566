#!/usr/bin/env bash
# A routed lab for fibfast under a real routing daemon: two hosts, four routers running BIRD 2
# (OSPFv2) in a diamond, so R1 and R4 each learn an ECMP pair through R2 and R3.
#
#   ospf-lab.sh up NAME            build it and start one bird per router (all or nothing); it is
#                                  taken down when the caller exits, if nobody did it before
#   ospf-lab.sh down NAME          stop the birds, tear it down; never fails
#   ospf-lab.sh wait NAME [SECS]   wait until R1 and R4 have their ECMP pair towards the far host
#   ospf-lab.sh birdc NAME ROUTER cmd...   talk to one router's bird (ROUTER: r1..r4)
#   ospf-lab.sh exec NAME NODE cmd...      run cmd in NAME-NODE (NODE: a, r1..r4, b)
#
#                   r2 10.0.12.2 -- 10.0.24.2
#                  /                          \
#   a 10.0.1.2 -- r1 (ha 10.0.1.1)     (hb 10.0.2.1) r4 -- b 10.0.2.2
#                  \                          /
#                   r3 10.0.13.3 -- 10.0.34.3
#
# Routers name each port after the node at its other end (r1's port to r2 is "r2"); the host
# ports are "ha" and "hb", the hosts' own port "eth0". Only connected routes are configured by
# hand; everything else is learned over OSPF and installed by bird's kernel protocol.
# State (configs, control sockets, pid files, logs) lives in /run/fibfast-ospf/NAME.
set -euo pipefail

PROG=${0##*/}
SELF=$(readlink -f "$0")
# shellcheck source=Tests/lab/lib.sh
source "${SELF%/*}/lib.sh"
# shellcheck source=Tests/lab/daemon-lab.sh
source "${SELF%/*}/daemon-lab.sh"
ROUTERS=(r1 r2 r3 r4)
NODES=(a r1 r2 r3 r4 b)
STATE_ROOT=/run/fibfast-ospf

usage() {
  echo "usage: $PROG up NAME | down NAME | wait NAME [SECS] | birdc NAME ROUTER cmd... | exec NAME NODE cmd..." >&2
  exit 2
}

MAX_NAME=24

# link NODE_A NODE_B: a veth pair between two nodes, each end named after the other node (a host
# end is "eth0", a router's end towards a host "ha"/"hb"). Born inside NODE_A's namespace, where
# the names are free, then one end moves.
port_name() { # port_name FROM TO: the name of FROM's port towards TO
  case $1 in a | b) echo eth0 ;; *) case $2 in a | b) echo "h$2" ;; *) echo "$2" ;; esac ;; esac
}
link() {
  local x=$1 y=$2 px py
  px=$(port_name "$x" "$y")
  py=$(port_name "$y" "$x")
  step ip -n "$NAME-$x" link add "$px" type veth peer name "tmp-$py"
  step ip -n "$NAME-$x" link set "tmp-$py" netns "$NAME-$y"
  step ip -n "$NAME-$y" link set "tmp-$py" name "$py"
  step ip -n "$NAME-$x" link set "$px" up
  step ip -n "$NAME-$y" link set "$py" up
  # A veth drops frames redirected into it unless its peer runs XDP or has GRO on. Routers run
  # fibfast, but agents start and stop one router at a time (a restart, an upgrade): with GRO on
  # every end, r1's fast path never depends on r2's being up.
  step ip netns exec "$NAME-$x" ethtool -K "$px" gro on
  step ip netns exec "$NAME-$y" ethtool -K "$py" gro on
}

addr() { step ip -n "$NAME-$1" addr add "$3" dev "$2"; }

bird_config() { # bird_config ROUTER N
  local dir=$STATE_ROOT/$NAME
  cat <<EOF
# $NAME-$1
router id 10.255.255.$2;
log "$dir/$1.log" all;

protocol device { scan time 10; }

# Install what OSPF learns; merge paths turns equal-cost OSPF routes into one multipath route.
protocol kernel {
  ipv4 { import none; export where source = RTS_OSPF; };
  merge paths on;
}

protocol ospf v2 {
  ecmp yes;
  ipv4 { import all; export none; };
  area 0 {
    interface "ha", "hb" { stub yes; };
    # Point-to-point links skip the DR election; 1 s hellos and a 3 s dead interval keep
    # reconvergence measurable in seconds; check link reacts to carrier loss at once.
    interface "r*" { type ptp; hello 1; dead 3; check link yes; };
  };
}
EOF
}

# bird daemonizes and keeps every descriptor it inherited: only 0-2 go to bird.
start_bird() {
  local r=$1
  (
    close_inherited_fds
    exec ip netns exec "$NAME-$r" bird -c "$STATE_ROOT/$NAME/$r.conf" \
      -s "$STATE_ROOT/$NAME/$r.ctl" -P "$STATE_ROOT/$NAME/$r.pid"
  )
}

cmd_up() {
  local n r
  [[ $# -eq 1 ]] || usage
  NAME=$1
  check_name "$NAME" "$MAX_NAME" || exit 2
  need_root
  command -v bird >/dev/null || { echo "$PROG: bird (Debian package bird2) is not installed" >&2; exit 1; }
  require_new_lab "$STATE_ROOT/$NAME" "${NODES[@]}"
  mkdir -p "$STATE_ROOT/$NAME"
  log=$(mktemp)
  trap 'fail interrupted' INT TERM

  add_lab_namespaces "${NODES[@]}"
  for r in "${ROUTERS[@]}"; do
    # Policy 1 hashes on ports as well as addresses, so flows between the same two hosts spread
    # over an ECMP pair; the fast path hands bpf_fib_lookup the ports for the same reason.
    # rp_filter off: with ECMP the return path of a flow may use the other router.
    step ip netns exec "$NAME-$r" sysctl -q -w net.ipv4.ip_forward=1 \
      net.ipv4.fib_multipath_hash_policy=1 net.ipv4.conf.all.rp_filter=0 net.ipv4.conf.default.rp_filter=0
  done

  link a r1; link r1 r2; link r1 r3; link r2 r4; link r3 r4; link r4 b

  addr a eth0 10.0.1.2/24;   addr r1 ha 10.0.1.1/24
  addr r1 r2 10.0.12.1/24;   addr r2 r1 10.0.12.2/24
  addr r1 r3 10.0.13.1/24;   addr r3 r1 10.0.13.3/24
  addr r2 r4 10.0.24.2/24;   addr r4 r2 10.0.24.4/24
  addr r3 r4 10.0.34.3/24;   addr r4 r3 10.0.34.4/24
  addr r4 hb 10.0.2.1/24;    addr b eth0 10.0.2.2/24
  step ip -n "$NAME-a" route add default via 10.0.1.1
  step ip -n "$NAME-b" route add default via 10.0.2.1
  # Checksum offload off on the hosts: a veth hands its peer UDP/TCP packets whose checksum is
  # left for "the hardware" (CHECKSUM_PARTIAL). The kernel's forwarding path carries that state
  # along, but a frame forwarded in XDP leaves as bare bytes, and the receiver counts a checksum
  # error (seen here: UdpInCsumErrors on b, one per datagram). Real NICs deliver complete
  # checksums, so this is about veth senders only.
  for n in a b; do step ip netns exec "$NAME-$n" ethtool -K eth0 tx off; done

  for n in 1 2 3 4; do
    r=r$n
    bird_config "$r" "$n" >"$STATE_ROOT/$NAME/$r.conf"
    step start_bird "$r"
  done
  trap - INT TERM
  rm -f "$log"
  reap_with_owner "$PPID" "/run/netns/$NAME-r1" "$SELF" down "$NAME"
}

cmd_down() {
  [[ $# -eq 1 ]] || exit 0
  NAME=$1
  check_name "$NAME" "$MAX_NAME" 2>/dev/null || exit 0
  teardown_daemon_lab "$NAME" "$STATE_ROOT" "${ROUTERS[*]}" "${NODES[@]}"
  exit 0
}

# Converged for the tests' purpose: each end router has both paths towards the far host.
has_ecmp_pair() { # has_ecmp_pair ROUTER PREFIX
  [[ $(ip -n "$NAME-$1" route show "$2" proto bird | grep -c 'nexthop via') -eq 2 ]]
}

cmd_wait() {
  local deadline
  [[ $# -ge 1 ]] || usage
  NAME=$1
  check_name "$NAME" "$MAX_NAME" || exit 2
  deadline=$((SECONDS + ${2:-30}))
  while ((SECONDS < deadline)); do
    if has_ecmp_pair r1 10.0.2.0/24 && has_ecmp_pair r4 10.0.1.0/24; then exit 0; fi
    sleep 0.2 # routes BIRD installs raise no event this shell waits on: poll until the deadline
  done
  echo "$PROG: $NAME did not converge in ${2:-30} s" >&2
  for r in r1 r4; do echo "$r:"; ip -n "$NAME-$r" route; done >&2
  exit 1
}

cmd_birdc() {
  [[ $# -ge 3 ]] || usage
  NAME=$1 r=$2; shift 2
  check_name "$NAME" "$MAX_NAME" || exit 2
  exec birdc -s "$STATE_ROOT/$NAME/$r.ctl" "$@"
}

cmd_exec() {
  [[ $# -ge 3 ]] || usage
  NAME=$1 node=$2; shift 2
  check_name "$NAME" "$MAX_NAME" || exit 2
  exec ip netns exec "$NAME-$node" "$@"
}

[[ $# -ge 1 ]] || usage
cmd=$1; shift
case $cmd in
  up) cmd_up "$@" ;;
  down) cmd_down "$@" ;;
  wait) cmd_wait "$@" ;;
  birdc) cmd_birdc "$@" ;;
  exec) cmd_exec "$@" ;;
  *) usage ;;
esac
