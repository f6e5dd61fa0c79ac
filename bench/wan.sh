#!/usr/bin/env bash
# wan.sh - ft across an emulated long, fat link, beside nc, rsync, scp and
# sftp. Root only.
#
# Two network namespaces, 10.78.0.1 (server) and 10.78.0.2 (client), joined
# by bench/wanlink.c (compiled here with cc): a TUN device in each, every
# packet serialised at RATE Mbit/s, held RTT/2 each way, lost at random with
# probability LOSS, and dropped when the router queue (QUEUE bytes, default
# three bandwidth-delay products) is full. No packet leaves the two
# namespaces. The servers (ft serve --allow-plaintext, an rsync daemon, a
# private sshd on its own config and host key, key logins only) run in the
# server namespace, the clients in the client namespace.
#
# Rows: each RTT in RTTS without loss, and the largest RTT again with LOSS
# percent of the packets lost in each direction. In each row, put and get of
# one random SIZE file by:
#   nc        one TCP stream (netcat-openbsd), the plain copy
#   nc x4     the file cut in 4 parts sent at once on 4 streams: the
#             practical ceiling of the link
#   rsync     to and from the rsync daemon
#   scp, sftp OpenSSH (sftp in batch mode)
#   ft -P 1   ft --streams 1 (n/a while ft has no --streams)
#   ft        ft's defaults: encrypted, verified, its own choice of streams
#   ft plain  ft --plaintext
# then FILES (default 1000) files of FILE_SIZE (16 KiB) in one folder, put
# and get, by ft -r, rsync -r (daemon), scp -r and sftp put -r / get -r.
# TOOLS picks the columns (default "nc nc4 rsync scp sftp ft1 ft ftplain";
# ft, rsync, scp and sftp also pick the small-file rows).
#
# It prints, per row, MB/s (files/s for the small files), the share of the
# link's capacity and the ratio to nc in the same direction (to rsync, for
# the small files), writes that table to TABLE_OUT (default docs/wan.txt)
# and draws MB/s against RTT, one line per tool, the capacity drawn in, into
# CHART_OUT (default docs/wan.png; gnuplot, installed when missing). Each
# transfer is bounded by XFER_TIMEOUT seconds (default 900): one that takes
# longer is ended, and its row shows "<" the rate it would have had at the
# limit. Every copy is compared with its source (cmp, diff -r); a
# difference fails the run (exit 1). The namespaces, the link and every
# daemon are removed or ended on exit, failure or interrupt (Ctrl-C: at
# once; a TERM sent to the script alone: once the running transfer ends,
# as bash runs traps between commands).
#
# Environment: RATE (400, Mbit/s), RTTS ("20 100", ms), LOSS (0.5, percent;
# 0: no lossy row), QUEUE (bytes), SIZE (1G), RUNS (3), FILES (1000),
# FILE_SIZE (16384), TOOLS, XFER_TIMEOUT, TABLE_OUT, CHART_OUT (empty: not
# written), BUILD_DIR, TMPDIR. This measures; it asserts nothing about speed.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"

