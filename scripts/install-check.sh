#!/usr/bin/env bash
# `make install-check` (run by `make test`): stages `make install` into temporary DESTDIRs and
# checks what an operator gets: the file list, the systemd unit (systemd-analyze verify, and its
# capability set by running the installed binary with exactly those capabilities as an
# unprivileged user in a namespace), the man page, the completions, and that `make uninstall`
# removes exactly what was installed. Prints "install-check: N passed, M failed"; exits 1 on any
# failure.
set -uo pipefail

here=$(cd "$(dirname "$0")/.." && pwd)
cd "$here"
passed=0
failed=0
work=$(mktemp -d /tmp/fibfast-install-check.XXXXXX)
ns=
agent=

cleanup() {
  if [[ -n $agent ]]; then kill -KILL "$agent" 2>/dev/null; wait "$agent" 2>/dev/null; fi
  if [[ -n ${bpffs:-} ]]; then
    [[ -n $ns ]] && ip netns exec "$ns" "$bin" detach --bpffs "$bpffs" >/dev/null 2>&1
    umount "$bpffs" 2>/dev/null
  fi
  [[ -n $ns ]] && ip netns del "$ns" 2>/dev/null
  rm -rf "$work"
}
trap cleanup EXIT

ok() { passed=$((passed + 1)); echo "  ok   $1"; }
bad() { failed=$((failed + 1)); echo "  FAIL $1"; [[ $# -gt 1 ]] && sed 's/^/       /' <<<"$2"; }
check() { # check NAME CMD...: passes when CMD succeeds
  local name=$1 out; shift
  if out=$("$@" 2>&1); then ok "$name"; else bad "$name" "$out"; fi
}

stage() { # stage DIR [make variables...]
  local dir=$1; shift
  make --no-print-directory -s install DESTDIR="$dir" "$@" >"$work/make.log" 2>&1 \
    || { cat "$work/make.log"; return 1; }
}

files_under() { (cd "$1" && find . -type f | sed 's|^\./|/|' | sort); }

echo "install-check: make install DESTDIR=... (PREFIX=/usr/local, the default)"
root=$work/local
if ! stage "$root"; then
  bad "make install"
  echo "install-check: $passed passed, $((failed)) failed"
  exit 1
fi
# Root copies; it never compiles, so it never leaves a root-owned file under .build.
check "make install runs no compiler" bash -c \
  "! make --no-print-directory -n install DESTDIR='$work/dry' | grep -E 'swift build|clang|bpf-cc'"
expected="/usr/local/lib/systemd/system/fibfast@.service
/usr/local/sbin/fibfast
/usr/local/share/bash-completion/completions/fibfast
/usr/local/share/doc/fibfast/fibfast.conf.example
/usr/local/share/fish/vendor_completions.d/fibfast.fish
/usr/local/share/man/man8/fibfast.8
/usr/local/share/zsh/site-functions/_fibfast"
check "installs exactly the expected files" diff <(echo "$expected") <(files_under "$root")
check "creates /etc/fibfast for instance files" test -d "$root/etc/fibfast"
check "binary is executable, unit and man page are not" bash -c \
  "[[ \$(stat -c %a '$root/usr/local/sbin/fibfast') == 755 && \
      \$(stat -c %a '$root/usr/local/lib/systemd/system/fibfast@.service') == 644 && \
      \$(stat -c %a '$root/usr/local/share/man/man8/fibfast.8') == 644 ]]"

unit=$root/usr/local/lib/systemd/system/fibfast@.service
bin=$root/usr/local/sbin/fibfast
check "unit runs the installed binary" grep -qx 'ExecStart=/usr/local/sbin/fibfast attach $PORTS $OPTIONS' "$unit"
check "unit reads /etc/fibfast/%i.conf" grep -qx 'EnvironmentFile=/etc/fibfast/%i.conf' "$unit"
check "no @placeholders@ left in installed files" bash -c \
  "! grep -l '@[A-Z]*@' '$unit' '$root/usr/local/share/man/man8/fibfast.8' '$root/usr/local/share/doc/fibfast/fibfast.conf.example'"

# systemd-analyze verify resolves the unit's dependencies and ExecStart inside --root, and runs
# man(1) for Documentation=, which finds the staged page through MANPATH. It exits 0 on unknown
# keys, so any output is a failure too.
verify_unit() {
  local vroot=$work/verify
  mkdir -p "$vroot/usr/lib/systemd" "$vroot/etc/fibfast"
  cp -a /usr/lib/systemd/system "$vroot/usr/lib/systemd/"
  cp -a "$root/usr" "$vroot/"
  echo 'PORTS="eth0 eth1"' >"$vroot/etc/fibfast/wan.conf"
  local out
  out=$(MANPATH=$vroot/usr/local/share/man systemd-analyze verify --root="$vroot" fibfast@wan.service 2>&1) \
    && [[ -z $out ]] || { echo "$out"; return 1; }
}
if command -v systemd-analyze >/dev/null; then
  check "systemd-analyze verify fibfast@wan.service: no errors, no warnings" verify_unit
else
  bad "systemd-analyze is not installed (scripts/install-deps.sh installs systemd)"
fi

# The man page: groff's warnings are errors, and it must name every option the CLI has.
man_page=$root/usr/local/share/man/man8/fibfast.8
check "man page renders without groff warnings" bash -c \
  "out=\$(groff -man -ww -z '$man_page' 2>&1); [[ -z \$out ]] || { echo \"\$out\"; exit 1; }"
check "man page is fibfast(8) of this version" grep -q "^\.TH FIBFAST 8 .*\"fibfast $("$bin" --version)\"" "$man_page"
options_documented() {
  local sub opt missing= subs
  # Every subcommand the binary lists, so a new one cannot slip past the man page.
  subs=$("$bin" --help | sed -n '/^SUBCOMMANDS:/,/^$/p' | awk 'NR > 1 && /^  [a-z]/ {print $1}')
  [[ -n $subs ]] || { echo "no subcommands found in fibfast --help"; return 1; }
  for sub in $subs; do
    grep -q "^\.B $sub\b" "$man_page" || missing+=" (subcommand $sub)"
  done
  for sub in "" $subs; do
    for opt in $("$bin" $sub --help | grep -o -- '--[a-z][a-z-]*' | sort -u); do
      # groff source escapes every hyphen in an option.
      grep -qF -- "${opt//-/\\-}" "$man_page" || missing+=" ${sub:-fibfast} $opt"
    done
  done
  [[ -z $missing ]] || { echo "not in the man page:$missing"; return 1; }
}
check "man page names every option of fibfast help" options_documented

# Bash completion: source it and complete "fibfast at" and "fibfast attach --m".
complete_bash() {
  bash -c "
    source '$root/usr/local/share/bash-completion/completions/fibfast' || exit 1
    complete -p fibfast >/dev/null || exit 1
    fn=\$(complete -p fibfast | sed -n 's/.*-F \([^ ]*\).*/\1/p')
    COMP_WORDS=(fibfast at); COMP_CWORD=1; COMP_LINE='fibfast at'; COMP_POINT=\${#COMP_LINE}
    \$fn fibfast at fibfast
    [[ \" \${COMPREPLY[*]} \" == *' attach '* ]] || { echo \"fibfast at -> \${COMPREPLY[*]}\"; exit 1; }
    COMP_WORDS=(fibfast attach --m); COMP_CWORD=2; COMP_LINE='fibfast attach --m'; COMP_POINT=\${#COMP_LINE}
    \$fn fibfast --m attach
    [[ \" \${COMPREPLY[*]} \" == *' --mode '* ]] || { echo \"fibfast attach --m -> \${COMPREPLY[*]}\"; exit 1; }
  "
}
check "bash completion completes subcommands and options" complete_bash
check "zsh completion is a #compdef for fibfast" grep -q '^#compdef fibfast' "$root/usr/local/share/zsh/site-functions/_fibfast"
check "fish completion covers the subcommands" bash -c \
  "for s in attach detach stats; do grep -q \"\$s\" '$root/usr/local/share/fish/vendor_completions.d/fibfast.fish' || exit 1; done"

# The unit's capability set is the least that works: run the installed binary as systemd would
# (PORTS and OPTIONS split into words; user root, but only the unit's capabilities in every set),
# in a namespace with two veth ports; then drop each capability in turn and see it refused.
caps=$(sed -n 's/^AmbientCapabilities=//p' "$unit")
bounding=$(sed -n 's/^CapabilityBoundingSet=//p' "$unit")
bpffs=
run_as_unit() { # run_as_unit "CAP_A CAP_B" ARGS... -> runs in $ns, backgrounds into $agent
  local words list
  read -ra words <<<"$1"
  shift
  # "CAP_NET_ADMIN CAP_BPF" -> ",+net_admin,+bpf", as setpriv spells them
  list=$(printf ',+%s' "${words[@]}" | tr 'A-Z' 'a-z' | sed 's/cap_//g')
  # Emptied here, not by the background redirection: that runs after the fork, and
  # wait_running could read the previous agent's "fast path running" meanwhile.
  : >"$work/agent.log"
  ip netns exec "$ns" setpriv --inh-caps="-all$list" --ambient-caps="-all$list" \
    --bounding-set="-all$list" "$bin" "$@" >>"$work/agent.log" 2>&1 &
  agent=$!
}
wait_running() {
  local i
  for i in $(seq 100); do
    grep -q "fast path running" "$work/agent.log" && return 0
    kill -0 "$agent" 2>/dev/null || return 1
    sleep 0.1
  done
  return 1
}
stop_agent() { # SIGTERM, as systemd stops a service; returns the exit status
  local rc
  kill -TERM "$agent" 2>/dev/null
  wait "$agent"; rc=$?
  agent=
  return $rc
}
refused() { # refused NAME PATTERN CAPS ARGS...: attach must fail, say PATTERN, leave no program
  local name=$1 pattern=$2 set=$3 rc; shift 3
  run_as_unit "$set" attach "$@"
  if wait_running; then
    bad "$name" "$(cat "$work/agent.log")"
    stop_agent
    return
  fi
  wait "$agent"; rc=$?; agent=
  if [[ $rc -ne 0 ]] && grep -q -- "$pattern" "$work/agent.log" && ! ip -n "$ns" link show p0 | grep -q xdp; then
    ok "$name"
  else bad "$name" "status $rc: $(cat "$work/agent.log")"; fi
}
if [[ $(id -u) -eq 0 ]] && command -v setpriv >/dev/null; then
  ns=ffic$$
  ip netns add "$ns"
  ip -n "$ns" link set lo up
  ip -n "$ns" link add p0 type veth peer name q0
  ip -n "$ns" link add p1 type veth peer name q1
  for l in p0 q0 p1 q1; do ip -n "$ns" link set "$l" up; done
  # An IPv4 address puts IPv4 in use, so attach checks (and --enable-forwarding sets) ip_forward.
  ip -n "$ns" addr add 192.0.2.1/28 dev p0
  ip -n "$ns" addr add 192.0.2.17/28 dev p1
  ip netns exec "$ns" sysctl -qw net.ipv4.ip_forward=0
  check "unit's bounding set equals its ambient set" test "$caps" = "$bounding"
  check "unit runs as root (no User=, no DynamicUser=)" bash -c "! grep -qE '^(User|DynamicUser)=' '$unit'"
  # As systemd reads the example instance file: unquoted words, --enable-forwarding because
  # this namespace starts with forwarding off.
  PORTS="p0 p1"
  OPTIONS="--enable-forwarding"
  run_as_unit "$caps" attach $PORTS $OPTIONS
  if wait_running; then
    ok "attach runs with only the unit's capabilities ($caps)"
    # Failure counting (tracepoints) degrades to a warning when a privilege is missing.
    check "with no warning (failure tracepoints load too)" bash -c "! grep -i warning '$work/agent.log'"
    check "--enable-forwarding works with them" bash -c \
      "[[ \$(ip netns exec $ns sysctl -n net.ipv4.ip_forward) == 1 ]]"
    if stop_agent; then ok "SIGTERM stops it with status 0"; else bad "SIGTERM stops it with status 0" "$(cat "$work/agent.log")"; fi
    check "and the ports are detached" bash -c "! ip -n $ns link show p0 | grep -q xdp"
  else
    bad "attach runs with only the unit's capabilities ($caps)" "$(cat "$work/agent.log")"
    stop_agent
  fi
  # What follows must not fail for want of forwarding, whatever happened above.
  ip netns exec "$ns" sysctl -qw net.ipv4.ip_forward=1
  # Legacy iptables tables make the firewall check run iptables-legacy-save, which is what needs
  # CAP_NET_RAW (and root's uid). An empty FORWARD chain is no reason to refuse; a rule is.
  if command -v iptables-legacy >/dev/null; then
    ip netns exec "$ns" iptables-legacy -L FORWARD >/dev/null 2>&1
    run_as_unit "$caps" attach p0 p1
    if wait_running; then ok "with legacy iptables tables loaded, attach still runs"; stop_agent
    else bad "with legacy iptables tables loaded, attach still runs" "$(cat "$work/agent.log")"; fi
    for drop in $caps; do
      # The privilege check names the capability; without CAP_NET_RAW it is the firewall check
      # that cannot run, and fibfast refuses rather than attach past rules it cannot see.
      reason=$drop
      [[ $drop == CAP_NET_RAW ]] && reason="cannot check for netfilter rules"
      refused "attach without $drop is refused (\"$reason\"), ports untouched" "$reason" "${caps//$drop/}" p0 p1
    done
    ip netns exec "$ns" iptables-legacy -A FORWARD -p tcp --dport 23 -j DROP
    refused "a legacy iptables FORWARD rule is seen with the unit's capabilities, attach refused" \
      'iptables-legacy table filter chain FORWARD' "$caps" p0 p1
    ip netns exec "$ns" iptables-legacy -F FORWARD
  else
    bad "iptables-legacy is not installed (scripts/install-deps.sh installs iptables)"
  fi
  # The drop-in docs/operations.md gives for --keep-on-exit: the unit's set plus CAP_SYS_ADMIN,
  # which adopting a pinned program needs. Without it the second agent is refused.
  bpffs=$work/bpffs
  mkdir -p "$bpffs" && mount -t bpf bpf "$bpffs" -o mode=0700
  run_as_unit "$caps CAP_SYS_ADMIN" attach p0 p1 --keep-on-exit --bpffs "$bpffs"
  if wait_running && stop_agent; then
    run_as_unit "$caps" attach p0 p1 --keep-on-exit --bpffs "$bpffs"
    if ! wait_running && ! wait "$agent" && grep -q "Operation not permitted" "$work/agent.log"; then
      ok "--keep-on-exit: adopting without CAP_SYS_ADMIN is refused"
    else
      bad "--keep-on-exit: adopting without CAP_SYS_ADMIN is refused" "$(cat "$work/agent.log")"
      stop_agent
    fi
    agent=
    check "  and the pinned fast path keeps forwarding meanwhile" bash -c "ip -n $ns -d link show p0 | grep -q prog/xdp"
    run_as_unit "$caps CAP_SYS_ADMIN" attach p0 p1 --keep-on-exit --bpffs "$bpffs"
    if wait_running && grep -q "adopted the pinned fast path" "$work/agent.log"; then
      ok "--keep-on-exit: the unit's set plus CAP_SYS_ADMIN adopts the pinned fast path"
    else
      bad "--keep-on-exit: the unit's set plus CAP_SYS_ADMIN adopts the pinned fast path" "$(cat "$work/agent.log")"
    fi
    stop_agent
  else
    bad "--keep-on-exit with the unit's set plus CAP_SYS_ADMIN runs" "$(cat "$work/agent.log")"
  fi
  ip netns exec "$ns" "$bin" detach --bpffs "$bpffs" >/dev/null 2>&1
  umount "$bpffs"; bpffs=
  ip netns del "$ns"; ns=
else
  bad "capability checks need root and setpriv"
fi

echo "install-check: make install DESTDIR=... PREFIX=/usr"
if stage "$work/usr" PREFIX=/usr; then
  check "PREFIX=/usr: binary in /usr/sbin, unit in /usr/lib/systemd/system" \
    test -x "$work/usr/usr/sbin/fibfast" -a -f "$work/usr/usr/lib/systemd/system/fibfast@.service"
  check "PREFIX=/usr: unit runs /usr/sbin/fibfast" \
    grep -q '^ExecStart=/usr/sbin/fibfast ' "$work/usr/usr/lib/systemd/system/fibfast@.service"
  check "PREFIX=/usr: man page names /usr/sbin/fibfast" grep -q '^\.I /usr/sbin/fibfast' "$work/usr/usr/share/man/man8/fibfast.8"
  check "PREFIX=/usr: nothing under /usr/local" test ! -e "$work/usr/usr/local"
else
  bad "make install PREFIX=/usr" "$(cat "$work/make.log")"
fi

echo "install-check: make uninstall DESTDIR=..."
# An operator's instance file must survive uninstall, and with it /etc/fibfast.
echo 'PORTS="eth0 eth1"' >"$root/etc/fibfast/wan.conf"
if make --no-print-directory -s uninstall DESTDIR="$root" >"$work/make.log" 2>&1; then
  check "uninstall removes every installed file" bash -c "[[ \$(cd '$root' && find . -type f) == ./etc/fibfast/wan.conf ]]"
  check "and keeps /etc/fibfast/wan.conf" test -f "$root/etc/fibfast/wan.conf"
  rm "$root/etc/fibfast/wan.conf"
  make --no-print-directory -s uninstall DESTDIR="$root" >/dev/null 2>&1
  check "a second uninstall succeeds and removes the empty /etc/fibfast" test ! -e "$root/etc/fibfast"
else
  bad "make uninstall" "$(cat "$work/make.log")"
fi
if make --no-print-directory -s uninstall DESTDIR="$work/usr" PREFIX=/usr >/dev/null 2>&1; then
  check "PREFIX=/usr: uninstall leaves no file" bash -c "[[ -z \$(cd '$work/usr' && find . -type f) ]]"
fi

echo "install-check: $passed passed, $failed failed"
[[ $failed -eq 0 ]]
