# Thin wrapper over meson so that a fresh Debian 12 machine needs two commands:
#   make run    install what is missing, build, start the dev appliance
#   make test   install what is missing, build (normal, ASan+UBSan, TSan), run every test
# Build directories: build/ (gcc, -O2 -g), build-asan/ (clang, ASan+UBSan, fuzzers),
# build-tsan/ (clang, TSan, concurrency tests).
.PHONY: all deps build build-asan build-tsan test test-quick run bench lint format clean

MESON_COMMON := -Dwerror=true -Ddpdk=enabled
JOBS ?= $(shell nproc)

all: build

deps:
	@tools/deps.sh

build/build.ninja:
	meson setup build $(MESON_COMMON)

build-asan/build.ninja:
	CXX=clang++ meson setup build-asan -Dwerror=true -Ddpdk=disabled -Dbenchmarks=disabled \
	  -Dfuzz=enabled -Db_sanitize=address,undefined -Db_lundef=false

build-tsan/build.ninja:
	CXX=clang++ meson setup build-tsan -Dwerror=true -Ddpdk=disabled -Dbenchmarks=disabled \
	  -Dfuzz=disabled -Db_sanitize=thread -Db_lundef=false

build: deps build/build.ninja
	ninja -C build -j $(JOBS)

# The sanitizer builds compile only what their suites run (tools/suite-targets.py).
build-asan: deps build-asan/build.ninja
	ninja -C build-asan -j $(JOBS) $$(tools/suite-targets.py build-asan unit fuzz)

build-tsan: deps build-tsan/build.ninja
	ninja -C build-tsan -j $(JOBS) $$(tools/suite-targets.py build-tsan concurrency)

# Every suite: the summary line at the end reads "N passed, N failed".
test: build build-asan build-tsan
	@tools/run-tests.sh

# Only the normal build's tests (a faster inner loop for developers).
test-quick: build
	@tools/run-tests.sh --quick

# Only what it starts: the server and its io helper (make test builds the rest).
run: deps build/build.ninja
	ninja -C build -j $(JOBS) control/anvil io/anvil-iod
	@tools/dev-run.sh

bench: build
	@tools/run-benchmarks.sh

lint: build
	@tools/lint.sh

format:
	@git ls-files '*.h' '*.cc' | xargs clang-format -i

clean:
	rm -rf build build-asan build-tsan
