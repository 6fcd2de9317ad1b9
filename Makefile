# The two commands of the quick start are `make demo` and `make test`.
BUILD ?= build
JOBS ?= $(shell nproc)

.PHONY: all deps build demo test test-sqlite test-sanitize fuzz bench install clean

all: build

deps:
	@bash scripts/install-deps.sh

build: deps
	@cmake -S . -B $(BUILD) -G Ninja -DCMAKE_BUILD_TYPE=Release >/dev/null
	@cmake --build $(BUILD) -j $(JOBS)

demo: build
	@bash examples/demo.sh $(BUILD)/muster

# Every test, with a throwaway PostgreSQL server for the PostgreSQL store's
# (scripts/postgres.sh starts it, and removes it however the tests end).
test: build
	@MUSTER_REQUIRE_POSTGRES=1 bash scripts/postgres.sh run \
		sh -c 'cd $(BUILD) && ctest --output-on-failure -j $(JOBS)'

# The tests without a PostgreSQL server: its store's tests are skipped.
test-sqlite: build
	@cd $(BUILD) && ctest --output-on-failure -j $(JOBS) -LE postgres

# The same tests under AddressSanitizer and UndefinedBehaviorSanitizer.
test-sanitize: deps
	@cmake -S . -B build-sanitize -G Ninja -DCMAKE_BUILD_TYPE=Debug -DMUSTER_SANITIZE=ON >/dev/null
	@cmake --build build-sanitize -j $(JOBS)
	@MUSTER_REQUIRE_POSTGRES=1 bash scripts/postgres.sh run \
		sh -c 'cd build-sanitize && ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 \
		MUSTER_SANITIZED=1 ctest --output-on-failure -j $(JOBS) -LE pg-again'

# The libFuzzer targets, built with clang, FUZZ_SECONDS each (test/fuzz/).
FUZZ_SECONDS ?= 10
fuzz:
	@bash scripts/fuzz.sh $(FUZZ_SECONDS)

bench: build
	@MUSTER_BENCH_DEPS=1 bash scripts/install-deps.sh
	@bash bench/run.sh $(BUILD)/muster

PREFIX ?= /usr/local
SUDO = $(shell [ -w $(PREFIX) ] || echo sudo)

# The binary, its man page and its completions, all made from one command table.
install: build
	@$(BUILD)/muster man >$(BUILD)/muster.1
	@$(BUILD)/muster completions bash >$(BUILD)/muster.bash
	@$(BUILD)/muster completions fish >$(BUILD)/muster.fish
	@$(SUDO) install -D -m 0755 $(BUILD)/muster $(DESTDIR)$(PREFIX)/bin/muster
	@$(SUDO) install -D -m 0644 $(BUILD)/muster.1 $(DESTDIR)$(PREFIX)/share/man/man1/muster.1
	@$(SUDO) install -D -m 0644 $(BUILD)/muster.bash $(DESTDIR)$(PREFIX)/share/bash-completion/completions/muster
	@$(SUDO) install -D -m 0644 $(BUILD)/muster.fish $(DESTDIR)$(PREFIX)/share/fish/vendor_completions.d/muster.fish

clean:
	rm -rf $(BUILD) build-sanitize build-fuzz
