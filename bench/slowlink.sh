#!/usr/bin/env bash
# slowlink.sh - ft -z over a slow link, beside rsync -z. Root only.
#
# It makes two network namespaces joined by a veth pair, 10.77.0.1 (server)
# and 10.77.0.2 (client); those addresses exist only inside these two
# namespaces, so no packet leaves them. The shaped link: each veth end gets a
# tc netem qdisc 'rate 100mbit delay 20ms' (each direction 100 Mbit/s, 40 ms
# round trip). On a kernel without sch_netem, bench/wire.py does the same in
# user space between a TUN device in each namespace (the addresses move to
# those devices while the shaped link is measured), and the script says so.
# The ft server and an rsync daemon run in the server namespace, the clients
# in the client namespace. With a SIZE (default 64M) of compressible text
# (generated log-like lines) and of random bytes, it times RUNS rounds
# (default 3) of:
#   ft put, ft put -z, ft get, ft get -z        (default: encrypted, verified)
#   rsync, rsync -z (rsync picks zstd), and on text rsync -z with
#   --compress-choice=zlib (ft's algorithm)     pushes to the daemon
# on the shaped link and again on the same veth with the netem qdiscs
# removed (LINKS="shaped unshaped" by default), and prints medians and the
# ratios -z over no -z and ft -z over rsync -z.
# The namespaces (and with them the veth pair) are removed on exit, also on
# failure or interrupt; every process started is ended. Every copy is
# compared with its source (cmp); a difference fails the run (exit 1).
#
# Environment: RUNS (3), SIZE (64M), LINKS ("shaped unshaped"), RATE
# (100mbit), DELAY (20ms), BUILD_DIR, TMPDIR. This measures; it asserts
# nothing about speed.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"

RUNS=${RUNS:-3}
SIZE=${SIZE:-64M}
read -r -a LINKS <<<"${LINKS:-shaped unshaped}"
RATE=${RATE:-100mbit}
DELAY=${DELAY:-20ms}
no_args_or_help "$@"
positive_ints RUNS
BYTES=$(size_bytes "$SIZE") || die "SIZE must look like 64M, not '$SIZE'"

if ! is_root; then
    say "skipped: needs root to make network namespaces, a veth pair and tc netem qdiscs"
    exit 0
fi
have "command -v ip && command -v tc" iproute2 || { say "skipped: no ip/tc (apt-get install iproute2)"; exit 0; }
need_basics
have "command -v rsync" rsync || say "note: no rsync (apt-get install rsync): its rows are skipped"

make_work slowlink
setup_ft
avail_mib=$(($(free_kib "$WORK") / 1024))
((avail_mib > 8 * BYTES / 1048576 + 256)) || die "$WORK has $avail_mib MiB free; needs about 8 x $SIZE (set TMPDIR)"

# ---- the data ----------------------------------------------------------------

