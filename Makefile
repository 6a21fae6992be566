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

.PHONY: all deps bpf build test unit-test demo bench bench-smoke clean

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

# Every test: unit tests, BPF_PROG_TEST_RUN tests and the namespace lab
# (root), then a one-second smoke run of the benchmark harness.
test: build
	FIBFAST_BIN=$(BIN_PATH)/fibfast $(SWIFT) test -c $(CONFIG)

demo: build
	@FIBFAST_BIN=$(BIN_PATH)/fibfast scripts/demo.sh

clean:
	rm -rf $(BUILD) $(EMBEDDED) .build
