#!/usr/bin/env bash
# radosgw.sh - starts and stops the S3 test engine: Ceph's radosgw on one
# monitor and one bluestore OSD on a sparse file, all on 127.0.0.1, all under
# one run folder ($FT_RGW_DIR, default /tmp/ft-radosgw).
#
#   scripts/radosgw.sh start   start it (scripts/deps.sh installs the packages
#                              with FT_DEPS_TESTS=1), make the bucket ft-test
#                              and print its environment
#   scripts/radosgw.sh env     print the environment of a running engine:
#                              eval "$(scripts/radosgw.sh env)"
#   scripts/radosgw.sh stop    kill exactly the PIDs it started, remove the folder
#   scripts/radosgw.sh stop-rgw   kill just radosgw (SIGKILL to its PID: a
#                              gateway that dies at once, mid-request; the
#                              cluster and the data stay)
#   scripts/radosgw.sh start-rgw  start radosgw again on the same port and
#                              wait until it answers (the fault tests)
#
# Ports: FT_RGW_PORT (S3, default 7480), FT_RGW_MON_PORT (monitor, 6789).
# Nothing here is secure (keys in the run folder, known S3 keys): a test engine.
set -euo pipefail

dir=${FT_RGW_DIR:-/tmp/ft-radosgw}
rgw_port=${FT_RGW_PORT:-7480}
mon_port=${FT_RGW_MON_PORT:-6789}
access_key=ftaccesskey
secret_key=ftsecretkey0123456789
bucket=ft-test
conf=$dir/ceph.conf
# Polls are bounded: each step's readiness is checked every 0.1 s for at most
# this many seconds before the start is given up.
limit=${FT_RGW_WAIT:-60}

starting=
die() {
    echo "radosgw.sh: $*" >&2
    # A start that fails half-way stops what it started (logs kept).
    [ -n "$starting" ] && FT_RGW_KEEP=1 stop
    exit 1
}

ceph_cli() {
    timeout 30 ceph -c "$conf" "$@"
}

# until SECONDS CMD...: runs CMD every 0.1 s until it succeeds or time is up.
until_ok() {
    local deadline=$((SECONDS + $1))
    shift
    while ! "$@" >/dev/null 2>&1; do
        [ "$SECONDS" -lt "$deadline" ] || return 1
        sleep 0.1
    done
}

# Starts "$@" in the background, logs under $dir, records its PID.
spawn() {
    local name=$1
    shift
    "$@" >"$dir/$name.out" 2>&1 &
    echo $! >"$dir/$name.pid"
}

add_key() {
    ceph-authtool "$dir/keyring" --gen-key "$@" >/dev/null
}

alive() {
    kill -0 "$(cat "$dir/$1.pid")" 2>/dev/null
}

print_env() {
    cat <<EOF
export AWS_ACCESS_KEY_ID=$access_key
export AWS_SECRET_ACCESS_KEY=$secret_key
export AWS_REGION=us-east-1
export FT_S3_ENDPOINT=http://127.0.0.1:$rgw_port
export FT_S3_BUCKET=$bucket
EOF
}