say "generating $SIZE of log-like text and $SIZE of random bytes"
# Lines from a few templates with varying hosts, pids, users, addresses,
# durations and sizes: roughly what a service log looks like.
awk -v bytes="$BYTES" 'BEGIN {
    srand(7); n = 0; t = 1764000000
    split("GET POST PUT DELETE", verb, " ")
    split("/api/v1/users /api/v1/orders /static/app.js /healthz /login /api/v1/items/search", path, " ")
    split("200 200 200 200 304 404 500 201", code, " ")
    split("INFO INFO INFO WARN ERROR DEBUG", lvl, " ")
    while (n < bytes) {
        t += int(rand() * 3)
        r = rand()
        if (r < 0.6)
            line = sprintf("%s.%03dZ %s web-%02d nginx[%d]: 10.%d.%d.%d - - \"%s %s?id=%d HTTP/1.1\" %s %d %.3f \"Mozilla/5.0 (X11; Linux x86_64)\"",
                strftime("%Y-%m-%dT%H:%M:%S", t, 1), int(rand() * 1000), lvl[1 + int(rand() * 6)],
                int(rand() * 40), 1000 + int(rand() * 30000), int(rand() * 256), int(rand() * 256),
                int(rand() * 256), verb[1 + int(rand() * 4)], path[1 + int(rand() * 6)],
                int(rand() * 100000), code[1 + int(rand() * 8)], int(rand() * 90000), rand() * 2)
        else if (r < 0.85)
            line = sprintf("%s.%03dZ %s db-%d postgres[%d]: duration: %.3f ms statement: SELECT * FROM orders WHERE customer_id = %d AND status = %s ORDER BY created_at DESC LIMIT %d",
                strftime("%Y-%m-%dT%H:%M:%S", t, 1), int(rand() * 1000), lvl[1 + int(rand() * 6)],
                int(rand() * 4), 2000 + int(rand() * 9000), rand() * 500, int(rand() * 1000000),
                (rand() < 0.5 ? "'\''open'\''" : "'\''shipped'\''"), 10 * (1 + int(rand() * 10)))
        else
            line = sprintf("%s.%03dZ %s worker-%d jobs[%d]: job %08x finished in %d ms, %d items, queue depth %d, retries %d",
                strftime("%Y-%m-%dT%H:%M:%S", t, 1), int(rand() * 1000), lvl[1 + int(rand() * 6)],
                int(rand() * 16), 3000 + int(rand() * 5000), int(rand() * 2147483647),
                int(rand() * 5000), int(rand() * 10000), int(rand() * 300), int(rand() * 3))
        line = line "\n"
        # exactly bytes in all: the last line is cut to fit (no head -c,
        # whose early exit would kill awk with SIGPIPE).
        if (n + length(line) > bytes)
            line = substr(line, 1, bytes - n)
        printf "%s", line
        n += length(line)
    }
}' >"$WORK/text.src"
[[ $(stat -c %s "$WORK/text.src") -eq $BYTES ]] || die "the text is not $BYTES bytes long"
head -c "$BYTES" /dev/urandom >"$WORK/random.src"
TEXT_GZ=$(gzip -6 -c "$WORK/text.src" | wc -c)
say "text: gzip -6 makes it $(ratio "$BYTES" "$TEXT_GZ" %.1f)x smaller"

# ---- the namespaces ----------------------------------------------------------

NS_S=ftb$$s
NS_C=ftb$$c
VETH_S=ftb$$s0
VETH_C=ftb$$c0
# Removed on exit whatever happens (after the processes in them are ended):
# deleting a namespace deletes its veth end, and with it the pair.
CLEANUP_CMDS+=("ip netns del $NS_S 2>/dev/null; ip netns del $NS_C 2>/dev/null; ip link del $VETH_S 2>/dev/null")
ip netns add "$NS_S"
ip netns add "$NS_C"
ip link add "$VETH_S" type veth peer name "$VETH_C"
ip link set "$VETH_S" netns "$NS_S"
ip link set "$VETH_C" netns "$NS_C"
for ns in "$NS_S" "$NS_C"; do
    ip -n "$ns" link set lo up
done
ip -n "$NS_S" link set "$VETH_S" up
ip -n "$NS_C" link set "$VETH_C" up
IN_S=(ip netns exec "$NS_S")
IN_C=(ip netns exec "$NS_C")

# The shaped link: tc netem on the veth where the kernel has it; this one
# may not (CONFIG_NET_SCH_NETEM unset, no modules): then bench/wire.py, a
# user-space link between a TUN device in each namespace, paces each
# direction at RATE and holds each packet DELAY (see its header). The
# addresses 10.77.0.1/2 move to whichever pair of devices is the link.
RATE_MBIT=${RATE%mbit}
[[ $RATE_MBIT =~ ^[0-9]+$ && $RATE == *mbit ]] || die "RATE must look like 100mbit, not '$RATE'"
DELAY_MS=${DELAY%ms}
[[ $DELAY_MS =~ ^[0-9]+$ && $DELAY == *ms ]] || die "DELAY must look like 20ms, not '$DELAY'"
SHAPER=netem
if ! "${IN_S[@]}" tc qdisc add dev "$VETH_S" root netem rate "$RATE" delay "$DELAY" 2>"$WORK/netem.err"; then
    SHAPER=wire
    say "note: no tc netem here ($(head -n 1 "$WORK/netem.err")): the shaped link is bench/wire.py between two TUN devices"
    have "command -v python3" python3 || { say "skipped: no netem and no python3 for bench/wire.py"; exit 0; }
    [[ -c /dev/net/tun ]] || { say "skipped: no netem and no /dev/net/tun for bench/wire.py"; exit 0; }
    TUN=ftb$$w
    bg_start python3 "$REPO/bench/wire.py" "$NS_S" "$NS_C" "$TUN" "$RATE_MBIT" "$DELAY_MS" \
        >"$WORK/wire.out" 2>"$WORK/wire.log"
    WIRE_PID=$BG_PID
    await_line "$WORK/wire.out" '^ready$' "$WIRE_PID" >/dev/null ||
        { cat "$WORK/wire.log" >&2; die "wire.py did not start"; }
    ip -n "$NS_S" link set "$TUN" up
    ip -n "$NS_C" link set "$TUN" up
