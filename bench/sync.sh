#!/usr/bin/env bash
# sync.sh - ft sync beside rsync (to its daemon and over ssh) on data nobody
# here wrote: two point releases of Debian's kernel source. Root only.
#
# Two network namespaces joined by a veth pair, 10.79.0.1 (server) and
# 10.79.0.2 (client); no packet leaves them. RATE (Mbit/s, default none)
# puts a tbf qdisc on both veth ends. Servers in the server namespace, each
# started afresh for every timed step under /usr/bin/time and stopped after
# it: ft serve (store root per tool), an rsync daemon (one module, no
# chroot) and a private sshd (its own config, host key, client key and
# port, key logins only). Clients in the client namespace. Tools (TOOLS):
#   ft          ft sync --delete SRC 10.79.0.1:DIR (encrypted, the default)
#   ftplain     the same with --plaintext (server: --allow-plaintext)
#   ftz         the same with -z
#   put         ft put -r SRC 10.79.0.1:DIR/ (the tree's first step only)
#   rsyncd      rsync -a --delete SRC/ rsync://10.79.0.1:PORT/mod/DIR/
#   rsyncdz     the same with -z
#   ssh         rsync -a --delete -e 'ssh ...' SRC/ root@10.79.0.1:DIR/
#   sshz        the same with -z
# (default "ft ftplain put rsyncd ssh"). Until ft has a sync command,
# 'ft put -r' stands in for it, and the tables say so.
#
# Data: linux-source-6.1 at OLD_VERSION and NEW_VERSION (default: the two
# newest point releases 'apt-cache madison linux-source-6.1' lists, the
# first Debian revision of each), fetched with 'apt-get download' into
# FT_BENCH_DATA (default /var/tmp/ft-bench-sync) only when missing there,
# with the tarball inside each package uncompressed and unpacked beside
# it, and an SQLite database (bench/sqlite_churn.py: DB_ROWS rows, default
# 1,250,000, about 300 MB) and its copy after CHURN percent (default 1) of
# the rows were updated; the same seed makes the same bytes. Workloads
# (WORKLOADS, default "tree tar db"):
#   tree  the older unpacked tree to an empty target (first), again with
#         nothing changed (same), then the newer tree onto it (update):
#         every file's mtime differs between releases, so every file is
#         looked at again
#   tar   the older uncompressed tarball (one file of ~1.3 GB) to an empty
#         target (first), then the newer one onto it under the same name
#         (update): real changes at shifting offsets in one large file
#   db    the database (first), then its churned copy (update)
# Each tool syncs into a target of its own, emptied before each run; the
# steps of a run go in order, each tool in turn (step by step, so a noisy
# spell hits every tool; each run starts with the next tool). Every copy
# is compared with its source by a local 'rsync -n -c' (content, missing,
# extra; a difference fails the run, exit 1); mtimes and modes that differ
# are counted and reported.
#
# Measured outside the tools, per step: wall time of the client; bytes on
# the wire (rx + tx of the client's veth end, from /sys/class/net); peak
# RSS of the client (GNU time %M: the largest of its processes, ssh
# included) and of the server side (GNU time %M of the server started for
# the step: the largest of the server and every process it waited for,
# i.e. rsync's per-connection children, sshd's session and the
# 'rsync --server' it runs). It prints one table a workload (medians over
# the runs), the ratios of ft to each rsync, and a line per issue-16
# target saying met or not met.
#
# QUICK=1: a generated tree of 2,000 files (~50 MB, bench/sync_tree.py), its
# tarball, and a 200,000-row database (~50 MB), made in the workspace: no
# download, a minute or two. For development and smoke runs.
#
# PREPARE_ONLY=1 fetches and makes the data (into FT_BENCH_DATA) and stops.
#
# Environment: QUICK (0), PREPARE_ONLY (0), TREE_RUNS (1), TAR_RUNS (1),
# DB_RUNS (default RUNS: 3; QUICK: 1) runs of each workload, TOOLS,
# WORKLOADS, RATE, OLD_VERSION, NEW_VERSION, FT_BENCH_DATA, DB_ROWS, CHURN
# (percent), SEED (16), XFER_TIMEOUT (seconds a step may take, 1800),
# TABLE_OUT (a file for the tables; default none), BUILD_DIR (a Release
# build is what the tables should quote), TMPDIR (about 6 x the tree
# free). This measures; it asserts nothing about speed.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"

