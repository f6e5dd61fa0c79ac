#!/usr/bin/env bash
# test.sh - installs what is missing, then builds ft with warnings as errors
# and runs the whole test suite twice: a normal build, then one under
# AddressSanitizer and UndefinedBehaviorSanitizer.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/deps.sh

FT_DEPS_TESTS=1 ft_install_deps

echo "== build (warnings are errors) and test"
ft_build build -DFT_TESTS=ON -DFT_WERROR=ON
(cd build && ctest --output-on-failure -j2)

echo "== build with ASan + UBSan and test"
ft_build build-asan -DFT_TESTS=ON -DFT_WERROR=ON -DFT_SANITIZE=ON
(cd build-asan && ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 \
    ctest --output-on-failure -j2)