else
    "${IN_S[@]}" tc qdisc del dev "$VETH_S" root
fi
ACTIVE=
set_link() {
    local want=$1 ns dev pair from_s from_c to_s to_c
    [[ $want != "$ACTIVE" ]] || return 0
    if [[ $SHAPER == netem ]]; then
        for pair in "$NS_S $VETH_S" "$NS_C $VETH_C"; do
            read -r ns dev <<<"$pair"
            ip netns exec "$ns" tc qdisc del dev "$dev" root 2>/dev/null || true
            if [[ $want == shaped ]]; then
                ip netns exec "$ns" tc qdisc add dev "$dev" root netem rate "$RATE" delay "$DELAY"
            fi
        done
        if [[ -z $ACTIVE ]]; then
            ip -n "$NS_S" addr add 10.77.0.1/24 dev "$VETH_S"
            ip -n "$NS_C" addr add 10.77.0.2/24 dev "$VETH_C"
        fi
    else
        if [[ $want == shaped ]]; then
            from_s=$VETH_S from_c=$VETH_C to_s=$TUN to_c=$TUN
        else
            from_s=$TUN from_c=$TUN to_s=$VETH_S to_c=$VETH_C
        fi
        if [[ -n $ACTIVE ]]; then
            ip -n "$NS_S" addr del 10.77.0.1/24 dev "$from_s"
            ip -n "$NS_C" addr del 10.77.0.2/24 dev "$from_c"
        fi
        ip -n "$NS_S" addr add 10.77.0.1/24 dev "$to_s"
        ip -n "$NS_C" addr add 10.77.0.2/24 dev "$to_c"
    fi
    ACTIVE=$want
    # the first packets find the neighbour (veth) or the path (TUN) ready.
    if command -v ping >/dev/null; then
        "${IN_C[@]}" ping -q -c 3 -i 0.2 10.77.0.1 | tail -n 1 | sed "s/^/$SELF: $want link ping: /" >&2 ||
            die "the client namespace cannot reach 10.77.0.1"
    fi
}
set_link shaped

# The servers listen on every address of the server namespace (only lo and
# the link's devices are there), so they keep listening while 10.77.0.1
# moves between devices.
FT_NS_PREFIX=("${IN_S[@]}")
start_ft_server "$WORK/store" "$WORK/ft-server.log" -H 0.0.0.0
HAVE_RSYNC=0
if command -v rsync >/dev/null; then
    start_rsyncd "$WORK/peer" 0.0.0.0 "${IN_S[@]}" && HAVE_RSYNC=1
fi
# The files the gets fetch.
cp "$WORK/text.src" "$WORK/store/text"
cp "$WORK/random.src" "$WORK/store/random"

# ---- cases -------------------------------------------------------------------

FAILED=0
check_same() {
    if ! cmp -s -- "$WORK/$1.src" "$2"; then
        say "WRONG BYTES: $3: $2 differs from the source"
        FAILED=1
    fi
}
declare -A WHAT
run_ft() { # run_ft LINK DATA put|get z|plain
    local link=$1 data=$2 op=$3 z=$4 flags=() status=0 key
    [[ $z == plain ]] || flags=(-z)
    key="$link $data ft $op $z"
    WHAT[$key]="ft $op${flags[*]:+ -z}"
    ft_server_alive
    if [[ $op == put ]]; then
        timed "${IN_C[@]}" "$FT" put -q -H 10.77.0.1 -p "$FT_PORT" "${flags[@]}" "$WORK/$data.src" "up-$data" ||
            status=$?
        ((status == 0)) || die "ft put ${flags[*]} failed (status $status)"
        check_same "$data" "$WORK/store/up-$data" "$key"
    else
        rm -f -- "$WORK/dl.$data"
        timed "${IN_C[@]}" "$FT" get -q -H 10.77.0.1 -p "$FT_PORT" "${flags[@]}" "$data" "$WORK/dl.$data" ||
            status=$?
        ((status == 0)) || die "ft get ${flags[*]} failed (status $status)"
        check_same "$data" "$WORK/dl.$data" "$key"
        rm -f -- "$WORK/dl.$data"
    fi
    record "$key" "$ELAPSED" "$RSS_KIB" -
}
run_rsync() { # run_rsync LINK DATA plain|z|zlib
    local link=$1 data=$2 z=$3 flags=() status=0 key
    case $z in
    z) flags=(-z) ;;
    zlib) flags=(-z --compress-choice=zlib) ;;
    esac
    key="$link $data rsync $z"
    WHAT[$key]="rsync${flags[*]:+ ${flags[*]}}"
    [[ $z != z ]] || WHAT[$key]+=" (zstd)"
    rm -f -- "$WORK/peer/up-$data"
    timed "${IN_C[@]}" rsync "${flags[@]}" "$WORK/$data.src" "rsync://10.77.0.1:$RSYNC_PORT/mod/up-$data" ||
        status=$?
    ((status == 0)) || die "rsync ${flags[*]} failed (status $status)"
    check_same "$data" "$WORK/peer/up-$data" "$key"
    rm -f -- "$WORK/peer/up-$data"
    record "$key" "$ELAPSED" "$RSS_KIB" -
}