QUICK=${QUICK:-0}
if ((QUICK)); then RUNS=${RUNS:-1}; else RUNS=${RUNS:-3}; fi
TREE_RUNS=${TREE_RUNS:-1}
TAR_RUNS=${TAR_RUNS:-1} # one run of tar is ~5 min here (rsync's delta of 1.36 GB: 20-40 s a tool)
DB_RUNS=${DB_RUNS:-$RUNS}
PREPARE_ONLY=${PREPARE_ONLY:-0}
read -r -a TOOLS <<<"${TOOLS:-ft ftplain put rsyncd ssh}"
read -r -a WORKLOADS <<<"${WORKLOADS:-tree tar db}"
RATE=${RATE:-}
PKG=linux-source-6.1
FT_BENCH_DATA=${FT_BENCH_DATA:-/var/tmp/ft-bench-sync}
if ((QUICK)); then DB_ROWS=${DB_ROWS:-200000}; else DB_ROWS=${DB_ROWS:-1250000}; fi
CHURN=${CHURN:-1}
SEED=${SEED:-16}
QUICK_FILES=2000
CMD_TIMEOUT_S=${XFER_TIMEOUT:-1800}
TABLE_OUT=${TABLE_OUT:-}
no_args_or_help "$@"
positive_ints RUNS TREE_RUNS TAR_RUNS DB_RUNS DB_ROWS CHURN SEED CMD_TIMEOUT_S
[[ -z $RATE ]] || positive_ints RATE
for t in "${TOOLS[@]}"; do
    [[ " ft ftplain ftz put rsyncd rsyncdz ssh sshz " == *" $t "* ]] || die "unknown tool '$t' in TOOLS"
done
for w in "${WORKLOADS[@]}"; do
    [[ " tree tar db " == *" $w "* ]] || die "unknown workload '$w' in WORKLOADS"
done
uses() { [[ " ${TOOLS[*]} " == *" $1 "* ]]; }

if ! is_root; then
    say "skipped: needs root for network namespaces and a veth pair"
    exit 0
fi
have "command -v ip && command -v ss && command -v tc" iproute2 || die "needs ip, ss and tc (apt-get install iproute2)"
need_basics
((HAVE_TIME)) || die "needs GNU time for the peak RSS (apt-get install time)"
have "command -v python3 && python3 -c 'import sqlite3'" python3 || die "needs python3 with sqlite3 (apt-get install python3)"
have "command -v rsync" rsync || die "needs rsync (apt-get install rsync)"
if uses ssh || uses sshz; then
    have "test -x /usr/sbin/sshd" openssh-server || die "needs /usr/sbin/sshd (apt-get install openssh-server)"
    have "command -v ssh && command -v ssh-keygen" openssh-client || die "needs ssh (apt-get install openssh-client)"
fi
((QUICK)) || have "command -v xz && command -v dpkg-deb" xz-utils || die "needs xz and dpkg-deb (apt-get install xz-utils)"

make_work sync
setup_ft
export FT_IDENTITY=$WORK/config/id
BUILD_TYPE=$(sed -n 's/^CMAKE_BUILD_TYPE:[A-Z]*=//p' "$BUILD_DIR/CMakeCache.txt" 2>/dev/null || true)
BUILD_TYPE=${BUILD_TYPE:-unknown}
[[ $BUILD_TYPE == Release ]] || say "note: $BUILD_DIR is a $BUILD_TYPE build; the tables should quote a Release one"
HAVE_SYNC=0
if "$FT" sync --help >/dev/null 2>&1; then HAVE_SYNC=1; else
    say "note: this ft has no 'ft sync': 'ft put -r' stands in for it (no delta, no --delete)"
fi

# ---- data --------------------------------------------------------------------

# newest_two: "OLD NEW", the first Debian revision of each of the two newest
# upstream versions of $PKG that apt knows.
newest_two() {
    apt-cache madison "$PKG" | awk -F'|' '{ gsub(/ /, "", $2); print $2 }' | sort -V -u |
        awk '{ up = $0; sub(/-[^-]*$/, "", up); if (!(up in first)) { first[up] = $0; order[n++] = up } }
             END { if (n >= 2) print first[order[n - 2]], first[order[n - 1]] }'
}
# fetch_version V: $DATA/$PKG_V.tar (the package's tarball, uncompressed)
# and $DATA/tree-V/$PKG (unpacked), each made only when missing.
fetch_version() {
    local v=$1 deb tar=$DATA/${PKG}_$1.tar tree=$DATA/tree-$1
    if [[ ! -s $tar ]]; then
        deb=$(compgen -G "$DATA/${PKG}_${v}_*.deb" | head -n 1 || true)
        if [[ -z $deb ]]; then
            say "downloading $PKG=$v into $DATA"
            (cd "$DATA" && apt-get download -q "$PKG=$v" >&2) || die "apt-get download $PKG=$v failed"
            deb=$(compgen -G "$DATA/${PKG}_${v}_*.deb" | head -n 1 || true)
            [[ -n $deb ]] || die "apt-get download left no ${PKG}_${v}_*.deb in $DATA"
        fi
        say "uncompressing the tarball of $deb"
        dpkg-deb --fsys-tarfile "$deb" | tar -x -O --wildcards "*/$PKG.tar.xz" | xz -d -c >"$tar.part"
        mv -- "$tar.part" "$tar"
    fi
    if [[ ! -d $tree/$PKG ]]; then
        say "unpacking $tar into $tree"
        rm -rf -- "$tree.part"
        mkdir -p "$tree.part"
        tar -x -f "$tar" -C "$tree.part"
        [[ -d $tree.part/$PKG ]] || die "$tar holds no folder $PKG"
        mv -- "$tree.part" "$tree"
    fi
}
# make_db DIR: DB_OLD and DB_NEW in DIR, made only when missing.
make_db() {
    DB_OLD=$1/orders-$DB_ROWS-$SEED.db
    DB_NEW=$1/orders-$DB_ROWS-$SEED-churn$CHURN.db
    if [[ ! -s $DB_OLD ]]; then
        say "making $DB_OLD ($DB_ROWS rows)"
        rm -f -- "$DB_OLD.part"
        python3 "$REPO/bench/sqlite_churn.py" make "$DB_OLD.part" "$DB_ROWS" "$SEED"
        mv -- "$DB_OLD.part" "$DB_OLD"
        rm -f -- "$DB_NEW"
    fi
    if [[ ! -s $DB_NEW ]]; then
        say "making $DB_NEW: $(python3 "$REPO/bench/sqlite_churn.py" churn "$DB_OLD" "$DB_NEW.part" "$CHURN" "$SEED")"
        mv -- "$DB_NEW.part" "$DB_NEW"
    fi
}

