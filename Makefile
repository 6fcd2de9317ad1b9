# The two commands of the quick start are `make demo` and `make test`.
BUILD ?= build
JOBS ?= $(shell nproc)

.PHONY: all deps build demo test test-sanitize bench install clean

all: build

deps:
	@bash scripts/install-deps.sh

build: deps
	@cmake -S . -B $(BUILD) -G Ninja -DCMAKE_BUILD_TYPE=Release >/dev/null
	@cmake --build $(BUILD) -j $(JOBS)

demo: build
	@bash examples/demo.sh $(BUILD)/muster

test: build
	@cd $(BUILD) && ctest --output-on-failure -j $(JOBS)

# The same tests under AddressSanitizer and UndefinedBehaviorSanitizer.
test-sanitize: deps
	@cmake -S . -B build-sanitize -G Ninja -DCMAKE_BUILD_TYPE=Debug -DMUSTER_SANITIZE=ON >/dev/null
	@cmake --build build-sanitize -j $(JOBS)
	@cd build-sanitize && ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 \
		MUSTER_SANITIZED=1 ctest --output-on-failure -j $(JOBS)

bench: build
	@MUSTER_BENCH_DEPS=1 bash scripts/install-deps.sh
	@bash bench/run.sh $(BUILD)/muster

install: build
	@install -m 0755 $(BUILD)/muster /usr/local/bin/muster || sudo install -m 0755 $(BUILD)/muster /usr/local/bin/muster

clean:
	rm -rf $(BUILD) build-sanitize
