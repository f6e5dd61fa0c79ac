#!/usr/bin/env bash
# ftp-session.sh - an FTP-style session with ft, step by step.
#
# Usage: samples/ftp-session.sh [PATH_TO_FT]   (default: build/ft in the repo)
#
# If you know FTP or scp, this is the tour: start a server on a throwaway
# store, then put, ls, get, mv, stat and rm files and folders, and stop the
# server. Every step checks its result (exit codes, listings, bytes, modes,
# times, digests) and stops with "FAIL: <step>: <why>" at the first surprise,
# so the test suite runs this script as the test 'ftp_session'.
#
# Nothing outside one temporary folder is touched: the store, the files we
# make and download, the server's log, and even the client's list of pinned
# server keys (known_hosts) live there, and all of it goes away on exit,
# together with the server, whether the session passes or fails.
set -euo pipefail

# --- Where things are ------------------------------------------------------

# The repository is the folder above this script's, wherever we are run from.
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
ft=${1:-$repo/build/ft}
# We change directory below, so make the binary's path absolute.
case $ft in
    /*) ;;
    *) ft=$PWD/$ft ;;
esac
if [ ! -x "$ft" ]; then
    echo "ftp-session: no ft binary at '$ft' (build it, or pass its path)" >&2
    exit 1
fi
samples=$repo/samples/files

# --- Helpers ---------------------------------------------------------------

step="setup"          # the step under way, named in failure messages

fail() {
    echo "ftp-session: FAIL: $step: $*" >&2
    exit 1
}

ok() {
    echo "ok: $*"
}

# ft_ok ARGS...: runs ft with ARGS, which must succeed. Its standard output
# and error are kept in $work/out and $work/err for the checks that follow.
ft_ok() {
    local rc=0
    "$ft" "$@" >"$work/out" 2>"$work/err" || rc=$?
    if [ "$rc" -ne 0 ]; then
        cat "$work/err" >&2
        fail "'ft $*' exited $rc, expected 0"
    fi
}

# ft_fails CODE ARGS...: runs ft with ARGS, which must exit with CODE and
# say why on standard error in one line starting with 'ft: '.
ft_fails() {
    local want=$1 rc=0
    shift
    "$ft" "$@" >"$work/out" 2>"$work/err" || rc=$?
    if [ "$rc" -ne "$want" ]; then
        cat "$work/err" >&2
        fail "'ft $*' exited $rc, expected $want"
    fi
    grep -q '^ft: ' "$work/err" || fail "'ft $*' did not say why it failed"
}

# names: the names in an 'ft ls' listing ($work/out), one a line, sorted.
# A line reads "SIZE  YYYY-MM-DD HH:MM:SS  NAME"; folders end in '/'.
names() {
    sed -E 's/^ *[0-9]+  [0-9-]+ [0-9:]+  //' "$work/out" | LC_ALL=C sort
}

# tree DIR: what 'ft ls -r' should show for a copy of DIR: every file and
# folder below it, relative to it, folders ending in '/', sorted.
tree() {
    (cd "$1" && find . -mindepth 1 \( -type d -printf '%P/\n' \) -o -printf '%P\n') |
        LC_ALL=C sort
}

# expect_names WHAT EXPECTED...: the listing in $work/out names exactly
# EXPECTED (in any order).
expect_names() {
    local what=$1
    shift
    if ! diff -u <(printf '%s\n' "$@" | LC_ALL=C sort) <(names) >"$work/diff"; then
        cat "$work/diff" >&2
        fail "$what does not list what it should (- expected, + got)"
    fi
}

# same_mtime A B: A and B have the same modification time (seconds).
same_mtime() {
    local a b
    a=$(stat -c %Y "$1")
    b=$(stat -c %Y "$2")
    [ "$a" = "$b" ] || fail "$2 has mtime $b, the original $1 has $a"
}

# same_mode A B: A and B have the same permission bits. ft carries the
# executable bit; the rest comes from the umask, which we set below.
same_mode() {
    local a b
    a=$(stat -c %a "$1")
    b=$(stat -c %a "$2")
    [ "$a" = "$b" ] || fail "$2 has mode $b, the original $1 has $a"
}

# --- A temporary world, and the server in it -------------------------------

work=$(mktemp -d "${TMPDIR:-/tmp}/ft-session.XXXXXX")
server_pid=
# Work inside it, with a known umask, so the files we make have known modes.
cd "$work"
umask 022

# On any exit (success, failure, Ctrl-C): stop the server if it still runs,
# giving it a moment to stop cleanly, and remove everything we made.
cleanup() {
    if [ -n "$server_pid" ] && kill -0 "$server_pid" 2>/dev/null; then
        kill -TERM "$server_pid" 2>/dev/null || true
        for _ in $(seq 1 50); do
            kill -0 "$server_pid" 2>/dev/null || break
            sleep 0.1
        done
        kill -KILL "$server_pid" 2>/dev/null || true
        wait "$server_pid" 2>/dev/null || true
    fi
    cd /
    rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# The client reads its settings from the environment: talk to 127.0.0.1,
# use no access token, and pin the server's key in our own config folder,
# so the user's ~/.config/ft/known_hosts stays untouched.
export XDG_CONFIG_HOME=$work/config
export FT_HOST=127.0.0.1
unset FT_TOKEN_FILE

# Port 0: the system picks a free port, and the server prints it on its
# standard error: "ft 0.1.0 serving DIR on 127.0.0.1 port N". That line
# also means it is listening, so we wait for it (never for a fixed time).
# Its log (standard output too) goes to server.log, printed if a step fails.
step="start the server"
"$ft" serve --root "$work/store" --port 0 2>"$work/server.log" >&2 &
server_pid=$!
port=
deadline=$((SECONDS + 20))         # give it at most 20 s
while [ "$SECONDS" -lt "$deadline" ]; do
    # Read the log only when it ends with a newline: no half-written port.
    if [ -s "$work/server.log" ] && [ -z "$(tail -c 1 "$work/server.log")" ]; then
        port=$(sed -n 's/.* serving .* port \([0-9][0-9]*\)$/\1/p' "$work/server.log")
        [ -n "$port" ] && break
    fi
    if ! kill -0 "$server_pid" 2>/dev/null; then
        cat "$work/server.log" >&2
        fail "the server exited before it was ready"
    fi
    sleep 0.05
done
if [ -z "$port" ]; then
    cat "$work/server.log" >&2
    fail "the server did not say which port it serves within 20 s"
fi
export FT_PORT=$port
ok "server on 127.0.0.1 port $port, store $work/store"

# --- 1. put several files into a folder ------------------------------------

# As with cp and scp, when there are several files the last operand is the
# folder they go into; the server creates 'docs' on the way.
step="1. put several files"
files=(greeting.txt manifesto.txt random.bin)
ft_ok put "${files[@]/#/$samples/}" docs
for f in "${files[@]}"; do
    grep -q "^put docs/$f: .* verified" "$work/err" ||
        fail "no summary line for docs/$f: $(cat "$work/err")"
done
# The first connection pinned the server's key, in our config folder.
[ -s "$work/config/ft/known_hosts" ] ||
    fail "the server's key was not pinned in \$XDG_CONFIG_HOME/ft/known_hosts"
ok "put ${#files[@]} files into docs/"

# --- 2. put a folder with -r -----------------------------------------------

# A small project: a text file, an executable script, and a subfolder with a
# binary file (every byte value). Old, distinct modification times show that
# they travel with the files.
step="2. put a folder with -r"
mkdir -p "$work/project/data"
printf 'A small project, sent with ft put -r.\n' >"$work/project/README.txt"
printf '#!/bin/sh\necho "hello from run.sh"\n' >"$work/project/run.sh"
chmod 755 "$work/project/run.sh"
for i in $(seq 0 255); do
    printf '%b' "\\$(printf '%03o' "$i")"
done >"$work/project/data/bytes.bin"
touch -d '2001-02-03 04:05:06 UTC' "$work/project/README.txt"
touch -d '2002-03-04 05:06:07 UTC' "$work/project/run.sh"
touch -d '2003-04-05 06:07:08 UTC' "$work/project/data/bytes.bin"

# -r copies the folder and everything in it, as 'project' on the server.
ft_ok put -r project
for f in README.txt run.sh data/bytes.bin; do
    grep -q "^put project/$f: .* verified" "$work/err" ||
        fail "no summary line for project/$f: $(cat "$work/err")"
done
ok "put -r project/ (3 files, 1 subfolder)"

# --- 3. ls -----------------------------------------------------------------

# The top level shows the two folders, with a trailing '/'.
step="3. ls"
ft_ok ls
expect_names "ls" docs/ project/
ok "ls shows docs/ and project/"

# 'ls FOLDER' lists one folder; names are relative to it.
ft_ok ls docs
expect_names "ls docs" "${files[@]}"
# The sizes match the originals.
for f in "${files[@]}"; do
    want=$(stat -c %s "$samples/$f")
    got=$(awk -v n="$f" '$NF == n { print $1 }' "$work/out")
    [ "$got" = "$want" ] || fail "ls docs gives $f $got bytes, the original has $want"
done
ok "ls docs shows the ${#files[@]} files with their sizes"

# 'ls -r FOLDER' lists everything below it.
ft_ok ls -r project
mapfile -t want < <(tree "$work/project")
expect_names "ls -r project" "${want[@]}"
ok "ls -r project shows ${#want[@]} entries: ${want[*]}"

# --- 4. get files and folders back ------------------------------------------

step="4. get"
mkdir "$work/back"

# One file, under a new name.
ft_ok get docs/greeting.txt "$work/back/hello.txt"
cmp "$samples/greeting.txt" "$work/back/hello.txt" ||
    fail "back/hello.txt differs from greeting.txt"
same_mtime "$samples/greeting.txt" "$work/back/hello.txt"
ok "get docs/greeting.txt as back/hello.txt, same bytes and mtime"

# Several files: as with cp, the last operand is the (existing) folder.
mkdir "$work/back/several"
ft_ok get docs/manifesto.txt docs/random.bin "$work/back/several"
for f in manifesto.txt random.bin; do
    cmp "$samples/$f" "$work/back/several/$f" || fail "back/several/$f differs"
    same_mtime "$samples/$f" "$work/back/several/$f"
done
ok "get 2 files into back/several/, same bytes and mtimes"

# A whole folder with -r; back/project does not exist yet, so it becomes
# the copy (as 'cp -r project back/project' would).
ft_ok get -r project "$work/back/project"
diff -r "$work/project" "$work/back/project" >"$work/diff" || {
    cat "$work/diff" >&2
    fail "back/project differs from project"
}
while IFS= read -r f; do
    same_mode "$work/project/$f" "$work/back/project/$f"
    same_mtime "$work/project/$f" "$work/back/project/$f"
done < <(cd "$work/project" && find . -type f -printf '%P\n')
[ -x "$work/back/project/run.sh" ] || fail "back/project/run.sh lost its executable bit"
[ "$("$work/back/project/run.sh")" = "hello from run.sh" ] ||
    fail "back/project/run.sh does not run"
ok "get -r project: identical tree (diff -r), same modes (run.sh 755) and mtimes"

# --- 5. mv: rename on the server --------------------------------------------

# The rename is atomic: at every moment the file is under one of its names.
step="5. mv"
ft_ok mv docs/greeting.txt docs/hello.txt
ft_ok ls docs
expect_names "ls docs after mv" hello.txt manifesto.txt random.bin
ok "mv docs/greeting.txt docs/hello.txt: ls shows hello.txt, not greeting.txt"

# --- 6. stat: size, time, mode and digest -----------------------------------

# The digest ft prints is the one 'b2sum -l 256' (coreutils) computes, so a
# file on the server can be checked against a local one without fetching it.
step="6. stat"
check_stat() {   # check_stat REMOTE LOCAL
    local remote=$1 local_file=$2 got want
    ft_ok stat "$remote"
    grep -qx "name: $remote" "$work/out" || fail "stat $remote: no 'name: $remote' line"
    grep -qx "size: $(stat -c %s "$local_file")" "$work/out" ||
        fail "stat $remote: size differs from $local_file"
    got=$(sed -n 's/^blake2b-256: //p' "$work/out")
    want=$(b2sum -l 256 "$local_file" | cut -d ' ' -f 1)
    [ "$got" = "$want" ] || fail "stat $remote: blake2b-256 is '$got', b2sum -l 256 says '$want'"
}
check_stat docs/hello.txt "$samples/greeting.txt"
check_stat project/run.sh "$work/project/run.sh"
grep -qx "mode: 0755" "$work/out" || fail "stat project/run.sh: mode is not 0755"
ok "stat docs/hello.txt and project/run.sh: blake2b-256 equals b2sum -l 256"

# --- 7. rm: files and folders -------------------------------------------------

step="7. rm"
ft_ok rm docs/hello.txt
ft_ok ls docs
expect_names "ls docs after rm" manifesto.txt random.bin
ok "rm docs/hello.txt: gone from ls docs"

# A folder needs -r, as with rm(1): without it the server refuses (exit 4).
ft_fails 4 rm project
ft_ok rm -r project
ft_ok ls
expect_names "ls after rm -r" docs/
ok "rm project refused (exit 4); rm -r project: gone from ls"

# Removing what is not there is refused by the server: exit code 4.
ft_fails 4 rm docs/hello.txt
grep -q "no such file" "$work/err" || fail "rm of a missing file said: $(cat "$work/err")"
ok "rm of a missing file exits 4: $(cat "$work/err")"

# --- 8. stop the server -----------------------------------------------------

# SIGTERM (or Ctrl-C, SIGINT) stops the server cleanly: exit code 0.
step="8. stop the server"
kill -TERM "$server_pid"
deadline=$((SECONDS + 10))         # give it at most 10 s
while [ "$SECONDS" -lt "$deadline" ] && kill -0 "$server_pid" 2>/dev/null; do
    sleep 0.1
done
if kill -0 "$server_pid" 2>/dev/null; then
    fail "the server still runs 10 s after SIGTERM"
fi
rc=0
wait "$server_pid" || rc=$?
server_pid=
[ "$rc" -eq 0 ] || { cat "$work/server.log" >&2; fail "the server exited $rc after SIGTERM, expected 0"; }
ok "server stopped by SIGTERM, exit code 0"

echo "ftp-session: all steps passed"