# later_mtime OLD NEW: NEW's mtime at least a day after OLD's, so that no
# tool could take the two versions for one by size and time to the second.
later_mtime() {
    local a b
    a=$(stat -c %Y -- "$1") b=$(stat -c %Y -- "$2")
    ((b > a + 1)) || touch -m -d "@$((a + 86400))" -- "$2"
}
if ((QUICK)); then
    DATA=$WORK/data
    mkdir -p "$DATA"
    say "QUICK: a generated tree of $QUICK_FILES files, its tarball, a $DB_ROWS-row database"
    python3 "$REPO/bench/sync_tree.py" "$DATA/tree-old/src" "$DATA/tree-new/src" "$QUICK_FILES" "$SEED"
    TREE_OLD=$DATA/tree-old/src TREE_NEW=$DATA/tree-new/src
    TAR_OLD=$DATA/old.tar TAR_NEW=$DATA/new.tar
    tar -c -f "$TAR_OLD" -C "$DATA/tree-old" src
    tar -c -f "$TAR_NEW" -C "$DATA/tree-new" src
    DATA_NAME="QUICK=1: bench/sync_tree.py $QUICK_FILES files, seed $SEED"
else
    DATA=$FT_BENCH_DATA
    mkdir -p "$DATA"
    if [[ -z ${OLD_VERSION:-} || -z ${NEW_VERSION:-} ]]; then
        read -r OLD_VERSION NEW_VERSION <<<"$(newest_two)"
        [[ -n $NEW_VERSION ]] ||
            die "apt-cache madison $PKG lists fewer than two versions (apt-get update? or set OLD_VERSION and NEW_VERSION)"
    fi
    fetch_version "$OLD_VERSION"
    fetch_version "$NEW_VERSION"
    TREE_OLD=$DATA/tree-$OLD_VERSION/$PKG TREE_NEW=$DATA/tree-$NEW_VERSION/$PKG
    TAR_OLD=$DATA/${PKG}_$OLD_VERSION.tar TAR_NEW=$DATA/${PKG}_$NEW_VERSION.tar
    DATA_NAME="$PKG $OLD_VERSION -> $NEW_VERSION"
fi
make_db "$DATA"
later_mtime "$TAR_OLD" "$TAR_NEW"
later_mtime "$DB_OLD" "$DB_NEW"
if ((PREPARE_ONLY)); then
    say "data ready in $DATA"
    exit 0
fi

# The tar and db workloads sync a folder holding one file, linked to the
# older or the newer version as the step needs (same name, own mtime).
IN=$WORK/in
mkdir -p "$IN/tar" "$IN/db"
# place NAME FILE: $IN/NAME/NAME.* becomes FILE (a hard link, else a copy).
place() {
    local dst=$IN/$1/$1.${2##*.}
    rm -f -- "$dst"
    ln -- "$2" "$dst" 2>/dev/null || cp -p -- "$2" "$dst"
}
# source_of WORKLOAD VERSION(old|new): the folder the step syncs.
source_of() {
    case $1:$2 in
    tree:old) echo "$TREE_OLD" ;;
    tree:new) echo "$TREE_NEW" ;;
    tar:old) place tar "$TAR_OLD" && echo "$IN/tar" ;;
    tar:new) place tar "$TAR_NEW" && echo "$IN/tar" ;;
    db:old) place db "$DB_OLD" && echo "$IN/db" ;;
    db:new) place db "$DB_NEW" && echo "$IN/db" ;;
    esac
}
# du_bytes DIR: the bytes of its files; files DIR: how many.
du_bytes() { du -s -b -- "$1" | awk '{ print $1 }'; }
nfiles() { find "$1" -type f | wc -l; }
TREE_BYTES=$(du_bytes "$TREE_NEW")
PREFAULT_BYTES=$((TREE_BYTES + 64 * 1048576))
avail_mib=$(($(free_kib "$WORK") / 1024))
need_mib=$((TREE_BYTES * 6 / 1048576 + 1024)) # five targets and the prefault
((avail_mib > need_mib)) || die "$WORK has $avail_mib MiB free; needs about $need_mib (set TMPDIR)"
# Sources read once into page cache: every tool then reads them from memory.
for f in "$TREE_OLD" "$TREE_NEW"; do tar -c -f - -C "$f" . | cat >/dev/null; done
cat "$TAR_OLD" "$TAR_NEW" "$DB_OLD" "$DB_NEW" >/dev/null

