#!/usr/bin/env bash
# s3.sh - ft on a store in S3 beside the direct tools, on one machine: Ceph's
# radosgw (scripts/radosgw.sh, started here under the workspace unless
# FT_S3_ENDPOINT names a running engine), curl --aws-sigv4 and s3cmd for the
# direct upload and download, ft serve --store s3://BUCKET/PREFIX for ft's.
#
#   1. SIZE (default 1G) of random bytes: curl PUT (one request) and GET;
#      s3cmd put (multipart, 15 MiB parts, its default) and get, each
#      checking its MD5, with a config file of its own in the workspace
#      (never ~/.s3cfg); ft put and ft get through one server; RUNS (3)
#      rounds, interleaved; medians, and ft over each direct tool both ways.
#      Every download is compared with the source (cmp); ft's put is
#      verified by ft (BLAKE2b-256). Without s3cmd (installed as root when
#      missing), its rows are skipped with a line saying so.
#   2. The server's peak RSS per transfer: VmHWM reset before each
#      transfer of step 1, and under CLIENTS at once in step 3 (peak over
#      clients).
#   2b. The CPU time (user + system) each side spent on each transfer of
#      step 1: the client (/usr/bin/time), the ft server and the engine's
#      daemons (/proc/PID/stat of those of scripts/radosgw.sh in FT_RGW_DIR,
#      from its pid files; none for an engine elsewhere), and that total
#      over the machine's CPUs: the least wall time the transfer could take
#      here, where every side shares the cores.
#   3. CLIENTS (16) clients at once, each putting its own CLIENT_SIZE (64M)
#      file and getting it back, every copy compared with its source: to
#      one server directly, to that server alone behind HAProxy (the hop),
#      and to two servers on the bucket behind HAProxy (scripts/haproxy.sh);
#      MULTI_RUNS (RUNS) rounds, medians, aggregates over one server's.
# Before each timed single transfer, lib.sh's prefault step (SIZE bytes).
# The machine is shared by the engine, the servers and the clients: the
# load average is printed with the table. This measures; it asserts nothing
# about speed, and exits 1 if any copy differs or any transfer fails.
#
# Environment: SIZE, RUNS, CLIENTS, CLIENT_SIZE, MULTI_RUNS, BUILD_DIR,
# TMPDIR (needs about 3 x SIZE + 2 x CLIENTS x CLIENT_SIZE free, and the
# engine's sparse OSD file when started here), FT_S3_ENDPOINT with
# FT_S3_BUCKET and AWS_* (an engine already running; objects under a fresh
# prefix, removed at the end).
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"

RUNS=${RUNS:-3}
SIZE=${SIZE:-1G}
CLIENTS=${CLIENTS:-16}
CLIENT_SIZE=${CLIENT_SIZE:-64M}
MULTI_RUNS=${MULTI_RUNS:-$RUNS}
no_args_or_help "$@"
positive_ints RUNS CLIENTS MULTI_RUNS
BYTES=$(size_bytes "$SIZE") || die "SIZE must look like 1G, not '$SIZE'"
CBYTES=$(size_bytes "$CLIENT_SIZE") || die "CLIENT_SIZE must look like 64M, not '$CLIENT_SIZE'"

need_basics
have "command -v curl" curl || die "needs curl (apt-get install curl)"
# The direct tools of step 1, in the table's order: curl always, s3cmd when
# it can be had.
DIRECT=(curl)
HAVE_S3CMD=0
if have "command -v s3cmd" s3cmd; then
    HAVE_S3CMD=1
    DIRECT+=(s3cmd)
else
    say "skipping s3cmd: not installed (apt-get install s3cmd)"
fi
have "command -v haproxy" haproxy || die "needs haproxy (apt-get install haproxy)"
make_work s3
setup_ft
need_mib=$(((3 * BYTES + 2 * CLIENTS * CBYTES) / 1048576 + 512))
avail_mib=$(($(free_kib "$WORK") / 1024))
((avail_mib > need_mib)) || die "$WORK has $avail_mib MiB free, needs about $need_mib: set TMPDIR"

