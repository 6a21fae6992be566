# shellcheck shell=bash
# Shared by the labs that run routing daemons (ospf-lab.sh, frr-lab.sh; sourced after lib.sh).
# They set NAME, PROG and STATE_ROOT and offer `down NAME`.

log=
# Any failure while building undoes the whole lab, daemons included, so nothing is left running.
fail() {
  echo "$PROG: up $NAME failed: $*" >&2
  [[ -n $log && -s $log ]] && sed 's/^/  /' "$log" >&2
  rm -f "$log"
  "$0" down "$NAME"
  exit 1
}

# Runs one step of `up`, keeping its output for `fail` to show.
step() {
  "$@" >"$log" 2>&1 || fail "$*"
}

# Takes a daemon lab down: stops the daemons named by STATE_ROOT/NAME/DAEMON.pid, kills whatever
# else runs in its namespaces (a daemon whose pid file was lost, a test's agent: either would keep
# the namespace and its veths alive after the name is gone), deletes them and the state directory.
#   teardown_daemon_lab NAME STATE_ROOT "DAEMON..." NODE...
teardown_daemon_lab() {
  local name=$1 root=$2 daemons=$3 n pid
  shift 3
  for n in $daemons; do
    pid=$(cat "$root/$name/$n.pid" 2>/dev/null) || continue
    kill "$pid" 2>/dev/null || true
  done
  for n in "$@"; do
    [[ -e /run/netns/$name-$n ]] || continue
    for pid in $(ip netns pids "$name-$n" 2>/dev/null); do
      [[ $pid == "$$" ]] || kill -KILL "$pid" 2>/dev/null || true
    done
    ip netns del "$name-$n" 2>/dev/null || true
  done
  rm -rf "${root:?}/$name"
  rmdir "$root" 2>/dev/null || true
}

# Refuses a daemon lab ($NAME) whose state directory or namespaces exist already.
#   require_new_lab STATE_DIR NODE...
require_new_lab() {
  local dir=$1 n
  shift
  [[ -e $dir ]] && { echo "$PROG: lab $NAME exists" >&2; exit 1; }
  for n in "$@"; do
    [[ -e /run/netns/$NAME-$n ]] && { echo "$PROG: namespace $NAME-$n exists" >&2; exit 1; }
  done
  return 0
}

# Makes NAME-NODE for each node, loopback up, without IPv6 router discovery or DAD (no noise
# on the test's links), through the caller's `step`, so that a failure undoes the whole lab.
add_lab_namespaces() {
  local n
  for n in "$@"; do
    step ip netns add "$NAME-$n"
    step ip -n "$NAME-$n" link set lo up
    step ip netns exec "$NAME-$n" sysctl -q -w net.ipv6.conf.default.accept_ra=0 \
      net.ipv6.conf.all.accept_ra=0 net.ipv6.conf.default.accept_dad=0 net.ipv6.conf.all.accept_dad=0
  done
}