# ---- namespaces, veth, servers ------------------------------------------------

NS_S=fts$$s
NS_C=fts$$c
VETH_S=fts$$s0
VETH_C=fts$$c0
S_ADDR=10.79.0.1
C_ADDR=10.79.0.2
make_netns "$NS_S" "$NS_C"
# On exit, after every process started is sent TERM: a server's children
# (rsync's receiver, its log line) may still be writing into $WORK, so the
# namespaces must be empty before they and $WORK go (10 s at most, then KILL).
ns_quiet() {
    local n=0 pids
    while pids=$(ip netns pids "$NS_S" 2>/dev/null; ip netns pids "$NS_C" 2>/dev/null) &&
        [[ -n $pids ]] && ((n++ < 100)); do
        sleep 0.1
    done
    # shellcheck disable=SC2086 # one pid a word
    [[ -z $pids ]] || kill -KILL $pids 2>/dev/null || true
}
CLEANUP_CMDS+=("ip link del $VETH_S 2>/dev/null" ns_quiet)
ip link add "$VETH_S" type veth peer name "$VETH_C"
ip link set "$VETH_S" netns "$NS_S"
ip link set "$VETH_C" netns "$NS_C"
ip -n "$NS_S" addr add "$S_ADDR/24" dev "$VETH_S"
ip -n "$NS_C" addr add "$C_ADDR/24" dev "$VETH_C"
IN_S=(ip netns exec "$NS_S")
IN_C=(ip netns exec "$NS_C")
# No IPv6 on the link: its neighbour and router chatter would be counted.
for ns in "$NS_S" "$NS_C"; do
    ip netns exec "$ns" sysctl -q -w net.ipv6.conf.all.disable_ipv6=1 net.ipv6.conf.default.disable_ipv6=1 2>/dev/null || true
done
ip -n "$NS_S" link set "$VETH_S" up
ip -n "$NS_C" link set "$VETH_C" up
LINK_NAME="veth, no delay, no rate limit"
if [[ -n $RATE ]]; then
    for pair in "$NS_S $VETH_S" "$NS_C $VETH_C"; do
        read -r ns dev <<<"$pair"
        ip netns exec "$ns" tc qdisc add dev "$dev" root tbf rate "${RATE}mbit" burst 1mb latency 50ms
    done
    LINK_NAME="veth, tbf $RATE Mbit/s each way, no delay"
fi

SRV=$WORK/srv    # every tool's targets: ft stores, the rsync module, ssh's folder
mkdir -p "$SRV"
FT_KEY=$WORK/server.key # one server key for every ft serve: one pin
# sshd and the rsync daemon: configured and checked once by lib.sh (which
# starts each), then stopped; each step starts its own under /usr/bin/time.
RSYNCD_CONF=
if uses rsyncd || uses rsyncdz; then
    start_rsyncd "$SRV" "$S_ADDR" "${IN_S[@]}" || die "the rsync daemon would not serve"
    stop_pid "$RSYNCD_PID"
    RSYNCD_CONF=$WORK/rsyncd-step.conf
    # No pid file (each step's daemon would find the last one's), and links
    # kept as they are: without chroot the daemon would munge them.
    { grep -v '^pid file' "$WORK/rsyncd.conf"; echo '    munge symlinks = no'; } >"$RSYNCD_CONF"
fi
if uses ssh || uses sshz; then
    start_sshd "$S_ADDR" "${IN_S[@]}" || die "the private sshd would not let us in"
    stop_pid "$SSHD_PID"
    SSH_CMD="ssh ${SSH_OPTS[*]} -p $SSH_PORT"
fi

