# fibfast: `make demo` and `make test` do all set-up on a fresh Debian machine, as root.

SWIFT       ?= swift
CLANG       ?= $(shell command -v /opt/swift/usr/bin/clang || command -v clang)
CONFIG      ?= debug
BUILD       := build
BPF_OBJ     := $(BUILD)/fibfast.bpf.o
EMBEDDED    := Sources/CFastPath/fastpath_object.c
BPF_SOURCES := $(wildcard bpf/*.c bpf/lib/*.h) Sources/CFastPath/include/fastpath_abi.h
BPF_CFLAGS  := -O2 -g -Wall -Werror -target bpf -I/usr/include/$(shell uname -m)-linux-gnu \
               -ISources/CFastPath/include -Ibpf
BIN_PATH     = $(shell $(SWIFT) build -c $(CONFIG) --show-bin-path)

.PHONY: all deps bpf build test demo bench clean

all: build

deps:
	@scripts/install-deps.sh

$(BPF_OBJ): $(BPF_SOURCES)
	@mkdir -p $(BUILD)
	$(CLANG) $(BPF_CFLAGS) -c bpf/fibfast.bpf.c -o $@

# The object is embedded as a C array; rewritten only when its bytes change.
$(EMBEDDED): $(BPF_OBJ) scripts/embed-object.sh
	@scripts/embed-object.sh $(BPF_OBJ) $@

bpf: $(EMBEDDED)

build: deps bpf
	$(SWIFT) build -c $(CONFIG)

# Every test: a one-second smoke run of the benchmark harness (so it cannot
# rot), then unit tests, BPF_PROG_TEST_RUN tests and the namespace labs
# (root). swift test runs last so its summary closes the output.
test: build
	FIBFAST_BIN=$(BIN_PATH)/fibfast bench/run.sh --smoke
	FIBFAST_BIN=$(BIN_PATH)/fibfast $(SWIFT) test -c $(CONFIG)

# The benchmark (root, about 7 minutes): kernel, fibfast and a redirect-only
# XDP bound in one run; see docs/performance.md.
bench: build
	FIBFAST_BIN=$(BIN_PATH)/fibfast bench/run.sh

demo: build
	@FIBFAST_BIN=$(BIN_PATH)/fibfast scripts/demo.sh

clean:
	rm -rf $(BUILD) $(EMBEDDED) .build
