#!/usr/bin/env bash
# Turns a side of a lab.sh lab into a bond of two veth slaves on both ends:
#
#   bond.sh NAME SIDE MODE [HASH]
#
# SIDE p0: rtr bond p0 (slaves p0s0, p0s1) <-> src bond eth0 (slaves eth0s0, eth0s1)
# SIDE p1: rtr bond p1 (slaves p1s0, p1s1) <-> dst bond eth0 (slaves eth0s0, eth0s1)
# rtr pXsN is paired with the host's eth0sN. Addresses and default routes are lab.sh's. Both ends
# use MODE (and xmit_hash_policy HASH) with miimon 100; slaves are enslaved in order, so in
# active-backup both ends start with slave 0 active. Everything lives in the lab's namespaces and
# goes with them (lab.sh down). BOND_MIIMON (ms, default 100) sets how soon a bond sees a link fail.
set -euo pipefail

PROG=${0##*/}
[[ $# -ge 3 && $# -le 4 ]] || { echo "usage: $PROG NAME p0|p1 MODE [HASH]" >&2; exit 2; }
NAME=$1 side=$2 mode=$3 hash=${4:-}
case $side in
  p0) host=src subnet=1 ;;
  p1) host=dst subnet=2 ;;
  *) echo "$PROG: SIDE must be p0 or p1" >&2; exit 2 ;;
esac
rtr=$NAME-rtr peer=$NAME-$host

options=(mode "$mode" miimon "${BOND_MIIMON:-100}")
[[ -n $hash ]] && options+=(xmit_hash_policy "$hash")
[[ $mode == 802.3ad ]] && options+=(lacp_rate fast)

# Each process started costs a second or more in the VM lane's emulated guest: a namespace's
# links, addresses and routes go to one `ip -batch` each. The veth pairs are born with the host's
# end in its namespace, where its bond then takes it.
ip -n "$rtr" -batch - <<EOF
link del $side
link add $side type bond ${options[*]}
link add ${side}s0 type veth peer name eth0s0 netns $peer
link add ${side}s1 type veth peer name eth0s1 netns $peer
link set ${side}s0 master $side
link set ${side}s1 master $side
addr add 10.$subnet.0.1/24 dev $side
addr add fd00:$subnet::1/64 dev $side nodad
link set ${side}s0 up
link set ${side}s1 up
link set $side up
EOF
ip -n "$peer" -batch - <<EOF
link add eth0 type bond ${options[*]}
link set eth0s0 master eth0
link set eth0s1 master eth0
addr add 10.$subnet.0.2/24 dev eth0
addr add fd00:$subnet::2/64 dev eth0 nodad
link set eth0s0 up
link set eth0s1 up
link set eth0 up
route replace default via 10.$subnet.0.1
route replace ::/0 via fd00:$subnet::1
EOF
# veth drops XDP-redirected frames unless its peer has XDP or GRO: the host's slaves get GRO;
# finished checksums, as lab.sh does, so that frames survive a redirect (before any UDP or TCP
# is sent: the first traffic is the pings below). The bond's own flag may not be settable.
ip netns exec "$peer" sh -c 'ethtool -K eth0s0 gro on tx off && ethtool -K eth0s1 gro on tx off &&
  { ethtool -K eth0 tx off 2>/dev/null || true; }' >/dev/null
ip netns exec "$rtr" sh -c "ethtool -K ${side}s0 tx off && ethtool -K ${side}s1 tx off" >/dev/null

# BOND_WAIT=0: for bonds that are only looked at, never sent through.
[[ ${BOND_WAIT:-1} == 0 ]] && exit 0
# Up when both ends carry traffic (802.3ad: once LACP has agreed on an aggregator); -w keeps
# probing until one reply or the deadline.
ip netns exec "$peer" ping -q -n -c 1 -i 0.2 -w 30 "10.$subnet.0.1" >/dev/null ||
  { echo "$PROG: no IPv4 traffic over bond $side ($mode) within 30 s" >&2; exit 1; }
ip netns exec "$peer" ping -6 -q -n -c 1 -i 0.2 -w 30 "fd00:$subnet::1" >/dev/null ||
  { echo "$PROG: no IPv6 traffic over bond $side ($mode) within 30 s" >&2; exit 1; }