# srv_start TOOL: the server TOOL talks to, in the server namespace under
# /usr/bin/time; SRV_PID (time's), SRV_RSS (its output), FT_PORT for ft.
SRV_PID=
SRV_RSS=$WORK/server.rss
srv_start() {
    local tool=$1 log=$WORK/server.log extra=()
    : >"$log"
    rm -f -- "$SRV_RSS"
    case $tool in
    ft* | put)
        [[ $tool != ftplain ]] || extra=(--allow-plaintext)
        mkdir -p "$SRV/$tool"
        bg_start "${IN_S[@]}" /usr/bin/time -f %M -o "$SRV_RSS" "$FT" serve --root "$SRV/$tool" \
            --key-file "$FT_KEY" -H "$S_ADDR" -p 0 "${extra[@]}" 2>"$log"
        SRV_PID=$BG_PID
        FT_PORT=$(await_line "$log" 'serving .* port [0-9]+' "$SRV_PID") ||
            { cat "$log" >&2; die "ft serve did not say it listens"; }
        ;;
    rsyncd*)
        bg_start "${IN_S[@]}" /usr/bin/time -f %M -o "$SRV_RSS" rsync --daemon --no-detach \
            --config="$RSYNCD_CONF" --address="$S_ADDR" --port="$RSYNC_PORT" 2>"$log"
        SRV_PID=$BG_PID
        await_port "$S_ADDR" "$RSYNC_PORT" "$SRV_PID" "${IN_S[@]}" ||
            { cat "$log" >&2; die "the rsync daemon did not listen"; }
        ;;
    ssh*)
        bg_start "${IN_S[@]}" /usr/bin/time -f %M -o "$SRV_RSS" /usr/sbin/sshd -D -e \
            -f "$WORK/ssh/sshd_config" 2>"$log"
        SRV_PID=$BG_PID
        await_port "$S_ADDR" "$SSH_PORT" "$SRV_PID" "${IN_S[@]}" ||
            { cat "$log" >&2; die "sshd did not listen"; }
        ;;
    esac
}
# srv_stop: waits (up to 10 s) until the server has no child left (an rsync
# or sshd child may still be exiting when the client is done), ends it, and
# sets SRV_KIB to its peak RSS in KiB: time reports the largest of the
# process and of the children it waited for.
SRV_KIB=-
srv_stop() {
    local daemon n=0 v
    daemon=$(ps -o pid= --ppid "$SRV_PID" | tr -d ' ' | head -n 1)
    if [[ -n $daemon ]]; then
        while [[ -n $(ps -o pid= --ppid "$daemon") ]] && ((n++ < 200)); do sleep 0.05; done
        kill -TERM "$daemon" 2>/dev/null || true
    fi
    wait "$SRV_PID" 2>/dev/null || true
    forget_pid "$SRV_PID"
    v=$(grep -E '^[0-9]+$' "$SRV_RSS" 2>/dev/null | tail -n 1 || true)
    SRV_KIB=${v:--}
}

# ---- one step ----------------------------------------------------------------