START=$SECONDS
for link in "${LINKS[@]}"; do
    set_link "$link"
    for ((round = 1; round <= RUNS; round++)); do
        for data in text random; do
            for op in put get; do
                run_ft "$link" "$data" "$op" plain
                run_ft "$link" "$data" "$op" z
            done
            if ((HAVE_RSYNC)); then
                run_rsync "$link" "$data" plain
                run_rsync "$link" "$data" z
                [[ $data != text ]] || run_rsync "$link" "$data" zlib
            fi
        done
        say "$link link: round $round/$RUNS done ($((SECONDS - START)) s)"
    done
done
ft_server_alive

# ---- the table ---------------------------------------------------------------

printf '\nft slowlink: %s (%d bytes) of text (gzip -6: %sx smaller) and of random bytes, %d runs each\n' \
    "$SIZE" "$BYTES" "$(ratio "$BYTES" "$TEXT_GZ" %.1f)" "$RUNS"
if [[ $SHAPER == netem ]]; then
    printf 'shaped: veth between two namespaces, netem rate %s delay %s on each end; unshaped: the same veth without netem\n' "$RATE" "$DELAY"
else
    printf 'shaped: no netem in this kernel: bench/wire.py between TUN devices in two namespaces, %s Mbit/s and %s ms each way\n' "$RATE_MBIT" "$DELAY_MS"
    printf '  (user space; MTU 1500); unshaped: a veth pair between the same namespaces, no qdisc\n'
fi
printf 'ft %s; %s\n' "$TREE" "$(machine_line)"
printf '%-9s %-7s %-34s %9s %15s %8s %8s %9s\n' link data what 'median s' '(min-max)' 'MB/s' '-z/no-z' 'vs rsync'
for key in "${KEYS[@]}"; do
    read -r link data tool rest <<<"$key"
    m=$(key_median "$key")
    read -r lo hi < <(key_min_max "$key")
    zr=-
    vs=-
    if [[ $tool == ft && $rest == *" z" ]]; then
        zr=$(ratio "$m" "$(key_median "$link $data ft ${rest% z} plain")")
        [[ ${rest% z} != put ]] || vs=$(ratio "$m" "$(key_median "$link $data rsync z")")
    elif [[ $tool == rsync && $rest != plain ]]; then
        zr=$(ratio "$m" "$(key_median "$link $data rsync plain")")
    fi
    printf '%-9s %-7s %-34s %9.3f %15s %8.1f %8s %9s\n' "$link" "$data" "${WHAT[$key]}" "$m" "($lo-$hi)" \
        "$(awk -v b="$BYTES" -v m="$m" 'BEGIN { print b / 1e6 / m }')" "$zr" "$vs"
done
cat <<EOF

median s: wall time, median of $RUNS (ft: connect, handshake, transfer,
  verification, and on put the server's fsync; rsync: to its daemon, no fsync).
-z/no-z: median time with compression over the same tool's without (below
  1.00 = compression helps). vs rsync: ft put -z's time over rsync -z's (zstd).
ft runs with its defaults: encrypted ($(grep -m1 -o -E 'channel Noise_[A-Za-z0-9_]+' "$WORK/ft-server.log" | awk '{ print $2 }' || echo '?')) and verified.
EOF
if ((FAILED)); then
    say "FAILED: some copy differed from the source; these numbers are void"
    exit 1
fi
say "all copies matched the source (cmp)"