# ---- the engine --------------------------------------------------------------
if [[ -z ${FT_S3_ENDPOINT:-} ]]; then
    export FT_RGW_DIR=$WORK/rgw FT_RGW_PORT=${FT_RGW_PORT:-$(pick_port)}
    export FT_RGW_MON_PORT=${FT_RGW_MON_PORT:-$(pick_port)}
    CLEANUP_CMDS+=("FT_RGW_DIR=$FT_RGW_DIR '$REPO/scripts/radosgw.sh' stop")
    say "starting radosgw under $FT_RGW_DIR (S3 port $FT_RGW_PORT)"
    rgw_env=$("$REPO/scripts/radosgw.sh" start) || die "radosgw did not start"
    eval "$rgw_env"
fi
: "${FT_S3_BUCKET:?}" "${AWS_ACCESS_KEY_ID:?}" "${AWS_SECRET_ACCESS_KEY:?}"
# radosgw frees a replaced or deleted object's data once its garbage
# collector's wait is over (two hours by default, about a minute on
# scripts/radosgw.sh's engine): a round overwrites 1 GiB in seconds, and the
# test engine's OSD holds 20 GiB (a full OSD blocks every write). Between
# rounds, untimed, the collector runs now, on an engine whose ceph.conf is
# here, so that no round starts on the last one's garbage.
collect() {
    local conf=${FT_RGW_DIR:-/tmp/ft-radosgw}/ceph.conf
    [[ -r $conf ]] || return 0
    timeout 120 radosgw-admin -c "$conf" gc process --include-all >/dev/null 2>&1 ||
        say "note: radosgw-admin gc process failed"
}
EP=$FT_S3_ENDPOINT
B=$FT_S3_BUCKET
PREFIX=bench-s3-$(date +%s)-$$
# curl signs with SigV4; UNSIGNED-PAYLOAD, or it signs an empty body's hash.
CURL=(curl -sS -f --aws-sigv4 "aws:amz:${AWS_REGION:-us-east-1}:s3"
    --user "$AWS_ACCESS_KEY_ID:$AWS_SECRET_ACCESS_KEY"
    -H "x-amz-content-sha256: UNSIGNED-PAYLOAD")