wire_bytes() {
    "${IN_C[@]}" cat "/sys/class/net/$VETH_C/statistics/rx_bytes" \
        "/sys/class/net/$VETH_C/statistics/tx_bytes" | awk '{ s += $1 } END { printf "%.0f\n", s }'
}
# client_cmd TOOL WORKLOAD SRC: the command, in CMD.
CMD=()
client_cmd() {
    local tool=$1 w=$2 src=$3 name
    name=${src##*/}
    case $tool in
    ft | ftplain | ftz)
        local flags=()
        [[ $tool != ftplain ]] || flags=(--plaintext)
        [[ $tool != ftz ]] || flags=(-z)
        if ((HAVE_SYNC)); then
            CMD=("$FT" sync --delete -p "$FT_PORT" "${flags[@]}" "$src" "$S_ADDR:$w/$name")
        else
            CMD=("$FT" put -r -q -p "$FT_PORT" "${flags[@]}" "$src" "$S_ADDR:$w/")
        fi ;;
    put) CMD=("$FT" put -r -q -p "$FT_PORT" "$src" "$S_ADDR:$w/") ;;
    rsyncd | rsyncdz)
        CMD=(rsync -a --delete)
        [[ $tool != rsyncdz ]] || CMD+=(-z)
        CMD+=("$src/" "rsync://$S_ADDR:$RSYNC_PORT/mod/$tool/$w/$name/") ;;
    ssh | sshz)
        # The server's rsync under GNU time of its own: its peak apart from sshd's.
        CMD=(rsync -a --delete -e "$SSH_CMD" --rsync-path="/usr/bin/time -f %M -o $WORK/rsync-server.rss rsync")
        [[ $tool != sshz ]] || CMD+=(-z)
        CMD+=("$src/" "$SSH_USER@$S_ADDR:$SRV/$tool/$w/$name/") ;;
    esac
}
# check_copy KEY SRC DST: content, missing and extra names fail the run,
# except symbolic links an ft tool left out (ft sync and put -r leave links
# out, and say so): those are counted in LINKS[KEY]. Files (not folders)
# whose mtime or mode differ are counted in META[KEY].
FAILED=0
declare -A META WIRE LINKS SSHD_RSS REWRITTEN
# same_link SRC DST NAME: whether link NAME points, as text resolved from
# its folder, at the same place in DST as in SRC.
same_link() {
    local a b
    a=$(realpath -m -s --relative-to="$1" "$(dirname -- "$1/$3")/$(readlink -- "$1/$3")")
    b=$(realpath -m -s --relative-to="$2" "$(dirname -- "$2/$3")/$(readlink -- "$2/$3")")
    [[ $a == "$b" ]]
}
check_copy() {
    local key=$1 out=$WORK/check.out links=0 bad name kept=0
    if ! rsync -n -rlptc -i --delete -- "$2/" "$3/" >"$out" 2>&1; then
        say "CHECK FAILED: $key: rsync -n could not compare $2 with $3"
        head -n 5 "$out" >&2
        FAILED=1
        return
    fi
    # rsync -i: YXcstp...: c content (or a link's target), s size, +++ new.
    awk 'substr($0, 1, 9) == "*deleting" || /\+\+\+\+\+/ || substr($0, 3, 1) == "c" ||
         substr($0, 4, 1) == "s"' "$out" >"$out.bad"
    if [[ ${key##*|} == ft* || ${key##*|} == put ]]; then
        links=$(grep -c '^cL+++++++++ ' "$out.bad" || true)
        grep -v '^cL+++++++++ ' "$out.bad" >"$out.tmp" || true
        mv -- "$out.tmp" "$out.bad"
    fi
    # An rsync daemon without chroot rewrites a link's target it finds
    # unsafe ('a/./../b'): the same place, other text. Counted, not failed.
    if [[ ${key##*|} == rsyncd* ]]; then
        : >"$out.tmp"
        while IFS= read -r line; do
            name=$(sed -n 's/^cLc\.\.\.\.\.\.\.\. \(.*\) -> .*$/\1/p' <<<"$line")
            if [[ -n $name ]] && same_link "$2" "$3" "$name"; then kept=$((kept + 1)); else echo "$line" >>"$out.tmp"; fi
        done <"$out.bad"
        mv -- "$out.tmp" "$out.bad"
    fi
    REWRITTEN[$key]=$kept
    bad=$(wc -l <"$out.bad")
    if ((bad > 0)); then
        say "WRONG COPY: $key: $bad names differ from the source in content, or are missing or extra:"
        head -n 5 "$out.bad" >&2
        FAILED=1
    fi
    LINKS[$key]=$links
    META[$key]=$(max_or_dash "${META[$key]:--}" "$(awk 'substr($0, 2, 1) != "d" && substr($0, 1, 2) != "cL" &&
        !(/\+\+\+\+\+/ || substr($0, 3, 1) == "c" || substr($0, 4, 1) == "s")' "$out" | wc -l)")
}
# run_step WORKLOAD STEP SRC TOOL
run_step() {
    local w=$1 step=$2 src=$3 tool=$4 key="$1|$2|$4" w0 w1 t0 status=0 log=$WORK/client.log
    srv_start "$tool"
    client_cmd "$tool" "$w" "$src"
    rm -f -- "$WORK/rsync-server.rss"
    sync -f "$WORK"
    prefault
    w0=$(wire_bytes)
    t0=$EPOCHREALTIME
    "${IN_C[@]}" /usr/bin/time -f %M -o "$WORK/client.rss" \
        timeout "$CMD_TIMEOUT_S" "${CMD[@]}" >"$log" 2>&1 || status=$?
    set_elapsed "$t0"
    w1=$(wire_bytes)
    srv_stop
    if ((status != 0)); then
        tail -n 20 "$log" >&2
        die "$key failed (status $status): ${CMD[*]}"
    fi
    if [[ $tool == ssh* ]]; then
        SSHD_RSS[$key]=$(max_or_dash "${SSHD_RSS[$key]:--}" "$SRV_KIB")
        SRV_KIB=$(grep -E '^[0-9]+$' "$WORK/rsync-server.rss" | tail -n 1 || echo -)
    fi
    record "$key" "$ELAPSED" "$(grep -E '^[0-9]+$' "$WORK/client.rss" | tail -n 1)" "$SRV_KIB"
    WIRE[$key]+="$((w1 - w0))"$'\n'
    check_copy "$key" "$src" "$SRV/$tool/$w/${src##*/}"
    say "$key: $ELAPSED s, $(((w1 - w0) / 1000)) kB on the wire"
}

# ---- the runs ----------------------------------------------------------------

runs_of() { case $1 in tree) echo "$TREE_RUNS" ;; tar) echo "$TAR_RUNS" ;; db) echo "$DB_RUNS" ;; esac; }
steps_of() { if [[ $1 == tree ]]; then echo "first:old same:old update:new"; else echo "first:old update:new"; fi; }
declare -A SIZES
START=$SECONDS
for w in "${WORKLOADS[@]}"; do
    runs=$(runs_of "$w")
    for ((run = 1; run <= runs; run++)); do
        for tool in "${TOOLS[@]}"; do
            rm -rf -- "${SRV:?}/$tool"
            mkdir -p "$SRV/$tool/$w"
        done
        for sv in $(steps_of "$w"); do
            step=${sv%%:*}
            src=$(source_of "$w" "${sv#*:}")
            SIZES[$w|$step]="$(du_bytes "$src") $(nfiles "$src")"
            # Each run starts with another tool: no tool always goes first.
            k=$(((run - 1) % ${#TOOLS[@]}))
            for tool in "${TOOLS[@]:k}" "${TOOLS[@]:0:k}"; do
                [[ $tool != put || $w:$step == tree:first ]] || continue
                run_step "$w" "$step" "$src" "$tool"
            done
        done
        say "$w: run $run/$runs done ($((SECONDS - START)) s since the first)"
    done
    for tool in "${TOOLS[@]}"; do rm -rf -- "${SRV:?}/$tool"; done
done

# ---- the tables --------------------------------------------------------------

declare -A NAME=([ft]="ft sync" [ftplain]="ft sync --plaintext" [ftz]="ft sync -z" [put]="ft put -r"
    [rsyncd]="rsync daemon" [rsyncdz]="rsync daemon -z" [ssh]="rsync ssh" [sshz]="rsync ssh -z")
if ((HAVE_SYNC == 0)); then
    NAME[ft]="ft put -r*" NAME[ftplain]="ft put -r --plaintext*" NAME[ftz]="ft put -r -z*"
fi
has() { [[ -n ${TIMES[$1]+set} ]]; }
secs() { if has "$1"; then key_median "$1"; else echo -; fi; }
wire() { if has "$1"; then printf '%s' "${WIRE[$1]}" | median; else echo -; fi; }
mb() { awk -v b="$1" 'BEGIN { if (b == "-") print "-"; else printf (b < 1e7 ? "%.3f\n" : "%.1f\n"), b / 1e6 }'; }
mib() { awk -v k="$1" 'BEGIN { if (k == "-") print "-"; else printf "%.1f\n", k / 1024 }'; }
crss() { if has "$1"; then echo "${CLIENT_RSS[$1]}"; else echo -; fi; }
srss() { if has "$1"; then echo "${SERVER_RSS[$1]}"; else echo -; fi; }
# ratios KEY REFKEY: "time T wire W client C server S" (each ft / ref).
ratios() {
    printf 'time %sx, wire %sx, client RSS %sx, server RSS %sx' \
        "$(ratio "$(secs "$1")" "$(secs "$2")")" "$(ratio "$(wire "$1")" "$(wire "$2")")" \
        "$(ratio "$(crss "$1")" "$(crss "$2")")" "$(ratio "$(srss "$1")" "$(srss "$2")")"
}
table() {
    local w step sv key tool runs ref pair mine
    printf 'ft sync beside rsync: %s; %s; %s\n' "$DATA_NAME" "$LINK_NAME" "$(date -u '+%F %H:%M UTC')"
    printf 'ft %s, %s build%s\n%s\n' "$TREE" "$BUILD_TYPE" "$( ((HAVE_SYNC)) || echo '; * no ft sync in this build: ft put -r stood in')" "$(machine_line)"
    for w in "${WORKLOADS[@]}"; do
        runs=$(runs_of "$w")
        case $w in
        tree) printf '\n(a) tree: %s -> %s, median of %d run(s)\n' "${TREE_OLD#"$DATA"/}" "${TREE_NEW#"$DATA"/}" "$runs" ;;
        tar) printf '\n(b) tar: %s -> %s (one file), median of %d run(s)\n' "${TAR_OLD##*/}" "${TAR_NEW##*/}" "$runs" ;;
        db) printf '\n(c) db: %s -> %s (%s%% of %s rows updated), median of %d run(s)\n' \
            "${DB_OLD##*/}" "${DB_NEW##*/}" "$CHURN" "$DB_ROWS" "$runs" ;;
        esac
        printf '%-7s %-22s %9s %15s %9s %8s %8s %5s\n' step tool seconds min-max 'wire MB' 'cli MiB' 'srv MiB' meta
        for sv in $(steps_of "$w"); do
            step=${sv%%:*}
            read -r bytes files <<<"${SIZES[$w|$step]}"
            printf '%-7s (%s MB in %s files)\n' "$step" "$(mb "$bytes")" "$files"
            for tool in "${TOOLS[@]}"; do
                key="$w|$step|$tool"
                has "$key" || continue
                printf '%-7s %-22s %9.3f %15s %9s %8s %8s %5s\n' "" "${NAME[$tool]}" "$(secs "$key")" \
                    "$(key_min_max "$key" '%.2f' | tr ' ' '-')" "$(mb "$(wire "$key")")" \
                    "$(mib "$(crss "$key")")" "$(mib "$(srss "$key")")" "${META[$key]:--}"
            done
            for pair in ft:rsyncd ft:ssh ftplain:rsyncd ftz:rsyncdz ftz:sshz; do
                mine=${pair%:*} ref=${pair#*:}
                if ! has "$w|$step|$mine" || ! has "$w|$step|$ref"; then continue; fi
                printf '        %-36s %s\n' "${NAME[$mine]} / ${NAME[$ref]}:" "$(ratios "$w|$step|$mine" "$w|$step|$ref")"
            done
        done
    done
    cat <<EOF

seconds: the client's wall time, median (min-max over the runs); ft's
  includes the server's fsync of what it wrote, rsync flushes nothing.
wire MB: rx + tx bytes of the client's veth end during the step (IP
  packets with their Ethernet headers, TCP acks and handshakes included;
  large segments counted once, as the veth carries them), 10^6 bytes.
cli MiB: the client's peak RSS (GNU time %M: its largest process; rsync
  over ssh: rsync or the ssh it runs). srv MiB: the server's, per step (GNU
  time %M of a server started for the step: the largest of the server and
  every child it waited for; rsync daemon: its per-connection child and
  the receiver that child forks; ft serve: one process; rsync ssh: the
  'rsync --server' sshd runs, timed alone through --rsync-path, and the
  receiver it forks). Largest across the runs. A process is counted
  alone, not summed with the others of its side.
meta: files whose mtime or mode differ from the source after the step
  (content, missing and extra files fail the run instead).
ft: encrypted unless --plaintext; rsync daemon: plaintext; rsync ssh:
  OpenSSH, cipher ${SSH_CIPHER:-?}. Sources read from page cache.
EOF
    local most=0 k sshd=-
    for k in "${!SSHD_RSS[@]}"; do sshd=$(max_or_dash "$sshd" "${SSHD_RSS[$k]}"); done
    [[ $sshd == - ]] || printf 'sshd: its own processes (not in srv MiB) peaked at %s MiB.\n' "$(mib "$sshd")"
    for k in "${!LINKS[@]}"; do ((LINKS[$k] <= most)) || most=${LINKS[$k]}; done
    local rewritten=0
    for k in "${!REWRITTEN[@]}"; do ((REWRITTEN[$k] <= rewritten)) || rewritten=${REWRITTEN[$k]}; done
    ((rewritten == 0)) || printf 'links: the rsync daemon (no chroot) rewrote the target of %d link(s) it found\n  unsafe to other text naming the same place.\n' "$rewritten"
    ((most == 0)) || printf 'links: ft left out the %d symbolic links of the source (it copies no links\n  and says so); rsync -a copies them.\n' "$most"
}

# ---- the targets ---------------------------------------------------------------

# verdict VALUE REF LIMIT: "VALUE vs REF = Rx: met|not met" (met: ratio <= LIMIT).
verdict() {
    local r
    r=$(ratio "$1" "$2" %.3f)
    [[ $r != - ]] || { echo "n/a"; return; }
    awk -v r="$r" -v l="$3" 'BEGIN { printf "%.2fx (limit %sx): %s", r, l, (r <= l ? "met" : "NOT MET") }'
}
# target_vs LABEL FT_VALUE FUNC KEY LIMIT UNIT: one line against each rsync.
target_line() {
    local label=$1 fn=$2 key=$3 limit=$4 ref v
    has "$key" || return 0
    for ref in rsyncd ssh; do
        has "${key%|*}|$ref" || continue
        v=$($fn "$key")
        printf '  %-34s %-16s %s\n' "$label" "vs ${NAME[$ref]}:" \
            "$(verdict "$v" "$($fn "${key%|*}|$ref")" "$limit")"
    done
}
max_over_steps() { # FUNC WORKLOAD TOOL: the largest value of FUNC over the workload's steps
    local fn=$1 w=$2 tool=$3 sv m=-
    for sv in $(steps_of "$w"); do
        if has "$w|${sv%%:*}|$tool"; then m=$(max_or_dash "$m" "$($fn "$w|${sv%%:*}|$tool")"); fi
    done
    echo "$m"
}
targets() {
    local w sv step k
    printf '\nissue 16 targets (ft sync, default: encrypted), this run:\n'
    for w in "${WORKLOADS[@]}"; do
        for sv in $(steps_of "$w"); do
            step=${sv%%:*}
            target_line "wire <= 1.25x rsync, $w $step" wire "$w|$step|ft" 1.25
        done
    done
    if [[ " ${WORKLOADS[*]} " == *" tar "* ]]; then
        target_line "time <= 0.5x rsync, tar update" secs "tar|update|ft" 0.5
    fi
    for w in tree db; do
        [[ " ${WORKLOADS[*]} " == *" $w "* ]] || continue
        for sv in $(steps_of "$w"); do
            step=${sv%%:*}
            [[ $w:$step != tree:same ]] || continue
            target_line "time <= rsync, $w $step" secs "$w|$step|ft" 1
        done
    done
    [[ " ${WORKLOADS[*]} " != *" tree "* ]] || target_line "no-change resync time <= rsync" secs "tree|same|ft" 1
    if has "tree|first|ft" && has "tree|first|put"; then
        printf '  %-34s %-16s %s\n' "first tree sync as fast as put -r" "vs ft put -r:" \
            "$(verdict "$(secs "tree|first|ft")" "$(secs "tree|first|put")" 1)"
    fi
    if [[ " ${WORKLOADS[*]} " == *" tree "* ]]; then
        for k in crss srss; do
            for ref in rsyncd ssh; do
                uses "$ref" || continue
                printf '  %-34s %-16s %s\n' "tree peak $([[ $k == crss ]] && echo client || echo server) RSS <= rsync" \
                    "vs ${NAME[$ref]}:" "$(verdict "$(max_over_steps "$k" tree ft)" "$(max_over_steps "$k" tree "$ref")" 1)"
            done
        done
    fi
    if [[ " ${WORKLOADS[*]} " == *" tar "* ]]; then
        for k in crss srss; do
            m=$(max_over_steps "$k" tar ft)
            [[ $m != - ]] || continue
            printf '  %-34s %-16s %s MiB: %s\n' "tar peak $([[ $k == crss ]] && echo client || echo server) RSS < 16 MiB" "" \
                "$(mib "$m")" "$(awk -v m="$m" 'BEGIN { print (m < 16384 ? "met" : "NOT MET") }')"
        done
    fi
}

{ table; targets; } | tee "$WORK/table.txt"
if [[ -n $TABLE_OUT ]]; then cp -- "$WORK/table.txt" "$TABLE_OUT"; say "tables written to $TABLE_OUT"; fi
say "$((SECONDS - START)) s of steps; load average at the end: $(cut -d ' ' -f 1-3 /proc/loadavg)"
if ((FAILED)); then
    say "FAILED: some copy differed from its source; these numbers are void"
    exit 1
fi
say "every copy matched its source (rsync -n -c)"
