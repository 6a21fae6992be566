# fibfast: `make` builds as any user once the Debian packages are there (`sudo make deps-build`);
# `make demo` and `make test` do all set-up on a fresh Debian machine, as root.

SWIFT       ?= swift
# The toolchain's clang with the BPF target and this machine's kernel headers (BPF_CLANG overrides).
BPF_CC      := scripts/bpf-cc.sh
CONFIG      ?= debug
BUILD       := build
BPF_OBJ     := $(BUILD)/fibfast.bpf.o
EMBEDDED    := Sources/CFastPath/generated/object_bytes.h
BPF_SOURCES := $(wildcard bpf/*.c bpf/lib/*.h) Sources/CFastPath/include/fastpath_abi.h
BPF_CFLAGS  := -O2 -g -Wall -Werror -ISources/CFastPath/include -Ibpf
BIN_PATH     = $(shell $(SWIFT) build -c $(CONFIG) --show-bin-path)
VERSION     := $(shell sed -n 's/.*string = "\(.*\)"/\1/p' Sources/fibfast/Version.swift)

# Where `make install` puts things; DESTDIR is prepended to every path for staging and packaging.
PREFIX      ?= /usr/local
SBINDIR     ?= $(PREFIX)/sbin
MANDIR      ?= $(PREFIX)/share/man
DOCDIR      ?= $(PREFIX)/share/doc/fibfast
# systemd reads units from /usr/local/lib/systemd/system as well as /usr/lib/systemd/system.
UNITDIR     ?= $(PREFIX)/lib/systemd/system
# Configuration lives in /etc whatever the prefix, as on every Debian system.
SYSCONFDIR  ?= /etc
BASHCOMPDIR ?= $(PREFIX)/share/bash-completion/completions
ZSHCOMPDIR  ?= $(PREFIX)/share/zsh/site-functions
FISHCOMPDIR ?= $(PREFIX)/share/fish/vendor_completions.d
# The instance file to copy; the Debian package puts it in /etc/fibfast, beside the instances.
EXAMPLEDIR  ?= $(DOCDIR)
INSTALL_CONFIG ?= release
# SwiftPM's own link to the configuration's products: `make install` runs no swift, not even to
# ask for the path, so root neither compiles nor writes into .build.
INSTALL_BIN  = .build/$(INSTALL_CONFIG)/fibfast

# Everything `make install` creates, and so everything `make uninstall` removes.
INSTALLED   := $(SBINDIR)/fibfast $(MANDIR)/man8/fibfast.8 $(UNITDIR)/fibfast@.service \
               $(EXAMPLEDIR)/fibfast.conf.example $(BASHCOMPDIR)/fibfast $(ZSHCOMPDIR)/_fibfast \
               $(FISHCOMPDIR)/fibfast.fish
SUBST        = sed -e 's|@VERSION@|$(VERSION)|g' -e 's|@SBINDIR@|$(SBINDIR)|g' \
                   -e 's|@SYSCONFDIR@|$(SYSCONFDIR)|g' -e 's|@UNITDIR@|$(UNITDIR)|g' \
                   -e 's|@DATE@|$(MAN_DATE)|g'
# The date of the last change to the man page's source, so rebuilding it changes nothing.
# safe.directory: `sudo make install` reads a checkout root does not own.
MAN_DATE     = $(shell git -c safe.directory='$(CURDIR)' log -1 --format=%cs -- docs/fibfast.8.in 2>/dev/null \
                 | grep . || date +%F)

.PHONY: all deps deps-build check-deps-build bpf build test test-vm demo test-vm-all bench bench-smoke bench-frr clean release dist install \
        uninstall install-check deb check-deps-deb deb-check

all: build

# Installing packages is a step of its own (root); building only checks they are there.
# deps: everything `make test` needs (build, test, bench, vm); deps-build: only building.
deps:
	@scripts/install-deps.sh

deps-build:
	@scripts/install-deps.sh build

check-deps-build:
	@scripts/install-deps.sh --check build

$(BPF_OBJ): $(BPF_SOURCES) $(BPF_CC)
	@mkdir -p $(BUILD)
	$(BPF_CC) $(BPF_CFLAGS) -c bpf/fibfast.bpf.c -o $@

# The object is embedded as a C array; rewritten only when its bytes change.
$(EMBEDDED): $(BPF_OBJ) scripts/embed-object.sh
	@mkdir -p $(dir $@)
	@scripts/embed-object.sh $(BPF_OBJ) $@

bpf: $(EMBEDDED)

build: check-deps-build bpf
	$(SWIFT) build -c $(CONFIG)

# Every test: a one-second smoke run of the benchmark harness (so it cannot
# rot), install/uninstall into staging directories, unit tests,
# BPF_PROG_TEST_RUN tests and the namespace labs (root) on this kernel, then
# the VM lane: the labs that matter again on Debian 12's kernel, with the
# VLAN, bond and VRF ports this kernel cannot build; last, the Debian package
# installed, run under systemd and purged in one more boot of that VM.
test: deps
	@$(MAKE) --no-print-directory build
	@$(MAKE) --no-print-directory bench-smoke
	@$(MAKE) --no-print-directory install-check
	FIBFAST_BIN=$(BIN_PATH)/fibfast $(SWIFT) test -c $(CONFIG)
	@$(MAKE) --no-print-directory test-vm
	@$(MAKE) --no-print-directory deb-check

# The integration tests that matter most, on Debian 12's own kernel (6.1) in a VM (scripts/vm/):
# attach and detach, forwarding both families, route and neighbour following, fallback on
# SIGKILL, the differential test, the FIB answer cache never stale (fexit hooks attach there), the unit's capabilities, and VLAN, bond and VRF ports (this machine's kernel has no
# 8021q, bonding or vrf). The VM emulates its CPU (TCG, boot 15 s) and each test builds its own
# lab, so `make test` runs a subset chosen to stay under 20 minutes; `make test-vm-all` runs
# every test that needs those drivers, and more of the core.
VM_TESTS := $(addprefix IntegrationTests.,\
  ForwardingTests/testIPv4IsForwardedInXDPWithTTLDecremented \
  ForwardingTests/testIPv6IsForwardedInXDPWithHopLimitDecremented \
  FallbackTests/testDetachCommandHandsPortsBackWhileAgentRuns \
  FallbackTests/testSIGKILLLeavesKernelForwarding \
  AgentTests/testRouteChangesSwitchTheNextHopForTheNextPacket \
  AgentTests/testNextHopIsResolvedAsSoonAsARoutePointsAtIt \
  FibCacheTests/testNoPacketSentAfterAChangeReturnsFollowsTheOldState \
  FibCacheTests/testPortsLeftOutOfTheKeyUntilARuleSelectsOnThem \
  FibCacheTests/testASprayedCPUSkipsTheCacheUntilHitsComeBack \
  FibCacheTests/testTwoDestinationsSharingASetBothHit \
  DifferentialTests/testSameBytesAsTheKernel \
  DifferentialTests/testFragmentsTakeTheKernelsNextHopOverMultipath \
  NetfilterTests/testFragmentsGoToTheKernelWhileConntrackReassembles \
  MetricsTests/testMetricsAnswerUnderExactlyTheUnitsCapabilities \
  VLANTests/testPlainAndVLANPortsForwardBothFamiliesBothWaysInXDP \
  VLANTests/testTaggedFramesLeaveByteIdenticalToTheKernel \
  VLANTests/testFollowsVLANPortDownUpDeleteAndRecreate \
  VLANTests/testTagHandedOverBesideTheFrameIsLeftToTheKernel \
  BondTests/testForwardsIntoAndOutOfBondsInXDPBothFamilies \
  BondTests/testFramesOnABackupSlaveGoToTheKernel \
  BondFailoverTests/testSlaveRemovedLosesNoMoreThanTheKernel \
  VRFTests/testBothFamiliesAreLookedUpInTheVRFsTableWithAndWithoutDirect \
  VRFTests/testReversePathFilterValidatesSourcesInTheVRF \
  VRFTests/testEnslaveAndReleaseAreFollowed)
VM_TESTS_ALL := $(addprefix IntegrationTests.,\
  ForwardingTests FallbackTests AgentTests DifferentialTests ReversePathTests FibCacheTests \
  VLANTests BondTests BondFailoverTests VRFTests)

test-vm: build
	@scripts/install-deps.sh vm
	$(SWIFT) build -c $(CONFIG) --build-tests
	@mkdir -p $(BUILD)
	@printf '%s\n' $(VM_TESTS) > $(BUILD)/vm-tests
	scripts/vm/run.sh --timeout 3600 scripts/vm/guest-tests.sh $(BIN_PATH) @$(BUILD)/vm-tests

test-vm-all: build
	@scripts/install-deps.sh vm
	$(SWIFT) build -c $(CONFIG) --build-tests
	@mkdir -p $(BUILD)
	@printf '%s\n' $(VM_TESTS_ALL) > $(BUILD)/vm-tests-all
	scripts/vm/run.sh --timeout 7200 scripts/vm/guest-tests.sh $(BIN_PATH) @$(BUILD)/vm-tests-all

# The binary installed, and its shell completions (made by the argument parser itself, so they
# follow the options with no upkeep). Build these as yourself; `sudo make install` copies them.
# The Swift runtime is linked in, so the router needs no Swift toolchain: the binary needs only
# Debian's libraries (libbpf, libnl, libelf, libstdc++, libc). -z now: a read-only GOT from the
# start (full RELRO), as Debian's hardening flags ask of a daemon running with capabilities.
release: check-deps-build bpf
	$(SWIFT) build -c $(INSTALL_CONFIG) --static-swift-stdlib -Xlinker -z -Xlinker now

dist: release
	@mkdir -p $(BUILD)/completions
	$(INSTALL_BIN) --generate-completion-script bash > $(BUILD)/completions/fibfast.bash
# A completion is sourced, never run: the parser's #!/bin/bash line has no place in it (lintian).
	sed -i '1{/^#!/d}' $(BUILD)/completions/fibfast.bash
	$(INSTALL_BIN) --generate-completion-script zsh > $(BUILD)/completions/_fibfast
	$(INSTALL_BIN) --generate-completion-script fish > $(BUILD)/completions/fibfast.fish

# Copies what `make release dist` built; it compiles nothing, so root never owns a build file.
# The man page, the unit and the example get the install paths as they are written: PREFIX and
# friends are baked in, and `make install PREFIX=/usr` after a /usr/local install must not ship
# a unit pointing at /usr/local/sbin.
install:
	@for f in $(INSTALL_BIN) $(BUILD)/completions/fibfast.bash $(BUILD)/completions/_fibfast \
	          $(BUILD)/completions/fibfast.fish; do [ -e "$$f" ] && [ "$$f" -nt $(EMBEDDED) ] || { \
		echo "make install: $$f is missing or older than the BPF object: run \`make release dist\` first (as yourself, not root)" >&2; \
		exit 1; }; done
	install -D -m 0755 $(INSTALL_BIN) $(DESTDIR)$(SBINDIR)/fibfast
	install -d -m 0755 $(DESTDIR)$(MANDIR)/man8 $(DESTDIR)$(UNITDIR) $(DESTDIR)$(EXAMPLEDIR)
	$(SUBST) docs/fibfast.8.in > $(DESTDIR)$(MANDIR)/man8/fibfast.8
	$(SUBST) dist/fibfast@.service.in > $(DESTDIR)$(UNITDIR)/fibfast@.service
	$(SUBST) dist/fibfast.conf.example > $(DESTDIR)$(EXAMPLEDIR)/fibfast.conf.example
	chmod 0644 $(DESTDIR)$(MANDIR)/man8/fibfast.8 $(DESTDIR)$(UNITDIR)/fibfast@.service \
		$(DESTDIR)$(EXAMPLEDIR)/fibfast.conf.example
	install -D -m 0644 $(BUILD)/completions/fibfast.bash $(DESTDIR)$(BASHCOMPDIR)/fibfast
	install -D -m 0644 $(BUILD)/completions/_fibfast $(DESTDIR)$(ZSHCOMPDIR)/_fibfast
	install -D -m 0644 $(BUILD)/completions/fibfast.fish $(DESTDIR)$(FISHCOMPDIR)/fibfast.fish
	install -d -m 0755 $(DESTDIR)$(SYSCONFDIR)/fibfast
	@if [ -z "$(DESTDIR)" ] && [ -d /run/systemd/system ]; then systemctl daemon-reload; fi

# Removes exactly what install put; the configuration directory and the doc directory only if
# they are empty, so an operator's *.conf files survive.
uninstall:
	rm -f $(addprefix $(DESTDIR),$(INSTALLED))
	@for d in $(DESTDIR)$(EXAMPLEDIR) $(DESTDIR)$(DOCDIR) $(DESTDIR)$(SYSCONFDIR)/fibfast; do \
		if [ -d "$$d" ]; then rmdir --ignore-fail-on-non-empty "$$d"; fi; done
	@if [ -z "$(DESTDIR)" ] && [ -d /run/systemd/system ]; then systemctl daemon-reload; fi

# install/uninstall into staging directories, the unit, man page and completions checked.
install-check: dist
	@scripts/install-check.sh

# The Debian package, build/fibfast_$(VERSION)_ARCH.deb, made with Debian's tooling as yourself
# (debian/rules runs `make release dist` and `make install` with Debian's paths; no root, not
# even fakeroot: Rules-Requires-Root: no). Its .buildinfo and .changes go to build/ too.
DEB_ARCH     = $(shell dpkg-architecture -qDEB_HOST_ARCH)
check-deps-deb:
	@scripts/install-deps.sh --check build deb

deb: check-deps-deb
	@changelog=$$(dpkg-parsechangelog -S Version); [ "$$changelog" = "$(VERSION)" ] || { \
		echo "make deb: debian/changelog is at $$changelog, Version.swift at $(VERSION): add an entry (dch -v $(VERSION))" >&2; \
		exit 1; }
	@mkdir -p $(BUILD)
	DEB_DESTDIR=$(CURDIR)/$(BUILD) dpkg-buildpackage -us -uc -b \
		--buildinfo-file=$(BUILD)/fibfast_$(VERSION)_$(DEB_ARCH).buildinfo --buildinfo-option=-u$(BUILD) \
		--changes-file=$(BUILD)/fibfast_$(VERSION)_$(DEB_ARCH).changes --changes-option=-u$(BUILD)
	@echo "make deb: $(BUILD)/fibfast_$(VERSION)_$(DEB_ARCH).deb"

# The package on this machine (lintian, dependencies, libraries), then in one boot of the VM
# under systemd: install, attach by hand and as fibfast@lab, stop, remove, purge (root).
deb-check: deb
	@scripts/install-deps.sh vm deb
	scripts/deb-check.sh $(BUILD)/fibfast_$(VERSION)_$(DEB_ARCH).deb

# The benchmark (root, about 10 minutes) of the binary `make install` installs: kernel,
# fibfast, a lookup-only forwarder and a redirect-only XDP bound in one run; see
# docs/performance.md.
bench:
	@scripts/install-deps.sh build bench
	@$(MAKE) --no-print-directory release
	FIBFAST_BIN=$(CURDIR)/$(INSTALL_BIN) bench/run.sh
	@$(MAKE) --no-print-directory bench-frr

# FRR with a full BGP table (1M IPv4, 200k IPv6 prefixes; about 30 minutes): table load, session
# reset and link down, with the kernel alone and with fibfast; figures in build/bench/frr.json
# (docs/performance.md). `make test` runs it scaled down (FRRTests).
bench-frr:
	@scripts/install-deps.sh build test
	@$(MAKE) --no-print-directory release
	@mkdir -p $(BUILD)/bench
	/usr/bin/python3 Tests/lab/frr-bench.py run --fibfast $(CURDIR)/$(INSTALL_BIN) --out $(BUILD)/bench/frr.json

# One second of IPv4 traffic per mode and a cost check: the harness, not the figures.
bench-smoke: build
	FIBFAST_BIN=$(BIN_PATH)/fibfast bench/run.sh --smoke

demo:
	@scripts/install-deps.sh build test
	@$(MAKE) --no-print-directory build
	@FIBFAST_BIN=$(BIN_PATH)/fibfast scripts/demo.sh

clean:
	rm -rf $(BUILD) $(EMBEDDED) .build