# The bucket: made if missing (409: it is there already, ours).
code=$(curl -sS -o /dev/null -w '%{http_code}' "${CURL[@]:2}" -X PUT "$EP/$B") || true
[[ $code == 200 || $code == 409 ]] || die "cannot make bucket $B at $EP (HTTP $code)"
# s3cmd reads ~/.s3cfg unless told otherwise: a config of its own here, for
# this engine, SigV4, path-style names (host_bucket without %(bucket)s).
if ((HAVE_S3CMD)); then
    S3CMD=(s3cmd -c "$WORK/s3cfg" --no-progress)
    host=${EP#*://}
    host=${host%%/*}
    https=False
    [[ $EP != https://* ]] || https=True
    # The secret key goes in: readable by this user alone before it does.
    : >"$WORK/s3cfg"
    chmod 600 "$WORK/s3cfg"
    cat >"$WORK/s3cfg" <<EOF
[default]
access_key = $AWS_ACCESS_KEY_ID
secret_key = $AWS_SECRET_ACCESS_KEY
host_base = $host
host_bucket = $host
use_https = $https
signature_v2 = False
bucket_location = ${AWS_REGION:-us-east-1}
EOF
fi
say "engine $EP, bucket $B, prefix $PREFIX"

# ---- servers -----------------------------------------------------------------
# start_s3_server NAME: ft serve on the bucket's prefix, the one key file;
# its pid and port in SRV_PID[NAME], SRV_PORT[NAME].
declare -A SRV_PID SRV_PORT
start_s3_server() {
    local log=$WORK/ft-$1.log
    bg_start "$FT" serve --store "s3://$B/$PREFIX" --s3-endpoint "$EP" \
        --key-file "$WORK/server.key" --anonymous list,read,write,delete \
        --max-clients 64 -H 127.0.0.1 --port 0 2>"$log"
    SRV_PID[$1]=$BG_PID
    SRV_PORT[$1]=$(await_line "$log" 'serving .* port [0-9]+' "$BG_PID") || {
        cat "$log" >&2
        die "ft serve --store s3://... did not start (a build without the S3 store?)"
    }
    say "ft server $1: pid ${SRV_PID[$1]}, port ${SRV_PORT[$1]}"
}
start_s3_server a
start_s3_server b
export FT_HAPROXY_PORT=0
# One balancer per layout: a before the hop alone, a and b before the pair.
declare -A LB_PORT
start_lb() {
    local name=$1 env
    shift
    FT_HAPROXY_DIR=$WORK/haproxy-$name
    CLEANUP_CMDS+=("FT_HAPROXY_DIR=$FT_HAPROXY_DIR '$REPO/scripts/haproxy.sh' stop")
    env=$(FT_HAPROXY_DIR=$FT_HAPROXY_DIR "$REPO/scripts/haproxy.sh" start "$@") ||
        die "haproxy did not start"
    LB_PORT[$name]=$(sed -n 's/^export FT_HAPROXY_PORT=//p' <<<"$env")
}
start_lb one "127.0.0.1:${SRV_PORT[a]}"
start_lb two "127.0.0.1:${SRV_PORT[a]}" "127.0.0.1:${SRV_PORT[b]}"

# ---- 1. one large file -------------------------------------------------------
say "writing $SIZE of random bytes"
head -c "$BYTES" /dev/urandom >"$WORK/src"
PREFAULT_BYTES=$BYTES
FAILED=0
check_copy() { # check_copy FILE WHAT
    if ! cmp -s "$WORK/src" "$1"; then
        say "WRONG BYTES: $2"
        FAILED=1
    fi
    rm -f -- "$1"
}
ft1() { "$FT" "$1" -q -H 127.0.0.1 -p "${SRV_PORT[a]}" "${@:2}"; }
# ---- CPU per side ------------------------------------------------------------
# The engine's daemons: those of scripts/radosgw.sh in FT_RGW_DIR (this
# run's, or one named so), each checked to be a Ceph daemon still.
ENGINE_PIDS=()
if [[ -n ${FT_RGW_DIR:-} ]]; then
    for daemon in mon osd rgw; do
        pid=$(cat "$FT_RGW_DIR/$daemon.pid" 2>/dev/null) || continue
        [[ $(cat "/proc/$pid/comm" 2>/dev/null) =~ ^(radosgw|ceph-) ]] && ENGINE_PIDS+=("$pid")
    done
fi
TICKS=$(getconf CLK_TCK)
# cpu_ticks VAR PID...: VAR = their CPU time so far (utime + stime), in
# clock ticks; fields after "pid (comm) ", which may hold spaces.
cpu_ticks() {
    local var=$1 pid stat f sum=0
    shift
    for pid in "$@"; do
        { read -r stat <"/proc/$pid/stat"; } 2>/dev/null || continue
        read -ra f <<<"${stat##*) }"
        sum=$((sum + f[11] + f[12]))
    done
    printf -v "$var" '%d' "$sum"
}
declare -A CPU_CLIENT CPU_SERVER CPU_ENGINE
CPU0_SERVER=0
CPU0_ENGINE=0
ticks_s() { awk -v t="$1" -v hz="$TICKS" 'BEGIN { printf "%.2f", t / hz }'; }
# cpu_mark before a timed transfer, cpu_record KEY SERVER after it (SERVER
# 1 when ft's server a took part): each side's CPU seconds, kept per KEY.
cpu_mark() {
    cpu_ticks CPU0_SERVER "${SRV_PID[a]}"
    cpu_ticks CPU0_ENGINE "${ENGINE_PIDS[@]}"
}
cpu_record() {
    local now
    [[ $CPU_S == - ]] || CPU_CLIENT[$1]+="$CPU_S"$'\n'
    if (($2)); then
        cpu_ticks now "${SRV_PID[a]}"
        CPU_SERVER[$1]+="$(ticks_s $((now - CPU0_SERVER)))"$'\n'
    fi
    if ((${#ENGINE_PIDS[@]})); then
        cpu_ticks now "${ENGINE_PIDS[@]}"
        CPU_ENGINE[$1]+="$(ticks_s $((now - CPU0_ENGINE)))"$'\n'
    fi
}
# VmRSS of the servers, summed (KiB): what a reset VmHWM starts from.
rss_now() {
    local pid sum=0
    for pid in "$@"; do
        sum=$((sum + $(awk '/^VmRSS:/ { print $2 }' "/proc/$pid/status")))
    done
    echo "$sum"
}
# added KEY PEAK BEFORE N: the largest (PEAK - BEFORE) / N seen for KEY, in
# KiB: the memory each of N transfers at once added to the servers.
declare -A ADDED
added() {
    local v=$((($2 - $3) / $4))
    [[ -n ${ADDED[$1]+set} ]] && ((ADDED[$1] >= v)) || ADDED[$1]=$v
}
single_round() {
    local a=${SRV_PID[a]}
    cpu_mark
    timed "${CURL[@]}" -T "$WORK/src" -o /dev/null "$EP/$B/$PREFIX/curl" ||
        die "curl PUT failed"
    record "curl put" "$ELAPSED" "$RSS_KIB"
    cpu_record "curl put" 0
    cpu_mark
    timed "${CURL[@]}" -o "$WORK/dl" "$EP/$B/$PREFIX/curl" || die "curl GET failed"
    record "curl get" "$ELAPSED" "$RSS_KIB"
    cpu_record "curl get" 0
    check_copy "$WORK/dl" "curl's download"
    if ((HAVE_S3CMD)); then
        # stdout: one "upload:"/"download:" line per file, not the table's.
        cpu_mark
        timed "${S3CMD[@]}" put "$WORK/src" "s3://$B/$PREFIX/s3cmd" >/dev/null ||
            die "s3cmd put failed"
        record "s3cmd put" "$ELAPSED" "$RSS_KIB"
        cpu_record "s3cmd put" 0
        cpu_mark
        timed "${S3CMD[@]}" get "s3://$B/$PREFIX/s3cmd" "$WORK/dl" >/dev/null ||
            die "s3cmd get failed"
        record "s3cmd get" "$ELAPSED" "$RSS_KIB"
        cpu_record "s3cmd get" 0
        check_copy "$WORK/dl" "s3cmd's download"
    fi
    local before peak
    hwm_reset "$a"
    before=$(rss_now "$a")
    cpu_mark
    timed "$FT" put -q -H 127.0.0.1 -p "${SRV_PORT[a]}" "$WORK/src" big || die "ft put failed"
    cpu_record "ft put" 1
    peak=$(hwm "$a")
    record "ft put" "$ELAPSED" "$RSS_KIB" "$peak"
    added "ft put" "$peak" "$before" 1
    hwm_reset "$a"
    before=$(rss_now "$a")
    cpu_mark
    timed "$FT" get -q -H 127.0.0.1 -p "${SRV_PORT[a]}" big "$WORK/dl" || die "ft get failed"
    cpu_record "ft get" 1
    peak=$(hwm "$a")
    record "ft get" "$ELAPSED" "$RSS_KIB" "$peak"
    added "ft get" "$peak" "$before" 1
    check_copy "$WORK/dl" "ft's download"
}
IDLE_KIB=$(rss_now "${SRV_PID[a]}")
START=$SECONDS
for ((round = 1; round <= RUNS; round++)); do
    collect
    single_round
    say "$SIZE round $round/$RUNS done ($((SECONDS - START)) s)"
done
rm -f -- "$WORK/src"
# shellcheck disable=SC2034 # read by lib.sh's prefault
PREFAULT_BYTES=0

# ---- 3. many clients ---------------------------------------------------------
mkdir -p "$WORK/csrc" "$WORK/cdl"
say "writing $CLIENTS random files of $CLIENT_SIZE"
for ((i = 0; i < CLIENTS; i++)); do
    head -c "$CBYTES" /dev/urandom >"$WORK/csrc/c$i"
done
# multi_round KEY PORT PID...: CLIENTS clients at once on PORT, each a put
# then a get of its file; wall time, every copy compared, the servers' peak.
multi_round() {
    local key=$1 port=$2 i pids=() t0 fails=0 before peak
    shift 2
    rm -f -- "$WORK"/cdl/c*
    hwm_reset "$@"
    before=$(rss_now "$@")
    t0=$EPOCHREALTIME
    for ((i = 0; i < CLIENTS; i++)); do
        {
            "$FT" put -q -H 127.0.0.1 -p "$port" "$WORK/csrc/c$i" "c$i" &&
                "$FT" get -q -H 127.0.0.1 -p "$port" "c$i" "$WORK/cdl/c$i"
        } 2>"$WORK/client.$i.log" &
        pids+=($!)
    done
    for i in "${!pids[@]}"; do
        wait "${pids[i]}" || {
            fails=$((fails + 1))
            say "client $i ($key) failed: $(tail -n 2 "$WORK/client.$i.log" | tr '\n' ' ')"
        }
    done
    set_elapsed "$t0"
    for ((i = 0; i < CLIENTS; i++)); do
        cmp -s "$WORK/csrc/c$i" "$WORK/cdl/c$i" || {
            fails=$((fails + 1))
            say "WRONG BYTES or none: client $i ($key)"
        }
    done
    ((fails == 0)) || FAILED=1
    peak=$(hwm "$@")
    record "$key" "$ELAPSED" - "$peak"
    added "$key" "$peak" "$before" "$CLIENTS"
}
for ((round = 1; round <= MULTI_RUNS; round++)); do
    collect
    multi_round "1 server" "${SRV_PORT[a]}" "${SRV_PID[a]}"
    collect
    multi_round "1 server, haproxy" "${LB_PORT[one]}" "${SRV_PID[a]}"
    collect
    multi_round "2 servers, haproxy" "${LB_PORT[two]}" "${SRV_PID[a]}" "${SRV_PID[b]}"
    say "$CLIENTS-client round $round/$MULTI_RUNS done ($((SECONDS - START)) s)"
done
for pid in "${SRV_PID[@]}"; do
    kill -0 "$pid" 2>/dev/null || die "an ft server (pid $pid) died during the run"
done
# What this run stored, removed (the engine may be someone else's).
names=(big)
for ((i = 0; i < CLIENTS; i++)); do names+=("c$i"); done
ft1 rm "${names[@]}" || say "note: could not remove ft's objects"
for tool in "${DIRECT[@]}"; do
    "${CURL[@]}" -X DELETE -o /dev/null "$EP/$B/$PREFIX/$tool" ||
        say "note: could not remove $tool's object"
done

# ---- the table ---------------------------------------------------------------
mbs() { awk -v b="$1" -v m="$2" 'BEGIN { printf "%.1f", b / 1e6 / m }'; }
s3cmd_version=
((HAVE_S3CMD == 0)) || s3cmd_version=" and $(s3cmd --version)"
printf '\nft on S3 (radosgw 16.2 at %s) beside curl --aws-sigv4%s, all on 127.0.0.1\n' \
    "$EP" "$s3cmd_version"
printf 'ft %s; %s\n' "$TREE" "$(machine_line)"
printf '(a shared machine: other work ran beside this; the load average above is at the end)\n\n'
# One "x TOOL" column per direct tool, filled on ft's rows.
printf '%-22s %9s %17s %9s' "$SIZE, one transfer" 'median s' '(min-max)' 'MB/s'
printf ' %9s' "${DIRECT[@]/#/x }"
printf ' %12s %12s\n' 'server KiB' 'KiB/transfer'
for op in put get; do
    for tool in "${DIRECT[@]}" ft; do
        key="$tool $op"
        m=$(key_median "$key")
        read -r lo hi < <(key_min_max "$key")
        printf '%-22s %9.3f %17s %9s' "$key" "$m" "($lo-$hi)" "$(mbs "$BYTES" "$m")"
        for peer in "${DIRECT[@]}"; do
            r=
            [[ $tool != ft ]] || r=$(ratio "$(key_median "$peer $op")" "$m")
            printf ' %9s' "$r"
        done
        printf ' %12s %12s\n' "${SERVER_RSS[$key]}" "${ADDED[$key]:--}"
    done
done
cpus=$(nproc)
# sum_or_dash A B C: their sum, "-" standing for nothing spent.
sum_or_dash() { awk 'BEGIN { for (i = 1; i < ARGC; i++) if (ARGV[i] != "-") s += ARGV[i]; printf "%.2f", s }' "$@"; }
cpu_median() {
    if [[ -n $1 ]]; then
        printf '%s' "$1" | median | awk '{ printf "%.2f", $1 }'
    else
        printf -- -
    fi
}
printf '\n%-22s %9s %9s %9s %9s %12s\n' "CPU s, $SIZE" 'client' 'ft server' 'engine' 'all' "all / $cpus CPUs"
for op in put get; do
    for tool in "${DIRECT[@]}" ft; do
        key="$tool $op"
        c=$(cpu_median "${CPU_CLIENT[$key]-}")
        s=$(cpu_median "${CPU_SERVER[$key]-}")
        e=$(cpu_median "${CPU_ENGINE[$key]-}")
        all=$(sum_or_dash "$c" "$s" "$e")
        printf '%-22s %9s %9s %9s %9s %12s\n' "$key" "$c" "$s" "$e" "$all" \
            "$(awk -v a="$all" -v n="$cpus" 'BEGIN { printf "%.2f", a / n }')"
    done
done
printf '\n%-22s %9s %17s %9s %9s %12s %12s\n' "$CLIENTS clients x $CLIENT_SIZE" 'median s' '(min-max)' 'agg MB/s' 'x 1 srv' 'server KiB' 'KiB/transfer'
one_m=$(key_median "1 server")
for key in "1 server" "1 server, haproxy" "2 servers, haproxy"; do
    m=$(key_median "$key")
    read -r lo hi < <(key_min_max "$key")
    printf '%-22s %9.3f %17s %9s %9s %12s %12s\n' "$key" "$m" "($lo-$hi)" \
        "$(mbs "$((2 * CLIENTS * CBYTES))" "$m")" "$(ratio "$one_m" "$m")" \
        "${SERVER_RSS[$key]}" "${ADDED[$key]}"
done
cat <<EOF

median s: wall time, median of $RUNS ($MULTI_RUNS for the clients' rows); MB/s: 10^6 bytes/s.
x TOOL: TOOL's median time over ft's (ft's speed as a share of TOOL's); curl PUTs
  the file in one request and GETs it into a file; s3cmd puts it as a multipart
  upload of 15 MiB parts (its default), GETs it into a file, and checks its MD5
  both ways; ft is encrypted and verified (BLAKE2b-256) and its server writes
  multipart uploads.
CPU s: user + system seconds each side spent on the transfer, median of $RUNS: the
  client (/usr/bin/time), the ft server, the engine's daemons (radosgw, its OSD
  and monitor: "-" without FT_RGW_DIR, for an engine this run did not start);
  all: the sides' medians summed; all / $cpus CPUs: the least wall time that CPU
  allows on this machine, where all sides share the cores: the best ratio ft
  can reach against a tool is their floors' ratio.
server KiB: the ft server's VmHWM during the transfer (reset before each, the
  largest over the rounds; for 2 servers, the two summed); server a held
  $IDLE_KIB KiB before the first transfer (libcurl and its TLS library loaded).
KiB/transfer: (peak - VmRSS just before) / transfers at once (1, or $CLIENTS),
  the largest over the rounds: the memory each transfer added.
agg MB/s: 2 x $CLIENTS x $CBYTES bytes (each file up and back) / median s;
  x 1 srv: the 1-server row's median time over this row's.
EOF
if ((FAILED)); then
    say "FAILED: a transfer failed or a copy differs (see above)"
    exit 1
fi
say "every copy matched its source (cmp)"
