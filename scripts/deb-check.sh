#!/usr/bin/env bash
# `make deb-check` (run by `make test`): the Debian package as an operator meets it. On this
# machine: lintian (no errors), the dependencies (runtime libraries, no -dev package, no Swift),
# the binary's libraries. Then, in one boot of Debian 12's kernel in the VM (scripts/vm/run.sh,
# where /usr, /etc and /var are writable overlays over this machine's filesystem): under a real
# systemd (PID 1 of a PID namespace), `apt-get install ./fibfast_*.deb` with nothing started by
# it; `fibfast attach` and then `systemctl start fibfast@lab` forwarding in XDP in a namespace
# lab; `systemctl stop` handing the ports back to the kernel; `apt-get remove` keeping the
# operator's instance file, `apt-get purge` leaving nothing behind. Prints "deb-check: N passed,
# M failed"; exits 1 on any failure.
#
#   deb-check.sh DEB            DEB: build/fibfast_VERSION_ARCH.deb (`make deb`)
#   deb-check.sh --guest DEB    the part that runs inside the VM (root, throw-away)
set -uo pipefail

here=$(cd "$(dirname "$0")/.." && pwd)
cd "$here"
passed=0
failed=0
ok() { passed=$((passed + 1)); echo "  ok   $1"; }
bad() { failed=$((failed + 1)); echo "  FAIL $1"; [[ $# -gt 1 ]] && sed 's/^/       /' <<<"$2"; }
check() { # check NAME CMD...: passes when CMD succeeds
  local name=$1 out; shift
  if out=$("$@" 2>&1); then ok "$name"; else bad "$name" "$out"; fi
}
# until_true SECONDS CMD...: CMD succeeds within SECONDS (the guest's CPU is emulated: generous).
until_true() {
  local limit=$1; shift
  local end=$((SECONDS + limit))
  until "$@" >/dev/null 2>&1; do
    ((SECONDS < end)) || return 1
    sleep 0.2
  done
}
finish() {
  echo "deb-check${1:+ ($1)}: $passed passed, $failed failed"
  [[ $failed -eq 0 ]]
}

# What the guest's install and purge would change on this machine, were the overlays not there.
host_state() {
  dpkg-query -W -f='${db:Status-Abbrev}${Version}\n' fibfast 2>/dev/null || echo "unknown to dpkg"
  ls -ld /usr/sbin/fibfast /usr/lib/systemd/system/fibfast@.service /etc/fibfast \
    /var/lib/dpkg/info/fibfast.list /var/lib/man-db/auto-update 2>&1
}

# ---------------------------------------------------------------------------------------------
host() {
  local deb=$1 work
  [[ -f $deb ]] || { echo "deb-check.sh: no $deb: run \`make deb\` first" >&2; exit 1; }
  work=$(mktemp -d /tmp/fibfast-deb-check.XXXXXX)
  # shellcheck disable=SC2064 # $work is fixed now
  trap "rm -rf '$work'" EXIT

  echo "deb-check: $deb ($(du -k "$deb" | cut -f1) KiB, installed $(dpkg-deb -f "$deb" Installed-Size) KiB)"
  local lint lint_status=0
  lintian --fail-on error "$deb" >"$work/lintian" 2>&1 || lint_status=$?
  lint=$(grep -v '^running with root privileges' "$work/lintian")
  if [[ $lint_status -eq 0 ]]; then
    ok "lintian reports no errors"
    [[ -z $lint ]] || sed 's/^/       /' <<<"$lint"
  else
    bad "lintian reports no errors" "$lint"
  fi
  local depends
  depends=$(dpkg-deb -f "$deb" Depends)
  echo "       Depends: $depends"
  check "depends on the runtime libraries (libbpf1, libelf1, libnl-3-200, libnl-route-3-200)" bash -c \
    "for p in libbpf1 libnl-3-200 libnl-route-3-200; do grep -qw \"\$p\" <<<'$depends' || { echo \"no \$p\"; exit 1; }; done
     # libelf1 comes through libbpf1 (fibfast links libbpf, not libelf itself)
     apt-cache depends libbpf1 | grep -qw libelf1"
  check "depends on no -dev package and no Swift" bash -c "! grep -qiE -- '-dev\\b|swift' <<<'$depends'"
  dpkg-deb -x "$deb" "$work/root"
  local libs
  libs=$(ldd "$work/root/usr/sbin/fibfast" 2>&1)
  sed 's/^/       /' <<<"$libs"
  check "the binary needs no Swift library and every library resolves" bash -c \
    "! grep -qiE 'swift|not found' <<<'$libs'"

  echo "deb-check: in the VM (Debian 12's kernel, systemd as PID 1 of a PID namespace)"
  local status=0 host_before
  host_before=$(host_state)
  scripts/vm/run.sh --timeout "${FIBFAST_DEB_CHECK_TIMEOUT:-1200}" scripts/deb-check.sh --guest "$deb" || status=$?
  [[ $status -eq 0 ]] && ok "the checks in the VM passed" || bad "the checks in the VM passed (status $status)"
  # The VM installed and purged over overlays of this machine's /usr, /etc and /var: none of it
  # may have reached the machine itself.
  check "this machine's dpkg and files are as before the VM (fibfast: $(head -1 <<<"$host_before"))" \
    test "$(host_state)" = "$host_before"
  finish
}

# ---------------------------------------------------------------------------------------------
# Inside the VM. The overlays' upper directories (/run/tmp/virtme_rw_overlay*/upper) hold every
# file created, changed or deleted in /usr, /etc, /var... since boot: what the package left
# behind is what they gained between before the install and after the purge.
LAB=lab
NS=$LAB-rtr
lab=$here/Tests/lab/lab.sh
systemd_pid=
agent=

# Runs a command in systemd's PID and mount namespaces, where systemctl and /proc agree with it.
insd() { nsenter --target "$systemd_pid" --pid --mount "$@"; }

guest_cleanup() {
  if [[ -n $agent ]]; then kill -KILL "$agent" 2>/dev/null; wait "$agent" 2>/dev/null; fi
  if [[ -n $systemd_pid ]]; then kill -KILL "$systemd_pid" 2>/dev/null; fi
  "$lab" down "$LAB"
}

# The overlays' paths, each as the guest sees it: virtme_rw_overlayN=DIR on the kernel command
# line names DIR. The /lib overlay sits on /usr/lib (Debian 12's /lib is a link to usr/lib).
snapshot() {
  local arg tag dir
  for arg in $(cat /proc/cmdline); do
    [[ $arg == virtme_rw_overlay*=* ]] || continue
    tag=${arg%%=*} dir=$(readlink -f "${arg#*=}")
    [[ $dir == /tmp ]] && continue  # this script's own scratch space
    (cd "/run/tmp/$tag/upper" && find . -mindepth 1 | sed "s|^\.|$dir|")
  done | sort -u
}

# What the package's life left behind: paths gained since `before` that do not exist in the
# filesystem underneath (bind-mounted at $lower), less the state systemd and apt keep
# for themselves whatever is installed (not if the path names fibfast).
leftovers() {
  local before=$1
  comm -13 "$before" <(snapshot) | while read -r path; do
    [[ -e $lower$path || -L $lower$path ]] && continue
    if [[ $path != *fibfast* ]]; then
      case $path in
        /var/lib/systemd* | /var/log/* | /var/cache/* | /etc/machine-id | /var/lib/apt/* | \
          /var/lib/dpkg/*-old | /var/lib/dpkg/triggers/* | /var/lib/dpkg/lock* | \
          /var/lib/dpkg/updates* | /var/lib/private*) continue ;;
      esac
    fi
    echo "$path"
  done
}

# watched CMD...: runs CMD; should it outlast five minutes (an install takes 1-2 here), what every
# process is doing is shown each five minutes until it ends: the evidence for a step that hangs.
# It changes no verdict.
watched() {
  "$@" &
  local pid=$! minutes=0
  ( while sleep 300; do
      minutes=$((minutes + 5))
      echo "guest: $(uptime_s) still in: $* (${minutes} min); processes:"
      ps -e -o pid,ppid,stat,etime,wchan:32,args --sort=pid | awk '$NF !~ /^\[/' | sed 's/^/       /'
      tail -5 "$work/apt.log" 2>/dev/null | sed 's/^/       apt: /'
    done >&3 ) &
  local watcher=$!
  wait "$pid"
  local status=$?
  kill "$watcher" 2>/dev/null; wait "$watcher" 2>/dev/null
  return $status
}
apt_get() { # apt_get ARGS...: a check named after the command, apt's output shown on failure
  if DEBIAN_FRONTEND=noninteractive watched apt-get -y -q "$@" >"$work/apt.log" 2>&1; then ok "apt-get $*"
  else bad "apt-get $*" "$(tail -20 "$work/apt.log")"; return 1; fi
}
uptime_s() { echo "t=$(cut -d. -f1 /proc/uptime)s"; }
xdp_on_ports() { ip -n "$NS" -d link show p0 | grep -q 'prog/xdp' || ip -n "$NS" -d link show p1 | grep -q 'prog/xdp'; }
no_xdp_on_ports() { ! xdp_on_ports; }
ping_dst() { ip netns exec "$LAB-src" ping -q -n -c 10 -i 0.2 -w 60 10.2.0.2; }

# forwarded_in_xdp: every echo request (p0) and reply (p1) of ping_dst forwarded in XDP.
forwarded_in_xdp() {
  local json
  json=$(ip netns exec "$NS" fibfast stats --json) || return 1
  /usr/bin/python3 -c '
import json, sys
ports = {p["name"]: p["forwarded"]["packets"] for p in json.load(sys.stdin)["ports"]}
print("forwarded in XDP: p0 %d, p1 %d" % (ports.get("p0", 0), ports.get("p1", 0)))
sys.exit(0 if ports.get("p0", 0) >= 10 and ports.get("p1", 0) >= 10 else 1)' <<<"$json"
}
attached() {
  ip netns exec "$NS" fibfast status --json | /usr/bin/python3 -c '
import json, sys
paths = json.load(sys.stdin)["fastPaths"]
sys.exit(0 if len(paths) == 1 and sorted(p["name"] for p in paths[0]["ports"]) == ["p0", "p1"] else 1)'
}

guest() {
  local deb=$1 version work before files conffiles
  trap guest_cleanup EXIT
  exec 3>&1  # this script's output, for watched's reports while a step's own output is kept aside
  echo "guest: kernel $(uname -r), booted in $(cut -d' ' -f1 /proc/uptime)s"
  mountpoint -q /sys/fs/bpf || mount -t bpf bpf /sys/fs/bpf
  mount -t tmpfs tmpfs /root
  work=$(mktemp -d /tmp/deb-check.XXXXXX)
  lower=$work/lower
  mkdir -p "$lower" && mount --bind / "$lower"
  mkdir -p /var/cache/apt/archives/partial
  # /var/cache is an empty tmpfs here: man-db's trigger would rebuild the whole man index from
  # scratch, every page of this machine read over 9p by an emulated CPU (seen: mandb -pq in
  # p9_client_rpc for over 5 minutes; the install takes 1-2 minutes without it). Without this
  # file the trigger skips; `man -w` below still finds the page, by its path.
  rm -f /var/lib/man-db/auto-update
  version=$(dpkg-deb -f "$deb" Version)
  if dpkg-query -W -f='${db:Status-Abbrev}' fibfast 2>/dev/null | grep -q '^[ir]'; then
    bad "fibfast is not installed on this machine already (dpkg knows it: remove it first)"
    finish guest
    return
  fi

  # The lab first: systemd's mount namespace is a copy, and must hold the lab's /run/netns.
  "$lab" up "$LAB" >/dev/null || { bad "lab.sh up $LAB"; finish guest; return; }

  # systemd as it runs in a container (container=...): no udev, no hardware; the unit's
  # sandboxing and capabilities are applied as on any machine. sysinit.target and nothing more:
  # no timers (apt-daily would take apt's lock), no services of the host's.
  # Two units of a machine's boot that have no place here: systemd-tmpfiles-setup would empty
  # /tmp, the host's seen through an overlay (slowly, over 9p, and this script's files with it);
  # systemd-timesyncd would set the clock. Masked in /run, which is no overlay and goes with the VM.
  mkdir -p /run/systemd/system
  ln -sf /dev/null /run/systemd/system/systemd-tmpfiles-setup.service
  ln -sf /dev/null /run/systemd/system/systemd-timesyncd.service
  unshare --pid --fork --mount-proc env container=fibfast-deb-check /lib/systemd/systemd \
    --unit=sysinit.target --show-status=no --log-target=kmsg </dev/null >"$work/systemd.log" 2>&1 &
  local unshare_pid=$!
  until_true 30 pgrep -P "$unshare_pid" systemd && systemd_pid=$(pgrep -P "$unshare_pid" systemd)
  # For the checks' own shells too.
  export systemd_pid
  export -f insd
  if [[ -z $systemd_pid ]] || ! until_true 180 bash -c \
    'insd systemctl is-system-running 2>/dev/null | grep -qxE "running|degraded"'; then
    bad "systemd runs as PID 1 of a PID namespace" "$(cat "$work/systemd.log"; [[ -n $systemd_pid ]] && insd systemctl --failed --no-pager 2>&1)"
    finish guest
    return
  fi
  ok "systemd $(insd systemctl --version | sed -n '1s/systemd \([0-9]*\).*/\1/p') runs as PID 1 of a PID namespace ($(insd systemctl is-system-running))"
  # After systemd's own start, which writes its state (machine id, users) whatever is installed.
  before=$work/before
  snapshot >"$before"

  echo "guest: $(uptime_s) apt-get install ./${deb##*/}"
  # Not --no-download: apt (2.6) then refuses a local .deb ("Pathname to install is not
  # absolute"). The VM has no network, so nothing can be downloaded anyway.
  if DEBIAN_FRONTEND=noninteractive watched apt-get install -y -q "$here/$deb" >"$work/apt.log" 2>&1; then
    ok "apt-get install ./${deb##*/} (offline: its dependencies are there)"
  else
    bad "apt-get install ./${deb##*/}" "$(tail -20 "$work/apt.log")"
    finish guest
    return
  fi
  check "dpkg: fibfast $version installed" bash -c "[[ \$(dpkg-query -W -f='\${db:Status-Abbrev}\${Version}' fibfast) == 'ii '$version ]]"
  files=$work/files
  dpkg -L fibfast | sort >"$files"
  conffiles=$(dpkg-query -W -f='${Conffiles}\n' fibfast | awk 'NF {print $1}')
  check "files: binary, unit, man page, completions, /etc/fibfast with the example" bash -c "
    for f in /usr/sbin/fibfast /usr/lib/systemd/system/fibfast@.service /usr/share/man/man8/fibfast.8.gz \
             /usr/share/bash-completion/completions/fibfast /usr/share/zsh/vendor-completions/_fibfast \
             /usr/share/fish/vendor_completions.d/fibfast.fish /etc/fibfast/fibfast.conf.example \
             /usr/share/doc/fibfast/copyright; do
      grep -qx \"\$f\" '$files' && [[ -e \$f ]] || { echo \"missing: \$f\"; exit 1; }
    done"
  check "the example instance file is a conffile" test "$conffiles" = /etc/fibfast/fibfast.conf.example
  check "fibfast --version says $version" test "$(fibfast --version)" = "$version"
  check "the unit runs /usr/sbin/fibfast" grep -qx 'ExecStart=/usr/sbin/fibfast attach $PORTS $OPTIONS' /usr/lib/systemd/system/fibfast@.service
  check "man fibfast finds the page" bash -c "man -w fibfast | grep -qx /usr/share/man/man8/fibfast.8.gz"
  check "bash completes fibfast's subcommands" bash -c \
    "source /usr/share/bash-completion/completions/fibfast && complete -p fibfast"
  check "systemd knows fibfast@.service" bash -c "insd systemctl cat fibfast@.service | grep -q '^ExecStart=/usr/sbin/fibfast'"
  check "no instance started or enabled by the install" bash -c "
    [[ -z \$(insd systemctl list-units --all --plain --no-legend 'fibfast*') ]] &&
    [[ -z \$(find /etc/systemd -name '*fibfast*') ]] &&
    [[ \$(insd systemctl is-enabled fibfast@lab.service 2>&1) == disabled ]]"
  check "and nothing attached: the ports have no XDP program" no_xdp_on_ports

  # Debian 12's kernel (6.1) cannot say whether a veth takes XDP redirects: the operator of
  # this lab vouches for its ports, as the integration tests do (Lab.vouching).
  local options="--xdp-transmit p0 --xdp-transmit p1"
  echo "guest: $(uptime_s) fibfast attach p0 p1 $options (in $NS)"
  ip netns exec "$NS" fibfast attach p0 p1 $options >"$work/attach.log" 2>&1 &
  agent=$!
  if until_true 120 grep -q "fast path running" "$work/attach.log"; then
    ok "fibfast attach runs"
    check "ping through the lab" ping_dst
    check "traffic forwarded in XDP ($(forwarded_in_xdp | tail -1))" forwarded_in_xdp
    kill -TERM "$agent"
    if wait "$agent"; then ok "SIGTERM stops it with status 0"; else bad "SIGTERM stops it with status 0" "$(cat "$work/attach.log")"; fi
    agent=
    check "and the ports are handed back (no XDP)" no_xdp_on_ports
  else
    bad "fibfast attach runs" "$(cat "$work/attach.log")"
    kill -KILL "$agent"; wait "$agent"; agent=
  fi

  # The operator's way: an instance file from the example, and the documented drop-in for a
  # router in a network namespace.
  echo "guest: $(uptime_s) systemctl start fibfast@$LAB"
  sed -e 's/^PORTS=.*/PORTS="p0 p1"/' -e "s/^OPTIONS=.*/OPTIONS=\"$options\"/" \
    /etc/fibfast/fibfast.conf.example >/etc/fibfast/$LAB.conf
  mkdir -p "/etc/systemd/system/fibfast@$LAB.service.d"
  printf '[Service]\nNetworkNamespacePath=/run/netns/%s\n' "$NS" >"/etc/systemd/system/fibfast@$LAB.service.d/netns.conf"
  insd systemctl daemon-reload
  local unit=fibfast@$LAB.service journal
  journal() { insd journalctl -u "$unit" --no-pager -o cat 2>&1 | tail -20; insd systemctl status "$unit" --no-pager 2>&1 | tail -5; }
  if insd systemctl start "$unit" && until_true 120 attached; then
    ok "systemctl start $unit attaches p0 and p1 in $NS"
    local pid mask
    pid=$(insd systemctl show -P MainPID "$unit")
    # CAP_NET_ADMIN 12, CAP_NET_RAW 13, CAP_PERFMON 38, CAP_BPF 39: the unit's set, no more.
    mask=$(printf '%016x' $(((1 << 12) | (1 << 13) | (1 << 38) | (1 << 39))))
    check "it runs with exactly the unit's capabilities (CapEff $mask)" insd grep -qx $'CapEff:\t'"$mask" "/proc/$pid/status"
    check "ping through the lab" ping_dst
    check "traffic forwarded in XDP ($(forwarded_in_xdp | tail -1))" forwarded_in_xdp
    check "systemctl stop $unit" insd systemctl stop "$unit"
    check "it stopped cleanly (inactive, not failed)" bash -c "[[ \$(insd systemctl is-active $unit) == inactive ]]"
    check "the ports are handed back: no XDP program" no_xdp_on_ports
    check "fibfast status shows no fast path" bash -c "! ip netns exec $NS fibfast stats --json"
    check "the kernel forwards alone: ping through the lab" ping_dst
  else
    bad "systemctl start $unit attaches p0 and p1 in $NS" "$(journal)"
  fi
  # Test scaffolding, not the operator's state the package must keep.
  rm -rf "/etc/systemd/system/fibfast@$LAB.service.d"
  insd systemctl daemon-reload

  # systemd stops here: in a container it powers off by leaving its PID namespace.
  insd systemctl poweroff >/dev/null 2>&1
  until_true 60 bash -c "! kill -0 $systemd_pid" || kill -KILL "$systemd_pid"
  wait "$unshare_pid" 2>/dev/null
  systemd_pid=

  echo "guest: $(uptime_s) apt-get remove fibfast"
  apt_get remove fibfast
  check "dpkg: only its configuration remains (rc)" bash -c "[[ \$(dpkg-query -W -f='\${db:Status-Abbrev}' fibfast) == 'rc ' ]]"
  check "every file it installed is gone, but its conffile" bash -c "
    while read -r f; do
      [[ -f $lower\$f || -L $lower\$f || \$f == /etc/fibfast/fibfast.conf.example ]] && continue
      [[ -f \$f ]] && { echo \"left: \$f\"; exit 1; }
    done <'$files'; exit 0"
  check "the operator's /etc/fibfast/$LAB.conf is kept" test -f "/etc/fibfast/$LAB.conf"

  echo "guest: $(uptime_s) apt-get purge fibfast"
  apt_get purge fibfast
  check "dpkg: fibfast is unknown again" bash -c "! dpkg-query -W -f='\${db:Status-Abbrev}' fibfast 2>/dev/null | grep -q '^[ir]'"
  check "/etc/fibfast is gone" test ! -e /etc/fibfast
  check "nothing left behind: no path of dpkg -L fibfast exists that the host has not" bash -c "
    while read -r f; do [[ -e $lower\$f || ! -e \$f ]] || { echo \"left: \$f\"; exit 1; }; done <'$files'"
  local left
  left=$(leftovers "$before")
  check "nothing left behind: /usr, /etc, /var gained no path since before the install" test -z "$left"
  [[ -z $left ]] || sed 's/^/       left: /' <<<"$left"
  echo "guest: $(uptime_s) done"
  finish guest
}

case ${1:-} in
  --guest) [[ $# -eq 2 ]] || exit 2; guest "$2" ;;
  -*|'') echo "usage: deb-check.sh DEB | --guest DEB" >&2; exit 2 ;;
  *) [[ $# -eq 1 ]] || exit 2; host "$1" ;;
esac
