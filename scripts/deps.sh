# deps.sh - sourced by the other scripts: makes sure what ft needs to build
# (and, with FT_DEPS_TESTS=1, to test) is installed. As root on Debian it
# installs what is missing with apt-get; otherwise it prints the command.
# FT_DEPS_TESTS=1 also brings the S3 test engine (scripts/radosgw.sh): Ceph's
# monitor, OSD and radosgw from Debian (no manager: radosgw needs none),
# and HAProxy for the test of several servers on one bucket.

ft_missing_packages() {
    local pkgs=()
    command -v cc >/dev/null 2>&1 || pkgs+=(gcc libc6-dev)
    command -v make >/dev/null 2>&1 || pkgs+=(make)
    command -v cmake >/dev/null 2>&1 || pkgs+=(cmake)
    command -v pkg-config >/dev/null 2>&1 || pkgs+=(pkg-config)
    local lib pkg
    for lib in libsodium:libsodium-dev zlib:zlib1g-dev libcurl:libcurl4-openssl-dev \
        expat:libexpat1-dev libcrypto:libssl-dev ${FT_DEPS_TESTS:+cmocka:libcmocka-dev}; do
        pkg=${lib#*:}
        if ! command -v pkg-config >/dev/null 2>&1 || ! pkg-config --exists "${lib%%:*}"; then
            pkgs+=("$pkg")
        fi
    done
    if [ -n "${FT_DEPS_TESTS:-}" ]; then
        command -v clang >/dev/null 2>&1 || pkgs+=(clang)
        command -v valgrind >/dev/null 2>&1 || pkgs+=(valgrind)
        command -v groff >/dev/null 2>&1 || pkgs+=(groff-base)
        # tests/check_unit.sh rates contrib/ft.service with systemd-analyze.
        command -v systemd-analyze >/dev/null 2>&1 || pkgs+=(systemd)
        # tests/observe.sh scrapes the metrics port and parses JSON lines.
        command -v curl >/dev/null 2>&1 || pkgs+=(curl)
        command -v python3 >/dev/null 2>&1 || pkgs+=(python3)
        command -v ceph-mon >/dev/null 2>&1 || pkgs+=(ceph-mon)
        command -v ceph-osd >/dev/null 2>&1 || pkgs+=(ceph-osd)
        command -v radosgw >/dev/null 2>&1 || pkgs+=(radosgw)
        # tests/s3_frontends.sh: two servers behind scripts/haproxy.sh,
        # which waits for the balancer's port with ss (iproute2: not in a
        # minimal Debian).
        command -v haproxy >/dev/null 2>&1 || pkgs+=(haproxy)
        command -v ss >/dev/null 2>&1 || pkgs+=(iproute2)
        [ -e /usr/lib/llvm-14/lib/clang/14.0.6/lib/linux/libclang_rt.fuzzer-x86_64.a ] ||
            [ -n "$(ls /usr/lib/llvm-*/lib/clang/*/lib/linux/libclang_rt.fuzzer-*.a 2>/dev/null)" ] ||
            pkgs+=(libclang-rt-dev)
    fi
    echo "${pkgs[@]}"
}

ft_install_deps() {
    local missing
    missing=$(ft_missing_packages)
    [ -z "$missing" ] && return 0
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
        echo "ft: installing $missing" >&2
        export DEBIAN_FRONTEND=noninteractive
        apt-get update -qq >&2 &&
            apt-get install -y -qq --no-install-recommends $missing >&2 || {
            echo "ft: apt-get failed to install: $missing" >&2
            return 1
        }
    else
        echo "ft: missing packages: $missing" >&2
        echo "ft: install them with: sudo apt-get install $missing" >&2
        return 1
    fi
}

# Configures and builds into $1 (default build) with extra cmake options.
ft_build() {
    local dir=${1:-build}
    shift || true
    cmake -S . -B "$dir" "$@" >/dev/null &&
        cmake --build "$dir" -j"$(nproc 2>/dev/null || echo 2)" >/dev/null
}