write_conf() {
    local fsid=$1
    cat >"$conf" <<EOF
[global]
fsid = $fsid
mon host = v1:127.0.0.1:$mon_port
run dir = $dir
log file = $dir/\$name.log
admin socket = $dir/\$name.asok
keyring = $dir/keyring
auth allow insecure global id reclaim = false
mon data avail warn = 1
ms bind msgr2 = false
# One OSD holds every copy: pools of size 1, placement across OSDs, not hosts.
osd pool default size = 1
osd pool default min size = 1
mon allow pool size one = true
osd crush chooseleaf type = 0
osd pool default pg num = 8
osd pool default pgp num = 8
mon warn on pool no redundancy = false
[mon]
mon data = $dir/mon
# Commit map changes at once, not each second: starting makes many.
paxos propose interval = 0.05
paxos min wait = 0.01
mon initial members = a
[osd]
osd data = $dir/osd
osd objectstore = bluestore
bluestore block path = $dir/osd.block
bluestore block create = true
bluestore block size = 21474836480
bluestore fsck on mkfs = false
# Memory: a test engine on a shared 2-core machine, not a production OSD.
osd memory target = 939524096
bluestore cache autotune = false
bluestore cache size = 134217728
osd op num shards = 2
osd op num threads per shard = 1
[client.rgw]
# tcp_nodelay: without it the requests of one small put came ~45 ms apart
# in the log though each took 0-12 ms there (Nagle's algorithm holding the
# end of an answer until the client's delayed ACK): ft put -r of 1,000
# files of 100 bytes took 53 s, 11.7 s with it; S3 services answer at once.
rgw frontends = beast endpoint=127.0.0.1:$rgw_port tcp_nodelay=1
rgw data = $dir/rgw
rgw thread pool size = 64
# The garbage collector frees a replaced or deleted object's data after
# rgw_gc_obj_min_wait (2 h by default, so that reads under way finish): a
# long test or bench run would fill the OSD first. Here it is collectable
# after 30 s and the collector runs every 30 s (each run at most 30 s):
# space comes back within about a minute (5 overwrites of a 200 MiB object:
# 980 MiB back 58 s after the last). A GET of a replaced object paused
# longer than that may break (ft's reader reopens it If-Match: CHANGED).
rgw gc obj min wait = 30
rgw gc processor period = 30
rgw gc processor max time = 30
EOF
}

start() {
    [ -e "$dir/mon.pid" ] && die "$dir already holds an engine: stop it first"
    for cmd in ceph-mon ceph-osd radosgw radosgw-admin ceph monmaptool ceph-authtool; do
        command -v "$cmd" >/dev/null ||
            die "$cmd is missing: scripts/test.sh installs it (deps.sh, FT_DEPS_TESTS=1)"
    done
    mkdir -p "$dir/mon" "$dir/osd" "$dir/rgw"
    starting=1
    local fsid osd_uuid
    fsid=$(cat /proc/sys/kernel/random/uuid)
    osd_uuid=$(cat /proc/sys/kernel/random/uuid)
    write_conf "$fsid"

    # One keyring holds every entity's key; the monitor imports it at mkfs.
    add_key --create-keyring -n mon. --cap mon 'allow *'
    add_key -n client.admin --cap mon 'allow *' --cap osd 'allow *' --cap mgr 'allow *'
    add_key -n osd.0 --cap mon 'allow profile osd' --cap osd 'allow *' --cap mgr 'allow profile osd'
    add_key -n client.rgw --cap mon 'allow rw' --cap osd 'allow rwx' --cap mgr 'allow rw'
    monmaptool --create --fsid "$fsid" --addv a "[v1:127.0.0.1:$mon_port]" \
        "$dir/monmap" >/dev/null
    ceph-mon -c "$conf" --mkfs -i a --monmap "$dir/monmap" --keyring "$dir/keyring" \
        >/dev/null 2>&1 ||
        die "ceph-mon --mkfs failed"
    spawn mon ceph-mon -c "$conf" -f -i a
    until_ok "$limit" ceph_cli mon stat || die "the monitor does not answer: $dir/mon.a.log"

    local id
    id=$(ceph_cli osd new "$osd_uuid") || die "ceph osd new failed"
    [ "$id" = 0 ] || die "expected OSD 0, got $id"
    ceph-osd -c "$conf" -i 0 --mkfs --osd-uuid "$osd_uuid" >"$dir/osd-mkfs.out" 2>&1 ||
        die "ceph-osd --mkfs failed: $dir/osd-mkfs.out"
    spawn osd ceph-osd -c "$conf" -f -i 0
    until_ok "$limit" osd_up || die "the OSD does not come up: $dir/osd.0.log"

    # radosgw makes a bucket's pools on first use (seconds on the first PUT)
    # unless they exist: make them all now.
    local pool
    for pool in .rgw.root default.rgw.control default.rgw.meta default.rgw.log \
        default.rgw.buckets.index default.rgw.buckets.data default.rgw.buckets.non-ec; do
        ceph_cli osd pool create "$pool" 8 8 >/dev/null 2>&1 || die "pool $pool"
        ceph_cli osd pool application enable "$pool" rgw >/dev/null 2>&1 || die "pool $pool app"
    done

    spawn rgw radosgw -c "$conf" -f -n client.rgw
    until_ok "$limit" rgw_answers || die "radosgw does not answer: $dir/client.rgw.log"
    timeout 30 radosgw-admin -c "$conf" user create --uid=ft --display-name=ft \
        --access-key="$access_key" --secret-key="$secret_key" >/dev/null 2>&1 ||
        die "radosgw-admin user create failed"
    # The bucket the tests and README's examples use (ft serve makes none).
    curl -sf -o /dev/null -X PUT --aws-sigv4 "aws:amz:us-east-1:s3" \
        --user "$access_key:$secret_key" -H "x-amz-content-sha256: UNSIGNED-PAYLOAD" \
        "http://127.0.0.1:$rgw_port/$bucket" || die "cannot make the bucket $bucket"
    print_env >"$dir/env"
    starting=
    print_env
}

