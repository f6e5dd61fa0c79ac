#!/usr/bin/env bash
# test.sh - installs what is missing, then builds ft with warnings as errors
# and runs the whole test suite: a normal build, then one under
# AddressSanitizer and UndefinedBehaviorSanitizer, the end-to-end tests
# under valgrind, and each fuzz target for 40 seconds (FT_FUZZ_SECONDS sets
# how long: about seven minutes in all for the ten targets). The S3 tests
# run against a radosgw that scripts/radosgw.sh starts here and stops on
# exit, pass or fail (FT_S3_ENDPOINT already set: that engine is used), and
# the end-to-end programs run a second time with their servers on it
# (FT_TEST_STORE=s3), with the S3 fault tests.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/deps.sh

FT_DEPS_TESTS=1 ft_install_deps

if [ -z "${FT_S3_ENDPOINT:-}" ]; then
    echo "== starting the S3 test engine (radosgw)"
    export FT_RGW_DIR=${FT_RGW_DIR:-$(mktemp -d "${TMPDIR:-/tmp}/ft-radosgw.XXXXXX")}
    trap 'scripts/radosgw.sh stop' EXIT
    rgw_env=$(scripts/radosgw.sh start)
    eval "$rgw_env"
fi

echo "== build (warnings are errors) and test"
ft_build build -DFT_TESTS=ON -DFT_WERROR=ON
(cd build && ctest --output-on-failure -j2)

# The second pass under S3: the harness's own test, the programs that
# test the store end to end through servers the harness starts
# (transfers, the CLI, resume, trees, sync, remotes, rights and quotas,
# limits, pipelining, clients, faults) and the S3 faults. Not again:
# programs without servers, or below the store (frames, Noise, keys,
# hashing), of the folder itself (links, confinement, chunk lists), of
# what S3 cannot do (striped uploads need writes at offsets, deltas need
# descriptors: the server offers neither), and test_stress (its load is
# the folder's). Directory-only tests inside these say so and skip.
s3_programs=(test_testutil test_e2e test_cli test_resume test_tree test_remotes
    test_rights test_sync test_pipeline test_limits test_faults test_clients
    test_s3_faults)
echo "== the end-to-end tests again, on S3 (FT_TEST_STORE=s3)"
(cd build && FT_TEST_STORE=s3 ctest --output-on-failure -j2 \
    -R "^($(IFS='|'; echo "${s3_programs[*]}"))\$")

echo "== build with ASan + UBSan and test"
ft_build build-asan -DFT_TESTS=ON -DFT_WERROR=ON -DFT_SANITIZE=ON
(cd build-asan && ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 \
    ctest --output-on-failure -j2)

echo "== end-to-end tests under valgrind"
for t in test_e2e test_cli; do
    valgrind -q --error-exitcode=99 --leak-check=full --trace-children=yes \
        --errors-for-leak-kinds=definite,indirect \
        --show-leak-kinds=definite,indirect "build/tests/$t" >/dev/null
    echo "   $t: clean under valgrind"
done

echo "== fuzz: ${FT_FUZZ_SECONDS:-40} s per target (libFuzzer, ASan, UBSan)"
CC=clang ft_build build-fuzz -DFT_FUZZ=ON -DFT_TESTS=OFF -DFT_WERROR=ON
mkdir -p fuzz-artifacts
for t in server client handshake config clients metrics delta chunks touches s3; do
    corpus=$(mktemp -d)
    cp tests/fuzz/corpus/$t/* "$corpus/"
    build-fuzz/fuzz_$t -max_total_time="${FT_FUZZ_SECONDS:-40}" -max_len=65536 \
        -timeout=10 -artifact_prefix="$PWD/fuzz-artifacts/$t-" "$corpus" \
        >"fuzz-artifacts/$t.log" 2>&1 || {
        tail -n 40 "fuzz-artifacts/$t.log"
        echo "fuzz_$t found a crash: see fuzz-artifacts/" >&2
        exit 1
    }
    echo "   fuzz_$t: $(grep -o 'Done [0-9]* runs in [0-9]* second(s)' "fuzz-artifacts/$t.log"), no crash"
    rm -rf "$corpus"
done
