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

ip -n "$rtr" link del "$side"
ip -n "$rtr" link add "$side" type bond "${options[@]}"
ip -n "$peer" link add eth0 type bond "${options[@]}"
for n in 0 1; do
  ip -n "$rtr" link add "${side}s$n" type veth peer name "eth0s$n" netns "$peer"
  ip -n "$rtr" link set "${side}s$n" master "$side"
  ip -n "$peer" link set "eth0s$n" master eth0
  # veth drops XDP-redirected frames unless its peer has XDP or GRO: the host's slaves get GRO;
  # finished checksums, as lab.sh does, so that frames survive a redirect.
  ip netns exec "$peer" ethtool -K "eth0s$n" gro on >/dev/null
  ip netns exec "$peer" ethtool -K "eth0s$n" tx off >/dev/null
  ip netns exec "$rtr" ethtool -K "${side}s$n" tx off >/dev/null
done
ip netns exec "$peer" ethtool -K eth0 tx off >/dev/null 2>&1 || true
ip -n "$rtr" addr add "10.$subnet.0.1/24" dev "$side"
ip -n "$rtr" -6 addr add "fd00:$subnet::1/64" dev "$side" nodad
ip -n "$peer" addr add "10.$subnet.0.2/24" dev eth0
ip -n "$peer" -6 addr add "fd00:$subnet::2/64" dev eth0 nodad
for n in 0 1; do
  ip -n "$rtr" link set "${side}s$n" up
  ip -n "$peer" link set "eth0s$n" up
done
ip -n "$rtr" link set "$side" up
ip -n "$peer" link set eth0 up
ip -n "$peer" route replace default via "10.$subnet.0.1"
ip -n "$peer" -6 route replace default via "fd00:$subnet::1"

# BOND_WAIT=0: for bonds that are only looked at, never sent through.
[[ ${BOND_WAIT:-1} == 0 ]] && exit 0
# Up when both ends carry traffic (802.3ad: once LACP has agreed on an aggregator); -w keeps
# probing until one reply or the deadline.
ip netns exec "$peer" ping -q -n -c 1 -i 0.2 -w 30 "10.$subnet.0.1" >/dev/null ||
  { echo "$PROG: no IPv4 traffic over bond $side ($mode) within 30 s" >&2; exit 1; }
ip netns exec "$peer" ping -6 -q -n -c 1 -i 0.2 -w 30 "fd00:$subnet::1" >/dev/null ||
  { echo "$PROG: no IPv6 traffic over bond $side ($mode) within 30 s" >&2; exit 1; }