RATE=${RATE:-400}
read -r -a RTT_LIST <<<"${RTTS:-20 100}"
LOSS=${LOSS:-0.5}
QUEUE=${QUEUE:-}
SIZE=${SIZE:-1G}
RUNS=${RUNS:-3}
FILES=${FILES:-1000}
FILE_SIZE=${FILE_SIZE:-16384}
read -r -a TOOLS <<<"${TOOLS:-nc nc4 rsync scp sftp ft1 ft ftplain}"
CMD_TIMEOUT_S=${XFER_TIMEOUT:-900}
TABLE_OUT=${TABLE_OUT-$REPO/docs/wan.txt}
CHART_OUT=${CHART_OUT-$REPO/docs/wan.png}
no_args_or_help "$@"
positive_ints RATE RUNS FILES FILE_SIZE CMD_TIMEOUT_S
for rtt in "${RTT_LIST[@]}"; do positive_ints rtt; done
((${#RTT_LIST[@]} > 0)) || die "RTTS names no round-trip time"
[[ $LOSS =~ ^[0-9]+(\.[0-9]+)?$ ]] || die "LOSS must be a percentage such as 0.5, not '$LOSS'"
[[ -z $QUEUE ]] || positive_ints QUEUE
BYTES=$(size_bytes "$SIZE") || die "SIZE must look like 1G, not '$SIZE'"
PREFAULT_BYTES=$BYTES
uses() { [[ " ${TOOLS[*]} " == *" $1 "* ]]; }

if ! is_root; then
    say "skipped: needs root to make network namespaces and TUN devices"
    exit 0
fi
[[ -c /dev/net/tun ]] || { say "skipped: no /dev/net/tun"; exit 0; }
have "command -v ip && command -v ss" iproute2 || { say "skipped: no ip/ss (apt-get install iproute2)"; exit 0; }
have "command -v cc" gcc || die "needs a C compiler (cc) for bench/wanlink.c"
have nc_is_openbsd netcat-openbsd || die "needs OpenBSD's nc (apt-get install netcat-openbsd)"
need_basics
make_work wan
setup_ft
avail_mib=$(($(free_kib "$WORK") / 1024))
((avail_mib > 4 * BYTES / 1048576 + 512)) || die "$WORK has $avail_mib MiB free; needs about 4 x $SIZE (set TMPDIR)"
WANLINK=$WORK/bin/ft-wanlink
cc -O2 -std=c11 -Wall -Wextra -Wshadow -Wstrict-prototypes -Wformat=2 -Werror -pthread \
    -o "$WANLINK" "$REPO/bench/wanlink.c"
FT_STREAMS=0
if "$FT" put --help 2>&1 | grep -q -- '--streams'; then FT_STREAMS=1; fi

# ---- data --------------------------------------------------------------------

SRC=$WORK/src.bin     # the file
SMALL=$WORK/small     # the small files
STORE=$WORK/store     # ft's root
PEER=$WORK/peer       # the rsync module; scp and sftp write here too
DL=$WORK/dl           # gets land here
mkdir -p "$STORE" "$PEER" "$DL" "$SMALL"
say "making $SIZE of random bytes and $FILES files of $FILE_SIZE bytes"
head -c "$BYTES" /dev/urandom >"$SRC"
# nc x4's parts; what the servers send on get are hard links of the source.
split -n 4 -d -a 1 "$SRC" "$WORK/part."
ln "$SRC" "$STORE/pull.bin"
ln "$SRC" "$PEER/pull.bin"
head -c $((FILES * FILE_SIZE)) /dev/urandom | (cd "$SMALL" && split -b "$FILE_SIZE" -a 5 -d - f)
cp -al "$SMALL" "$STORE/pullt"
cp -al "$SMALL" "$PEER/pullt"

# ---- namespaces, link, servers -----------------------------------------------

NS_S=ftw$$s
NS_C=ftw$$c
DEV=ftw$$
S_ADDR=10.78.0.1
C_ADDR=10.78.0.2
make_netns "$NS_S" "$NS_C"
IN_S=(ip netns exec "$NS_S")
IN_C=(ip netns exec "$NS_C")
CC_ALGO=$("${IN_C[@]}" sysctl -n net.ipv4.tcp_congestion_control 2>/dev/null || echo '?')

# The servers listen on every address of the server namespace, so they
# outlive the TUN device, which goes with each row's link.
FT_NS_PREFIX=("${IN_S[@]}")
start_ft_server "$STORE" "$WORK/ft-server.log" -H 0.0.0.0 --allow-plaintext
HAVE_RSYNC=0 HAVE_SSH=0
if uses rsync; then start_rsyncd "$PEER" 0.0.0.0 "${IN_S[@]}" && HAVE_RSYNC=1; fi
if uses scp || uses sftp; then start_sshd 0.0.0.0 "${IN_S[@]}" && HAVE_SSH=1; fi

# start_link RTT_MS LOSS: a fresh link (the previous one ended), addressed
# and reachable. LINK_PID, LINK_LOG.
LINK_PID=
LINK_LOG=
CLK_TCK=$(getconf CLK_TCK)
start_link() {
    local rtt=$1 loss=$2 queue=()
    [[ -z $QUEUE ]] || queue=(-q "$QUEUE")
    LINK_LOG=$WORK/link-$rtt-$loss.log
    bg_start "$WANLINK" -r "$RATE" -d "$rtt" -l "$loss" "${queue[@]}" "$NS_S" "$NS_C" "$DEV" \
        >"$WORK/link.out" 2>"$LINK_LOG"
    LINK_PID=$BG_PID
    await_line "$WORK/link.out" '^ready$' "$LINK_PID" >/dev/null ||
        { cat "$LINK_LOG" >&2; die "ft-wanlink did not start"; }
    ip -n "$NS_S" addr add "$S_ADDR/24" dev "$DEV"
    ip -n "$NS_C" addr add "$C_ADDR/24" dev "$DEV"
    ip -n "$NS_S" link set "$DEV" up
    ip -n "$NS_C" link set "$DEV" up
    "${IN_C[@]}" nc -n -z -w 5 "$S_ADDR" "$FT_PORT" || die "the client namespace cannot reach $S_ADDR over the link"
}
# stop_link ROW: ends the link; its CPU seconds (user + system) in LINK_CPU[ROW].
declare -A LINK_CPU
stop_link() {
    local ticks
    ticks=$(awk '{ print $14 + $15 }' "/proc/$LINK_PID/stat")
    stop_pid "$LINK_PID"
    sed "s/^/$SELF: /" "$LINK_LOG" >&2
    LINK_CPU[$1]=$(awk -v t="$ticks" -v hz="$CLK_TCK" 'BEGIN { printf "%.1f", t / hz }')
}

# ---- one transfer ------------------------------------------------------------

FAILED=0
declare -A TIMED_OUT
# finish KEY OUT STATUS: records the time; compares OUT (a file or a folder)
# with its source, then removes it.
finish() {
    local key=$1 out=$2 status=$3
    if ((status == 124)); then
        say "$key: ended after the ${CMD_TIMEOUT_S}s limit"
        TIMED_OUT[$key]=1
    elif ((status != 0)); then
        die "$key failed (status $status)"
    elif [[ $key == *"|small|"* ]]; then
        diff -r -q -- "$SMALL" "$out" >"$WORK/diff.out" 2>&1 ||
            { say "WRONG COPY: $key: $out differs from $SMALL"; head -n 5 "$WORK/diff.out" >&2; FAILED=1; }
    else
        cmp -s -- "$SRC" "$out" || { say "WRONG BYTES: $key: $out differs from the source"; FAILED=1; }
    fi
    record "$key" "$ELAPSED"
    if [[ -n ${TIMED_OUT[$key]-} ]]; then
        # The server's side of a copy cut short (sshd's sftp child, say) may
        # still be writing into it: out of the way, for the cleanup to remove.
        mv -- "$out" "$WORK/late.${#TIMED_OUT[@]}" 2>/dev/null || true
    else
        rm -rf -- "$out"
    fi
}
# xfer KEY OUT CMD...: times CMD in the client namespace, then finish.
xfer() {
    local key=$1 out=$2 status=0
    shift 2
    rm -rf -- "$out"
    timed "${IN_C[@]}" "$@" || status=$?
    finish "$key" "$out" "$status"
}
# run_nc KEY STREAMS put|get: the file (or its STREAMS parts) over as many
# nc connections at once; listeners on the receiving side. The clock runs
# until the last listener has written its last byte and exited.
run_nc() {
    local key=$1 n=$2 op=$3 rx=("${IN_S[@]}") tx=("${IN_C[@]}") to=$S_ADDR i t0 status=0 part port
    local pids=() ports=()
    [[ $op == put ]] || { rx=("${IN_C[@]}") tx=("${IN_S[@]}") to=$C_ADDR; }
    for ((i = 0; i < n; i++)); do
        bg_start "${rx[@]}" timeout "$CMD_TIMEOUT_S" nc -n -d -v -l "$to" 0 >"$DL/nc.$i" 2>"$WORK/nc.log.$i"
        pids+=("$BG_PID")
        port=$(await_line "$WORK/nc.log.$i" '^Listening on ' "$BG_PID") ||
            { cat "$WORK/nc.log.$i" >&2; die "nc -l did not report listening"; }
        ports+=("$port")
    done
    sync -f "$WORK"
    prefault
    t0=$EPOCHREALTIME
    for ((i = 0; i < n; i++)); do
        part=$SRC
        ((n == 1)) || part=$WORK/part.$i
        # Not through bg_start: a command sent to the background gets
        # /dev/null for its input unless its own line says otherwise.
        "${tx[@]}" timeout "$CMD_TIMEOUT_S" nc -n -N "$to" "${ports[i]}" <"$part" &
        BG_PIDS+=("$!")
        pids+=("$!")
    done
    for i in "${pids[@]}"; do
        wait "$i" || status=$?
        forget_pid "$i"
    done
    set_elapsed "$t0"
    ((status != 0)) || for ((i = 0; i < n; i++)); do cat "$DL/nc.$i"; done >"$DL/nc.bin"
    rm -f -- "$DL"/nc.[0-9]*
    finish "$key" "$DL/nc.bin" "$status"
}
# run_big ROW TOOL put|get
run_big() {
    local tool=$2 op=$3 key="$1|big|$2|$3" flags=() remote out batch=$WORK/sftp.batch
    remote=$SSH_USER@$S_ADDR
    case $tool in
    nc) run_nc "$key" 1 "$op" ;;
    nc4) run_nc "$key" 4 "$op" ;;
    rsync)
        if [[ $op == put ]]; then xfer "$key" "$PEER/up.bin" rsync "$SRC" "rsync://$S_ADDR:$RSYNC_PORT/mod/up.bin"
        else xfer "$key" "$DL/rsync.bin" rsync "rsync://$S_ADDR:$RSYNC_PORT/mod/pull.bin" "$DL/rsync.bin"; fi ;;
    scp)
        if [[ $op == put ]]; then xfer "$key" "$PEER/up.bin" scp -q "${SSH_OPTS[@]}" -P "$SSH_PORT" "$SRC" "$remote:$PEER/up.bin"
        else xfer "$key" "$DL/scp.bin" scp -q "${SSH_OPTS[@]}" -P "$SSH_PORT" "$remote:$PEER/pull.bin" "$DL/scp.bin"; fi ;;
    sftp)
        if [[ $op == put ]]; then printf 'put %s %s\n' "$SRC" "$PEER/up.bin" >"$batch"; out=$PEER/up.bin
        else printf 'get %s %s\n' "$PEER/pull.bin" "$DL/sftp.bin" >"$batch"; out=$DL/sftp.bin; fi
        xfer "$key" "$out" sftp -q "${SSH_OPTS[@]}" -P "$SSH_PORT" -b "$batch" "$remote" >/dev/null ;;
    ft*)
        case $tool in
        ft1) flags=(--streams 1) ;;
        ftplain) flags=(--plaintext) ;;
        esac
        ft_server_alive
        if [[ $op == put ]]; then xfer "$key" "$STORE/up.bin" "$FT" put -q -H "$S_ADDR" -p "$FT_PORT" "${flags[@]}" "$SRC" up.bin
        else xfer "$key" "$DL/ft.bin" "$FT" get -q -H "$S_ADDR" -p "$FT_PORT" "${flags[@]}" pull.bin "$DL/ft.bin"; fi ;;
    esac
}
# run_small ROW TOOL put|get
run_small() {
    local tool=$2 op=$3 key="$1|small|$2|$3" remote out status=0
    remote=$SSH_USER@$S_ADDR
    # Sources read into page cache, earlier writes flushed: each copy starts alike.
    cat "$SMALL"/* >/dev/null
    case $tool in
    ft)
        if [[ $op == put ]]; then xfer "$key" "$STORE/tp" "$FT" put -r -q -H "$S_ADDR" -p "$FT_PORT" "$SMALL" tp
        else
            rm -rf -- "$DL/ftt"
            mkdir "$DL/ftt"
            timed "${IN_C[@]}" "$FT" get -r -q -H "$S_ADDR" -p "$FT_PORT" pullt "$DL/ftt" || status=$?
            finish "$key" "$DL/ftt/pullt" "$status"
            rm -rf -- "$DL/ftt"
        fi ;;
    rsync)
        if [[ $op == put ]]; then xfer "$key" "$PEER/rt" rsync -r "$SMALL/" "rsync://$S_ADDR:$RSYNC_PORT/mod/rt/"
        else xfer "$key" "$DL/rt" rsync -r "rsync://$S_ADDR:$RSYNC_PORT/mod/pullt/" "$DL/rt/"; fi ;;
    scp)
        if [[ $op == put ]]; then xfer "$key" "$PEER/st" scp -q -r "${SSH_OPTS[@]}" -P "$SSH_PORT" "$SMALL" "$remote:$PEER/st"
        else xfer "$key" "$DL/st" scp -q -r "${SSH_OPTS[@]}" -P "$SSH_PORT" "$remote:$PEER/pullt" "$DL/st"; fi ;;
    sftp)
        if [[ $op == put ]]; then printf 'put -r %s %s\n' "$SMALL" "$PEER/sft" >"$WORK/sftp.batch"; out=$PEER/sft
        else printf 'get -r %s %s\n' "$PEER/pullt" "$DL/sft" >"$WORK/sftp.batch"; out=$DL/sft; fi
        xfer "$key" "$out" sftp -q "${SSH_OPTS[@]}" -P "$SSH_PORT" -b "$WORK/sftp.batch" "$remote" >/dev/null ;;
    esac
}
# can TOOL: whether its peer is up (and, for ft1, whether ft has --streams).
can() {
    case $1 in
    rsync) ((HAVE_RSYNC)) ;;
    scp | sftp) ((HAVE_SSH)) ;;
    ft1) ((FT_STREAMS)) ;;
    *) return 0 ;;
    esac
}

# ---- the rows ----------------------------------------------------------------

ROWS=()
for rtt in "${RTT_LIST[@]}"; do ROWS+=("$rtt 0"); done
if [[ $LOSS != 0 && $LOSS != 0.0 ]]; then
    ROWS+=("$(printf '%s\n' "${RTT_LIST[@]}" | sort -n | tail -n 1) $LOSS")
fi
declare -A ROW_SECONDS
START=$SECONDS
for row in "${ROWS[@]}"; do
    read -r rtt loss <<<"$row"
    start_link "$rtt" "$loss"
    t_row=$SECONDS
    say "link: $RATE Mbit/s, RTT $rtt ms, loss $loss% (load average $(cut -d ' ' -f 1-3 /proc/loadavg))"
    for ((round = 1; round <= RUNS; round++)); do
        for op in put get; do
            for tool in "${TOOLS[@]}"; do
                if can "$tool"; then run_big "$row" "$tool" "$op"; fi
            done
            for tool in ft rsync scp sftp; do
                if uses "$tool" && can "$tool"; then run_small "$row" "$tool" "$op"; fi
            done
        done
        say "RTT $rtt ms, loss $loss%: round $round/$RUNS done ($((SECONDS - START)) s)"
    done
    ROW_SECONDS[$row]=$((SECONDS - t_row))
    stop_link "$row"
done
ft_server_alive

# ---- the table ---------------------------------------------------------------

CAP=$(awk -v r="$RATE" 'BEGIN { print r / 8 }') # MB/s
declare -A NAME=([nc]="nc" [nc4]="nc x4" [rsync]="rsync (daemon)" [scp]="scp" [sftp]="sftp"
    [ft1]="ft --streams 1" [ft]="ft (default)" [ftplain]="ft --plaintext")
# rate KEY UNITS: UNITS / median seconds, "<" before it when a run hit the limit, "n/a" if never run.
MB=$(awk -v b="$BYTES" 'BEGIN { print b / 1e6 }')
rate() {
    local m
    [[ -n ${TIMES[$1]+set} ]] || { echo n/a; return; }
    m=$(key_median "$1")
    awk -v u="$2" -v m="$m" -v lt="${TIMED_OUT[$1]:+<}" 'BEGIN { printf "%s%.1f\n", lt, u / m }'
}
# share RATE CAPACITY, vs RATE REF_RATE: ratios that keep RATE's "<" (a bound).
share() {
    if [[ $1 == n/a ]]; then echo -; else echo "${1%%[0-9]*}$(ratio "${1#<}" "$2")"; fi
}
vs() {
    if [[ $1 == n/a || $2 == n/a || $2 == "<"* ]]; then echo -; else echo "${1%%[0-9]*}$(ratio "${1#<}" "$2")"; fi
}
# Chart data: one block per tool, "RTT put get" (MB/s) for the rows without loss.
CHART_DAT=$WORK/chart.dat
: >"$CHART_DAT"
table() {
    local row tool op rtt loss v ref line
    printf 'ft wan: %s (%d bytes) random, and %d files of %d bytes; %d run(s) each, median\n' \
        "$SIZE" "$BYTES" "$FILES" "$FILE_SIZE" "$RUNS"
    printf 'link: bench/wanlink.c between two namespaces, %s Mbit/s (%s MB/s) each way, queue %s;\n' \
        "$RATE" "$CAP" "${QUEUE:-3 x bandwidth-delay} bytes"
    printf '  TCP congestion control %s, MTU 1500\n' "$CC_ALGO"
    printf 'ft %s%s; %s\n' "$TREE" "$( ((FT_STREAMS)) || echo ', no --streams yet')" "$(machine_line)"
    printf '\n%-4s %-5s %-15s %9s %5s %5s %9s %5s %5s\n' RTT loss 'one file' 'put MB/s' link /nc 'get MB/s' link /nc
    for row in "${ROWS[@]}"; do
        read -r rtt loss <<<"$row"
        for tool in "${TOOLS[@]}"; do
            line=$(printf '%-4s %-5s %-15s' "$rtt" "$loss%" "${NAME[$tool]:-$tool}")
            for op in put get; do
                v=$(rate "$row|big|$tool|$op" "$MB")
                ref=$(rate "$row|big|nc|$op" "$MB")
                line+=$(printf ' %9s %5s %5s' "$v" "$(share "$v" "$CAP")" "$(vs "$v" "$ref")")
            done
            echo "$line"
        done
    done
    printf '\n%-4s %-5s %-15s %9s %5s %5s %9s %5s %5s\n' RTT loss 'small files' 'put f/s' link /rsync 'get f/s' link /rsync
    for row in "${ROWS[@]}"; do
        read -r rtt loss <<<"$row"
        for tool in ft rsync scp sftp; do
            uses "$tool" || continue
            line=$(printf '%-4s %-5s %-15s' "$rtt" "$loss%" "$tool -r")
            for op in put get; do
                v=$(rate "$row|small|$tool|$op" "$FILES")
                ref=$(rate "$row|small|rsync|$op" "$FILES")
                line+=$(printf ' %9s %5s %5s' "$v" \
                    "$(share "$v" "$(awk -v c="$CAP" -v s="$FILE_SIZE" 'BEGIN { print c * 1e6 / s }')")" \
                    "$(vs "$v" "$ref")")
            done
            echo "$line"
        done
    done
    cat <<EOF

MB/s: SIZE / median wall time (10^6 bytes a second); f/s: files a second.
link: the share of the link's capacity ($CAP MB/s); /nc, /rsync: the ratio to
  one nc stream's (to the rsync daemon's) rate in the same row and direction.
<: a run hit the ${CMD_TIMEOUT_S}s limit; the rate is at most that.  n/a: not run.
ft: encrypted and verified unless --plaintext; put includes the server's
  fsync. rsync, scp and sftp flush nothing. scp/sftp: OpenSSH, cipher
  ${SSH_CIPHER:-?}. nc x4: the file in 4 parts over 4 connections at once.
EOF
    for row in "${ROWS[@]}"; do
        read -r rtt loss <<<"$row"
        printf 'link CPU at RTT %s ms, loss %s%%: %s s in %s s of transfers (ft-wanlink, most of it the\n  kernel receive path its writes run)\n' \
            "$rtt" "$loss" "${LINK_CPU[$row]}" "${ROW_SECONDS[$row]}"
    done
}
table | tee "$WORK/table.txt"
if [[ -n $TABLE_OUT ]]; then cp "$WORK/table.txt" "$TABLE_OUT"; say "table written to $TABLE_OUT"; fi

# ---- the chart ---------------------------------------------------------------

chart() {
    local tool rtt loss row i=0 titles=() joined
    for tool in "${TOOLS[@]}"; do
        [[ -n ${TIMES["${ROWS[0]}|big|$tool|put"]+set} ]] || continue
        for row in "${ROWS[@]}"; do
            read -r rtt loss <<<"$row"
            [[ $loss == 0 ]] || continue
            printf '%s %s %s\n' "$rtt" "$(rate "$row|big|$tool|put" "$MB")" \
                "$(rate "$row|big|$tool|get" "$MB")" | tr -d '<'
        done >>"$CHART_DAT"
        printf '\n\n' >>"$CHART_DAT"
        titles+=("\"${NAME[$tool]}\"")
        i=$((i + 1))
    done
    ((i > 0)) || return 0
    joined=$(IFS=,; echo "${titles[*]}")
    gnuplot <<EOF
set terminal pngcairo size 1200,520 font ",11"
set output "$CHART_OUT"
set multiplot layout 1,2 title "$SIZE random over $RATE Mbit/s, no loss (bench/wan.sh; ft ${TREE%%,*})"
set xlabel "round-trip time (ms)"
set ylabel "MB/s"
set yrange [0:$CAP * 1.1]
set key bottom left
set grid
array titles[$i] = [$joined]
do for [col=2:3] {
    set title (col == 2 ? "put (client to server)" : "get (server to client)")
    plot for [i=0:$((i - 1))] "$CHART_DAT" index i using 1:col with linespoints lw 2 \\
             title titles[i + 1], \\
         $CAP with lines dt 2 lc rgb "black" title "link capacity"
}
unset multiplot
EOF
}
if [[ -n $CHART_OUT ]]; then
    if have "command -v gnuplot" gnuplot-nox; then
        chart && say "chart drawn into $CHART_OUT"
    else
        say "no gnuplot (apt-get install gnuplot-nox): no chart"
    fi
fi
if ((FAILED)); then
    say "FAILED: some copy differed from its source; these numbers are void"
    exit 1
fi
say "all copies matched their sources (cmp, diff -r)"