osd_up() {
    alive osd || return 2
    ceph_cli osd dump 2>/dev/null | grep -q '^osd\.0 up'
}

rgw_answers() {
    alive rgw || return 2
    curl -sf -o /dev/null "http://127.0.0.1:$rgw_port/"
}

# Stops one process by its recorded PID, waiting (bounded) for it to exit,
# then SIGKILL if it did not.
stop_one() {
    local pid
    [ -e "$dir/$1.pid" ] || return 0
    pid=$(cat "$dir/$1.pid")
    if kill "$pid" 2>/dev/null; then
        until_ok 20 eval "! kill -0 $pid" || kill -9 "$pid" 2>/dev/null || true
    fi
    rm -f "$dir/$1.pid"
}

# Just the gateway, for the faults: killed at once, as a crash would (a
# SIGTERM lets it drain for seconds); the cluster and the data stay.
stop_rgw() {
    local pid
    [ -e "$dir/env" ] && [ -e "$dir/rgw.pid" ] || die "no radosgw running under $dir"
    pid=$(cat "$dir/rgw.pid")
    kill -9 "$pid" 2>/dev/null || true
    until_ok 20 eval "! kill -0 $pid" || die "radosgw ($pid) outlived SIGKILL"
    rm -f "$dir/rgw.pid"
}

start_rgw() {
    [ -e "$dir/env" ] || die "no engine running under $dir"
    [ -e "$dir/rgw.pid" ] && alive rgw && die "radosgw already runs under $dir"
    spawn rgw radosgw -c "$conf" -f -n client.rgw
    until_ok "$limit" rgw_answers || die "radosgw does not answer: $dir/client.rgw.log"
}

# Stops rgw, then the OSD, then the monitor.
stop() {
    local name
    for name in rgw osd mon; do
        stop_one "$name"
    done
    if [ -n "${FT_RGW_KEEP:-}" ]; then
        rm -f "$dir/osd.block"
    elif [ -e "$dir/ceph.conf" ]; then
        rm -rf "$dir" # only a folder that start made: it wrote ceph.conf
    else
        rmdir "$dir" 2>/dev/null || true
    fi
}

case "${1:-}" in
start) start ;;
stop) stop ;;
stop-rgw) stop_rgw ;;
start-rgw) start_rgw ;;
env)
    [ -e "$dir/env" ] || die "no engine running under $dir"
    cat "$dir/env"
    ;;
*) die "usage: radosgw.sh start|stop|env|stop-rgw|start-rgw" ;;
esac
