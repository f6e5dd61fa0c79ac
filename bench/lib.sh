# shellcheck shell=bash
# Variables set here are read by the scripts that source this file.
# shellcheck disable=SC2034
# lib.sh - shared by loopback.sh, compare.sh, smallfiles.sh, clients.sh,
# slowlink.sh, memory.sh, profile.sh and wan.sh. Sourced, never run. It gives:
#   - say/die, an ERR trap that names the failing line;
#   - a workspace ($WORK) removed on exit with every process started through
#     bg_start (and their children), plus extra cleanup steps (CLEANUP_CMDS);
#   - private copies of build/ft and build/ft-hashpass ($FT, $HASHPASS) and a
#     temporary XDG_CONFIG_HOME for the key pins;
#   - apt installs when run as root (apt-get update once), or a "skipped" line;
#   - timing (timed, timed_nc, ELAPSED, RSS_KIB), medians, peak RSS of daemons;
#   - loopback peers: ft serve, rsync daemon, a private sshd, nginx.
# Everything listens on 127.0.0.1 (or an address passed in, for slowlink.sh's
# namespaces). Nothing here asserts a speed.

SELF=${0##*/}
REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BUILD_DIR=${BUILD_DIR:-$REPO/build}
READY_TIMEOUT_S=${READY_TIMEOUT_S:-10}
CMD_TIMEOUT_S=${CMD_TIMEOUT_S:-1200}

say() { printf '%s: %s\n' "$SELF" "$*" >&2; }
die() { say "error: $*"; exit 1; }
set -E
trap 'say "error: line $LINENO: \"$BASH_COMMAND\" failed (status $?)"' ERR

# help_if_asked "$@": -h or --help prints the script's header comment (the
# lines from the second to `set -euo`) and exits.
help_if_asked() {
    case ${1:-} in
    -h | --help)
        sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'
        exit 0
        ;;
    esac
}
# no_args_or_help "$@": the same, and any argument is a usage error.
no_args_or_help() {
    help_if_asked "$@"
    [[ $# -eq 0 ]] || die "usage: $SELF (no arguments; see --help)"
}
# positive_ints NAME...: each variable named must hold a positive integer.
positive_ints() {
    local v
    for v in "$@"; do
        [[ ${!v} =~ ^[1-9][0-9]*$ ]] || die "$v must be a positive integer, not '${!v}'"
    done
}
is_root() { [[ $(id -u) -eq 0 ]]; }

# ---- numbers -----------------------------------------------------------------

# SIZE in bytes: digits and an optional K/M/G/T suffix (powers of 1024).
size_bytes() {
    local text=$1 digits unit shift=0
    [[ $text =~ ^([0-9]+)([kKmMgGtT]?)(i?B)?$ ]] || return 1
    digits=$((10#${BASH_REMATCH[1]}))
    unit=${BASH_REMATCH[2]}
    case $unit in
    k | K) shift=10 ;;
    m | M) shift=20 ;;
    g | G) shift=30 ;;
    t | T) shift=40 ;;
    esac
    ((digits > 0 && digits < (1 << (62 - shift)))) || return 1
    echo $((digits << shift))
}
# median / min-max of the numbers on stdin, one a line; min_max [FORMAT]
# prints "MIN MAX" in FORMAT (default %.3f).
median() {
    sort -g | awk '{ v[NR] = $1 }
        END { if (NR == 0) { print "-"; exit }
              if (NR % 2) printf "%.6f\n", v[(NR + 1) / 2];
              else printf "%.6f\n", (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}
min_max() {
    sort -g | awk -v f="${1:-%.3f}" 'NR == 1 { lo = $1 } { hi = $1 }
        END { if (NR == 0) print "- -"; else printf f " " f "\n", lo, hi }'
}
# max of two numbers where "-" means unknown.
max_or_dash() {
    if [[ $1 == - ]]; then echo "$2"
    elif [[ $2 == - ]]; then echo "$1"
    elif (($1 >= $2)); then echo "$1"
    else echo "$2"; fi
}
# a / b with the given printf format, "-" when either is unknown or b is 0.
ratio() {
    awk -v a="$1" -v b="$2" -v f="${3:-%.2f}" 'BEGIN {
        if (a == "-" || b == "-" || b + 0 == 0) print "-"; else printf f "\n", a / b }'
}

# ---- results -----------------------------------------------------------------
# record KEY SECONDS CLIENT_KIB SERVER_KIB: times per key (one a line) and the
# largest peak RSS seen on either side. KEYS keeps the order of first use.
declare -A TIMES CLIENT_RSS SERVER_RSS
KEYS=()
record() {
    local key=$1 secs=$2 crss=${3:--} srss=${4:--}
    if [[ -z ${TIMES[$key]+set} ]]; then
        KEYS+=("$key")
        TIMES[$key]=
        CLIENT_RSS[$key]=-
        SERVER_RSS[$key]=-
    fi
    TIMES[$key]+="$secs"$'\n'
    CLIENT_RSS[$key]=$(max_or_dash "${CLIENT_RSS[$key]}" "$crss")
    SERVER_RSS[$key]=$(max_or_dash "${SERVER_RSS[$key]}" "$srss")
}
key_median() { printf '%s' "${TIMES[$1]-}" | median; }
key_min_max() { printf '%s' "${TIMES[$1]-}" | min_max "${2:-}"; } # KEY [FORMAT]

# ---- packages ----------------------------------------------------------------

APT_UPDATED=0
POLICY_RC_MADE=0
apt_install() {
    if ((APT_UPDATED == 0)); then
        say "running apt-get update"
        apt-get update -qq >&2 || say "apt-get update failed; trying the install anyway"
        APT_UPDATED=1
    fi
    # Daemons installed here must not start as system services (sshd on
    # port 22, nginx on port 80): a policy-rc.d that says no, while installing.
    if [[ ! -e /usr/sbin/policy-rc.d ]]; then
        printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d
        chmod 755 /usr/sbin/policy-rc.d
        POLICY_RC_MADE=1
    fi
    say "installing $*"
    local status=0
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >&2 || status=$?
    if ((POLICY_RC_MADE)); then
        rm -f /usr/sbin/policy-rc.d
        POLICY_RC_MADE=0
    fi
    return "$status"
}
# have CHECK PACKAGE: runs CHECK (a command string); if it fails, installs
# PACKAGE as root and runs it again. Returns CHECK's final status.
have() {
    local check=$1 pkg=$2
    if eval "$check" >/dev/null 2>&1; then return 0; fi
    if is_root; then
        apt_install "$pkg" || true
        eval "$check" >/dev/null 2>&1 && return 0
    fi
    return 1
}
# OpenBSD's nc has -N (shut the socket down at EOF); the traditional one not.
nc_is_openbsd() { command -v nc >/dev/null && nc -h 2>&1 | grep -q -- '-N'; }

HAVE_TIME=1
need_basics() {
    if ! have "test -x /usr/bin/time" time; then
        HAVE_TIME=0
        say "note: no /usr/bin/time (package 'time'): client peak RSS is not measured"
    fi
    local tool
    for tool in timeout cmp awk sort head ps df; do
        command -v "$tool" >/dev/null || die "needs '$tool' on PATH"
    done
}

# ---- workspace and cleanup ---------------------------------------------------

BG_PIDS=()
CLEANUP_CMDS=()   # run (eval) on exit, last first
WORK=

kill_tree() {
    local pid=$1 child
    for child in $(ps -o pid= --ppid "$pid" 2>/dev/null || true); do
        kill_tree "$child"
    done
    kill -TERM "$pid" 2>/dev/null || true
}
forget_pid() {
    local keep=() p
    for p in "${BG_PIDS[@]}"; do
        [[ $p == "$1" ]] || keep+=("$p")
    done
    BG_PIDS=("${keep[@]}")
}
cleanup() {
    local status=$? pid i
    trap - EXIT INT TERM ERR
    for pid in "${BG_PIDS[@]}"; do
        kill_tree "$pid"
    done
    for pid in "${BG_PIDS[@]}"; do
        wait "$pid" 2>/dev/null || true
    done
    for ((i = ${#CLEANUP_CMDS[@]} - 1; i >= 0; i--)); do
        eval "${CLEANUP_CMDS[i]}" || true
    done
    if ((POLICY_RC_MADE)); then rm -f /usr/sbin/policy-rc.d; fi
    [[ -z $WORK ]] || rm -rf -- "$WORK"
    exit "$status"
}
# make_work NAME: the temporary workspace, with cleanup armed.
make_work() {
    WORK=$(mktemp -d "${TMPDIR:-/tmp}/bench-$1.XXXXXX")
    chmod 755 "$WORK"
    trap cleanup EXIT
    trap 'exit 130' INT
    trap 'exit 143' TERM
}
# bg_start CMD...: runs CMD in the background, remembered for the cleanup;
# its pid in BG_PID.
BG_PID=
bg_start() {
    "$@" &
    BG_PID=$!
    BG_PIDS+=("$BG_PID")
}
# stop_pid PID: ends a process started with bg_start and waits for it.
stop_pid() {
    kill_tree "$1"
    wait "$1" 2>/dev/null || true
    forget_pid "$1"
}
# free_kib DIR
free_kib() { df -Pk "$1" | awk 'NR == 2 { print $4 }'; }

# make_netns NAME...: empty network namespaces with their loopback up,
# removed on exit (after the processes started in them are ended).
make_netns() {
    local ns
    for ns in "$@"; do
        CLEANUP_CMDS+=("ip netns del $ns 2>/dev/null")
        ip netns add "$ns"
        ip -n "$ns" link set lo up
    done
}

# ---- ft ----------------------------------------------------------------------

# Private copies of the binaries, so that a rebuild during the run cannot
# pair a new client with the running server; key pins in a temporary
# XDG_CONFIG_HOME.
FT=
HASHPASS=
TREE=unknown
setup_ft() {
    local built_ft=$BUILD_DIR/ft built_hp=$BUILD_DIR/ft-hashpass
    if [[ ! -x $built_ft || ! -x $built_hp ]]; then
        say "building ft and ft-hashpass in $BUILD_DIR"
        cmake -S "$REPO" -B "$BUILD_DIR" >&2
        cmake --build "$BUILD_DIR" -j2 --target ft ft-hashpass >&2
    fi
    [[ -x $built_ft && -x $built_hp ]] || die "no $built_ft or $built_hp after the build"
    mkdir -p "$WORK/bin" "$WORK/config"
    cp -- "$built_ft" "$built_hp" "$WORK/bin/"
    chmod 755 "$WORK/bin" "$WORK/bin/ft" "$WORK/bin/ft-hashpass"
    FT=$WORK/bin/ft
    HASHPASS=$WORK/bin/ft-hashpass
    export XDG_CONFIG_HOME=$WORK/config
    # The tree the binary was built from: the build's source directory (a
    # BUILD_DIR of another checkout, say a pinned worktree), else this one.
    local src
    src=$(sed -n 's/^CMAKE_HOME_DIRECTORY:INTERNAL=//p' "$BUILD_DIR/CMakeCache.txt" 2>/dev/null || true)
    [[ -n $src && -d $src ]] || src=$REPO
    if command -v git >/dev/null && git -C "$src" rev-parse --git-dir >/dev/null 2>&1; then
        TREE=$(git -C "$src" describe --always --dirty 2>/dev/null || echo unknown)
    fi
    TREE+=", binary built $(date -r "$built_ft" '+%F %T')"
    say "using $built_ft ($("$FT" --version 2>&1 | head -n 1); tree $TREE)"
}

# await_line FILE REGEX PID: waits for a line matching REGEX in FILE while PID
# lives; prints the line's last field.
await_line() {
    local file=$1 regex=$2 pid=$3 line deadline
    deadline=$((SECONDS + READY_TIMEOUT_S))
    while ((SECONDS <= deadline)); do
        line=$(grep -m1 -E "$regex" "$file" 2>/dev/null || true)
        if [[ -n $line ]]; then
            echo "${line##* }"
            return 0
        fi
        kill -0 "$pid" 2>/dev/null || return 1
        sleep 0.02
    done
    return 1
}
# await_port HOST PORT PID [NETNS_PREFIX...]: waits until something accepts on
# HOST:PORT (checked with ss, in the namespace when a prefix is given).
await_port() {
    local host=$1 port=$2 pid=$3 deadline
    shift 3
    deadline=$((SECONDS + READY_TIMEOUT_S))
    while ((SECONDS <= deadline)); do
        if "$@" ss -Hltn "sport = :$port" 2>/dev/null | grep -q "$host:$port"; then
            return 0
        fi
        kill -0 "$pid" 2>/dev/null || return 1
        sleep 0.05
    done
    return 1
}
# a port nothing listens on (for daemons that cannot pick their own).
pick_port() {
    local port
    while :; do
        port=$((20000 + RANDOM % 40000))
        ss -Hltn "sport = :$port" 2>/dev/null | grep -q . || { echo "$port"; return; }
    done
}

# start_ft_server ROOT LOG [ft serve options...]: FT_SERVER_PID, FT_PORT,
# FT_SERVER_LOG. Set FT_NS_PREFIX (e.g. "ip netns exec NS") to start it in a
# namespace.
FT_SERVER_PID=
FT_PORT=
FT_SERVER_LOG=
FT_NS_PREFIX=()
start_ft_server() {
    local root=$1 log=$2
    shift 2
    mkdir -p "$root"
    FT_SERVER_LOG=$log
    bg_start "${FT_NS_PREFIX[@]}" "$FT" serve --root "$root" --port 0 "$@" 2>"$log"
    FT_SERVER_PID=$BG_PID
    FT_PORT=$(await_line "$log" 'serving .* port [0-9]+' "$FT_SERVER_PID") || {
        cat "$log" >&2
        die "the ft server did not say it listens within ${READY_TIMEOUT_S}s"
    }
    # With a namespace prefix, the pid is ip(8)'s, which execs ft: the same.
    say "ft server pid $FT_SERVER_PID, port $FT_PORT, store $root"
}
ft_server_alive() {
    kill -0 "$FT_SERVER_PID" 2>/dev/null && return 0
    tail -n 20 -- "$FT_SERVER_LOG" >&2 2>/dev/null || true
    die "the ft server (pid $FT_SERVER_PID) has died; its log: $FT_SERVER_LOG"
}

# ---- peak RSS of daemons -----------------------------------------------------

# hwm_reset PID...: resets VmHWM (Linux >= 4.0) so the next peak is this run's.
HWM_RESETS=1
hwm_reset() {
    local pid
    for pid in "$@"; do
        if ! { echo 5 >"/proc/$pid/clear_refs"; } 2>/dev/null; then
            ((HWM_RESETS == 0)) ||
                say "note: cannot reset VmHWM of pid $pid: its peak is the session's so far"
            HWM_RESETS=0
        fi
    done
}
# hwm PID...: the sum of their VmHWM in KiB ("-" if none can be read).
hwm() {
    local pid v sum=0 any=0
    for pid in "$@"; do
        v=$(awk '/^VmHWM:/ { print $2 }' "/proc/$pid/status" 2>/dev/null || true)
        if [[ -n $v ]]; then
            sum=$((sum + v))
            any=1
        fi
    done
    if ((any)); then echo "$sum"; else echo -; fi
}
# Daemons that fork per connection (sshd, rsync --daemon): a poller watches
# the listener's descendants (not the listener) while the transfer runs and
# keeps each one's last VmHWM; the figure is their sum, i.e. the memory the
# server side spent on this one connection. A process that lives less than
# the poll interval (0.1 s) can be missed.
descendants() {
    ps -e -o pid=,ppid= | awk -v root="$1" '
        { parent[$1] = $2 }
        END { for (p in parent) { q = parent[p]; n = 0
                  while (q != "" && q != root && q > 1 && n++ < 64) q = parent[q]
                  if (q == root) print p } }'
}
POLL_PID=
tree_poll_start() {
    local root=$1 out=$2
    : >"$out"
    (
        # Stopped by kill_tree, which ends its sleep first: that is no error.
        trap - ERR
        declare -A peak
        while :; do
            for p in $(descendants "$root"); do
                # bash builtins only: this runs ten times a second.
                while read -r k v _; do
                    if [[ $k == VmHWM: ]]; then peak[$p]=$v; break; fi
                done 2>/dev/null <"/proc/$p/status" || true
            done
            s=0
            for p in "${!peak[@]}"; do s=$((s + peak[$p])); done
            echo "$s" >"$out.tmp" && mv -f "$out.tmp" "$out"
            sleep 0.1 || exit 0
        done
    ) &
    POLL_PID=$!
    BG_PIDS+=("$POLL_PID")
}
# tree_poll_stop OUT: stops the poller; prints the sum ("-" if none seen).
tree_poll_stop() {
    local out=$1 v
    stop_pid "$POLL_PID"
    v=$(cat "$out" 2>/dev/null || true)
    if [[ -z $v || $v == 0 ]]; then echo -; else echo "$v"; fi
}

# ---- timing ------------------------------------------------------------------

# prefault: untimed, before each timed command. A VM may hand memory that
# stays free for a few seconds back to its host (virtio-balloon free page
# reporting); the first write to such a page then costs a fault in the
# host. On the machine of docs/PERFORMANCE.md, dd of 1 GiB into page
# cache took 2.4 s on such memory and 0.27 s on memory freed just before,
# a cost every receiver of a copy would pay by the byte it writes.
# Writing and deleting PREFAULT_BYTES (a script sets the most one timed
# command writes) just before the clock starts leaves that much memory
# backed and free for the command, as on a machine that has been busy.
PREFAULT_BYTES=0
prefault() {
    ((PREFAULT_BYTES > 0)) || return 0
    head -c "$PREFAULT_BYTES" /dev/zero >"$WORK/prefault"
    rm -f -- "$WORK/prefault"
}

# timed CMD...: wall time in ELAPSED; with /usr/bin/time, peak RSS (KiB) of
# the command (its largest single process) in RSS_KIB and its CPU time (user
# plus system, seconds) in CPU_S. Returns its status.
ELAPSED=0
RSS_KIB=-
CPU_S=-
timed() {
    local t0 status=0
    # Untimed: writeback left by earlier runs would be charged to whichever command next fsyncs (ft put).
    sync -f "$WORK"
    prefault
    t0=$EPOCHREALTIME
    measured "$@" || status=$?
    set_elapsed "$t0"
    return "$status"
}
# measured CMD...: CMD under CMD_TIMEOUT_S, its peak RSS in RSS_KIB and its
# CPU time in CPU_S as timed says (read with builtins: no fork on the
# clock). Returns its status.
measured() {
    local status=0 lines=() user sys cs
    RSS_KIB=-
    CPU_S=-
    if ((HAVE_TIME)); then
        timeout "$CMD_TIMEOUT_S" /usr/bin/time -f '%M %U %S' -o "$WORK/rss" "$@" || status=$?
    else
        timeout "$CMD_TIMEOUT_S" "$@" || status=$?
    fi
    if ((HAVE_TIME && status == 0)) && mapfile -t lines <"$WORK/rss" && ((${#lines[@]})); then
        read -r RSS_KIB user sys <<<"${lines[-1]}"
        if [[ $user =~ ^[0-9]+\.[0-9]{2}$ && $sys =~ ^[0-9]+\.[0-9]{2}$ ]]; then
            cs=$((10#${user/./} + 10#${sys/./})) # time prints hundredths
            printf -v CPU_S '%d.%02d' $((cs / 100)) $((cs % 100))
        fi
    fi
    return "$status"
}
# set_elapsed T0: ELAPSED = now - T0 (both $EPOCHREALTIME), in seconds.
set_elapsed() {
    local t1=$EPOCHREALTIME
    ELAPSED=$(awk -v a="$1" -v b="$t1" 'BEGIN { printf "%.6f", b - a }')
}
# timed_nc SRC OUT: nc (netcat-openbsd) sends SRC over 127.0.0.1 to an
# 'nc -l' that writes OUT. The clock runs from the sender's start to the
# listener's exit, i.e. until the last byte is written. ELAPSED and RSS_KIB
# (the sender's) as timed gives them; NC_LISTENER_KIB: the listener's peak
# RSS ("-" without /usr/bin/time). Dies if either side fails.
NC_LISTENER_KIB=-
timed_nc() {
    local src=$1 out=$2 log=$WORK/nc.log rss=$WORK/nc.rss pid port t0 status=0
    NC_LISTENER_KIB=-
    rm -f -- "$out"
    # -d: the listener never reads its stdin; it exits once the sender has
    # shut its side down (-N) and the last byte is written to OUT.
    if ((HAVE_TIME)); then
        bg_start timeout "$CMD_TIMEOUT_S" /usr/bin/time -f %M -o "$rss" \
            nc -d -v -l 127.0.0.1 0 >"$out" 2>"$log"
    else
        bg_start timeout "$CMD_TIMEOUT_S" nc -d -v -l 127.0.0.1 0 >"$out" 2>"$log"
    fi
    pid=$BG_PID
    port=$(await_line "$log" '^Listening on ' "$pid") || {
        cat "$log" >&2
        die "nc -l did not report listening within ${READY_TIMEOUT_S}s"
    }
    sync -f "$WORK" # untimed, as in timed
    prefault
    t0=$EPOCHREALTIME
    measured nc -N 127.0.0.1 "$port" <"$src" || status=$?
    # The copy is complete only when the listener has written it and exited.
    wait "$pid" || status=$?
    set_elapsed "$t0"
    forget_pid "$pid"
    ((status == 0)) || { cat "$log" >&2; die "nc failed (status $status)"; }
    if ((HAVE_TIME)); then
        NC_LISTENER_KIB=$(grep -E '^[0-9]+$' "$rss" | tail -n 1 || echo -)
    fi
}

# ---- peers -------------------------------------------------------------------
# Each start_* function returns 1 (after saying why) when its peer cannot be
# had; the caller skips that peer.

# rsync daemon: module "mod" on DIR, read-write, no chroot (so it runs as any
# user). start_rsyncd DIR ADDR [NETNS_PREFIX...]: RSYNCD_PID, RSYNC_PORT.
RSYNCD_PID=
RSYNC_PORT=
start_rsyncd() {
    local dir=$1 addr=$2 conf=$WORK/rsyncd.conf
    shift 2
    have "command -v rsync" rsync || { say "skipping rsync: not installed (apt-get install rsync)"; return 1; }
    RSYNC_PORT=$(pick_port)
    mkdir -p "$dir"
    cat >"$conf" <<EOF
pid file = $WORK/rsyncd.pid
use chroot = no
log file = $WORK/rsyncd.log
[mod]
    path = $dir
    read only = no
EOF
    # As root the daemon would switch to nobody: keep root, who owns $dir.
    # (A daemon run by anyone else stays that user and must not ask.)
    if is_root; then
        printf '    uid = 0\n    gid = 0\n' >>"$conf"
    fi
    bg_start "$@" rsync --daemon --no-detach --config="$conf" --address="$addr" --port="$RSYNC_PORT"
    RSYNCD_PID=$BG_PID
    await_port "$addr" "$RSYNC_PORT" "$RSYNCD_PID" "$@" || {
        cat "$WORK/rsyncd.log" >&2 2>/dev/null || true
        say "skipping rsync: the daemon did not listen on $addr:$RSYNC_PORT"
        return 1
    }
    # It listens; does it serve? (List the module from the same namespace.)
    local probe=127.0.0.1
    [[ $addr == 0.0.0.0 || $addr == 127.0.0.1 ]] || probe=$addr
    if ! "$@" rsync --contimeout=5 "rsync://$probe:$RSYNC_PORT/mod/" >/dev/null 2>"$WORK/rsync-probe.log"; then
        cat "$WORK/rsync-probe.log" "$WORK/rsyncd.log" >&2 2>/dev/null || true
        say "skipping rsync: the daemon on $addr:$RSYNC_PORT does not serve its module"
        return 1
    fi
    say "rsync daemon pid $RSYNCD_PID on $addr:$RSYNC_PORT, module mod -> $dir"
}

# A private sshd: its own host key, a client key made here, its own config,
# key logins only. start_sshd [ADDR [NETNS_PREFIX...]] (default 127.0.0.1; a
# prefix starts it in a namespace): SSHD_PID, SSH_PORT, SSH_OPTS (for
# ssh/scp/sftp, with the port option left to the caller: -p for ssh, -P for
# scp and sftp).
SSHD_PID=
SSH_PORT=
SSH_OPTS=()
SSH_USER=
SSH_CIPHER=
start_sshd() {
    local d=$WORK/ssh addr=${1:-127.0.0.1} probe=127.0.0.1
    shift $(($# > 0 ? 1 : 0))
    [[ $addr == 0.0.0.0 ]] || probe=$addr
    have "test -x /usr/sbin/sshd" openssh-server || { say "skipping scp/sftp: no /usr/sbin/sshd (apt-get install openssh-server)"; return 1; }
    have "command -v scp && command -v sftp && command -v ssh-keygen" openssh-client ||
        { say "skipping scp/sftp: no scp/sftp/ssh-keygen (apt-get install openssh-client)"; return 1; }
    mkdir -p "$d"
    chmod 700 "$d"
    ssh-keygen -q -t ed25519 -N '' -f "$d/host_key" >/dev/null
    ssh-keygen -q -t ed25519 -N '' -f "$d/client_key" >/dev/null
    cp "$d/client_key.pub" "$d/authorized_keys"
    chmod 600 "$d/authorized_keys"
    SSH_PORT=$(pick_port)
    SSH_USER=$(id -un)
    # sshd needs its privilege separation directory when started as root.
    if is_root && [[ ! -d /run/sshd ]]; then
        mkdir -p /run/sshd
        chmod 755 /run/sshd
    fi
    cat >"$d/sshd_config" <<EOF
Port $SSH_PORT
ListenAddress $addr
HostKey $d/host_key
AuthorizedKeysFile $d/authorized_keys
PidFile $d/sshd.pid
StrictModes no
UsePAM no
PasswordAuthentication no
KbdInteractiveAuthentication no
PubkeyAuthentication yes
PermitRootLogin prohibit-password
Subsystem sftp internal-sftp
EOF
    bg_start "$@" /usr/sbin/sshd -D -e -f "$d/sshd_config" 2>"$d/sshd.log"
    SSHD_PID=$BG_PID
    await_port "$addr" "$SSH_PORT" "$SSHD_PID" "$@" || {
        cat "$d/sshd.log" >&2
        say "skipping scp/sftp: sshd did not listen on $addr:$SSH_PORT"
        return 1
    }
    SSH_OPTS=(-F /dev/null -i "$d/client_key" -o StrictHostKeyChecking=no
        -o UserKnownHostsFile=/dev/null -o LogLevel=ERROR -o BatchMode=yes)
    # The first LogLevel given wins in ssh: the check asks for DEBUG1 first,
    # to learn the cipher.
    if ! "$@" ssh -o LogLevel=DEBUG1 "${SSH_OPTS[@]}" -p "$SSH_PORT" "$SSH_USER@$probe" true \
        2>"$d/ssh-check.log"; then
        cat "$d/ssh-check.log" "$d/sshd.log" >&2
        say "skipping scp/sftp: cannot log in to the private sshd"
        return 1
    fi
    SSH_CIPHER=$(grep -m1 -o 'kex: server->client cipher: [^ ]*' "$d/ssh-check.log" | awk '{ print $NF }' || true)
    say "sshd pid $SSHD_PID on $addr:$SSH_PORT ($(ssh -V 2>&1), cipher ${SSH_CIPHER:-unknown})"
}

# nginx serving DIR on 127.0.0.1, one worker. start_nginx DIR: NGINX_PID
# (the master), NGINX_WORKERS (pids), NGINX_PORT.
NGINX_PID=
NGINX_PORT=
NGINX_WORKERS=()
start_nginx() {
    local dir=$1 d=$WORK/nginx
    have "test -x /usr/sbin/nginx" nginx-light || { say "skipping curl/nginx: no /usr/sbin/nginx (apt-get install nginx-light)"; return 1; }
    have "command -v curl" curl || { say "skipping curl/nginx: no curl (apt-get install curl)"; return 1; }
    mkdir -p "$d/tmp"
    NGINX_PORT=$(pick_port)
    cat >"$d/nginx.conf" <<EOF
daemon off;
worker_processes 1;
pid $d/nginx.pid;
error_log $d/error.log;
events { worker_connections 64; }
http {
    access_log off;
    client_body_temp_path $d/tmp/body;
    proxy_temp_path $d/tmp/proxy;
    fastcgi_temp_path $d/tmp/fastcgi;
    uwsgi_temp_path $d/tmp/uwsgi;
    scgi_temp_path $d/tmp/scgi;
    default_type application/octet-stream;
    sendfile on;
    tcp_nopush on;
    server {
        listen 127.0.0.1:$NGINX_PORT;
        root $dir;
    }
}
EOF
    # -p: the prefix, so that nothing is looked for under /var/lib/nginx.
    bg_start /usr/sbin/nginx -p "$d" -c "$d/nginx.conf" -e "$d/error.log"
    NGINX_PID=$BG_PID
    await_port 127.0.0.1 "$NGINX_PORT" "$NGINX_PID" || {
        cat "$d/error.log" >&2
        say "skipping curl/nginx: nginx did not listen on 127.0.0.1:$NGINX_PORT"
        return 1
    }
    mapfile -t NGINX_WORKERS < <(ps -o pid= --ppid "$NGINX_PID" | tr -d ' ')
    say "nginx pid $NGINX_PID (worker ${NGINX_WORKERS[*]}) on 127.0.0.1:$NGINX_PORT"
}

# machine line for the tables
machine_line() {
    printf '%s CPUs (%s), %s GiB RAM, Linux %s; load average at the end: %s\n' \
        "$(nproc)" "$(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo)" \
        "$(awk '/^MemTotal/ { printf "%.0f", $2 / 1048576 }' /proc/meminfo)" \
        "$(uname -r)" "$(cut -d ' ' -f 1-3 /proc/loadavg)"
}
