# shellcheck shell=bash
# Shared by the lab scripts (sourced, not run).

need_root() {
  [[ $(id -u) -eq 0 ]] || { echo "$PROG: must run as root" >&2; exit 1; }
}

# check_name NAME MAX: NAME becomes part of namespace and file names; keep it to something that
# cannot surprise a shell, and short enough for the names built from it.
check_name() {
  [[ $1 =~ ^[A-Za-z0-9][A-Za-z0-9_.-]*$ && ${#1} -le $2 ]] && return
  echo "$PROG: bad lab name '$1' (letters, digits, _ . -, at most $2)" >&2
  return 1
}

# Closes every descriptor above 2 in the calling (sub)shell. Whoever ran the lab script may be
# waiting for a descriptor it passed down to close: the tests read a script's output to its end,
# so anything long-lived that keeps one (a daemon, a reaper) makes the script look like it never
# ends.
close_inherited_fds() {
  local fd
  for fd in /proc/"$BASHPID"/fd/*; do
    fd=${fd##*/}
    ((fd > 2)) && eval "exec $fd>&-"
  done 2>/dev/null
}

# Runs a command in the background, in its own session, with 0-2 on /dev/null and nothing else.
detach_quietly() {
  (
    close_inherited_fds
    exec setsid "$@"
  ) </dev/null >/dev/null 2>&1 &
}

# A lab belongs to the process that asked for it (a test, the demo, the bench). When that
# process is gone, however it ended (a crash, SIGKILL, a timeout), the lab goes too: a test's
# teardown does not run when its process dies. A reaper polls the owner every second and runs
# DOWN_COMMAND when it is gone (the owner is not the reaper's child: its end raises no event a
# shell can wait on); it exits by itself once the lab was taken down some other way.
#   reap_with_owner OWNER_PID PROBE DOWN_COMMAND...
# PROBE is a path that exists while the lab does (one of its /run/netns entries).
reap_with_owner() {
  # shellcheck disable=SC2016 # expanded by the reaper's own shell
  detach_quietly bash -c '
    owner=$1 probe=$2; shift 2
    while kill -0 "$owner" 2>/dev/null && [[ -e $probe ]]; do sleep 1; done
    [[ -e $probe ]] && exec "$@"
    exit 0' reaper "$@"
}
