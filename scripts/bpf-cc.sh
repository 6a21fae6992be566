#!/bin/sh
# Compiles C for the BPF target: the one place that knows which clang and which kernel headers.
# Used by make (bpf/), bench/build.sh and the tests that build small programs of their own.
#
#   bpf-cc.sh [clang options...]        e.g. bpf-cc.sh -O2 -g -c x.bpf.c -o x.bpf.o
#
# The clang is the one that ships with Swift, found beside `swift` (Debian's own clang may be
# too old for the BPF target's features, and Debian's gcc has no BPF target); BPF_CLANG
# overrides it. <asm/types.h> lives in the multiarch include directory, whose name is not the
# machine's (i686 is i386-linux-gnu, armv7l arm-linux-gnueabihf): ask Debian for it.
set -eu

clang=${BPF_CLANG:-}
if [ -z "$clang" ]; then
	swift=$(command -v swift || true)
	if [ -n "$swift" ] && [ -x "$(dirname "$swift")/clang" ]; then
		clang=$(dirname "$swift")/clang
	else
		clang=$(command -v clang || true)
	fi
fi
if [ -z "$clang" ]; then
	echo "bpf-cc.sh: no clang: put Swift's toolchain (its usr/bin) on PATH, or set BPF_CLANG" >&2
	exit 1
fi

multiarch=$(dpkg-architecture -qDEB_HOST_MULTIARCH 2>/dev/null ||
	gcc -print-multiarch 2>/dev/null ||
	echo "$(uname -m)-linux-gnu")

# clang 21 declares the kfunc __bpf_trap in every object, for traps it would put where code is
# unreachable (this program has none: the instructions are the same without it). libbpf must then
# find it in the kernel's BTF; 6.1's has none, so libbpf searches the modules' BTF, which takes
# CAP_SYS_ADMIN: the unit, which does not grant it, could not load the program on
# Debian 12's kernel. Older clangs emit no such extern and do not know the option.
if "$clang" -target bpf -mllvm -bpf-disable-trap-unreachable -x c -c /dev/null -o /dev/null 2>/dev/null; then
	set -- -mllvm -bpf-disable-trap-unreachable "$@"
fi

exec "$clang" -target bpf -I"/usr/include/$multiarch" "$@"
