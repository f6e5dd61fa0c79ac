#!/usr/bin/env bash
# demo.sh - installs what is missing, builds ft, and runs its main job on
# the sample files: a server on a temporary store, put of every file in
# samples/files, ls, get each back, verify byte for byte, stop the server.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/deps.sh

ft_install_deps
echo "== building ft"
ft_build build
FT=$PWD/build/ft

work=$(mktemp -d "${TMPDIR:-/tmp}/ft-demo.XXXXXX")
server_pid=
cleanup() {
    [ -n "$server_pid" ] && kill "$server_pid" 2>/dev/null && wait "$server_pid" 2>/dev/null
    rm -rf "$work"
}
trap cleanup EXIT

echo "== starting a server on a temporary store"
"$FT" serve --root "$work/store" --port 0 2>"$work/server.log" &
server_pid=$!
# Ready when it prints the port it listens on (bounded wait, no fixed sleep).
port=
for _ in $(seq 1 200); do
    port=$(sed -n 's/.* port \([0-9][0-9]*\).*/\1/p' "$work/server.log" | head -n 1)
    [ -n "$port" ] && break
    kill -0 "$server_pid" 2>/dev/null || { cat "$work/server.log" >&2; exit 1; }
    sleep 0.05
done
[ -n "$port" ] || { echo "ft: the server did not start" >&2; cat "$work/server.log" >&2; exit 1; }
export FT_PORT=$port
# Pin this throwaway server's key in the demo's own config folder, not in
# the user's ~/.config/ft/known_hosts.
export XDG_CONFIG_HOME=$work/config
echo "   listening on 127.0.0.1 port $port, $(grep -o 'server key [^ ]*' "$work/server.log")"

echo "== put"
for f in samples/files/*; do
    "$FT" put -z "$f"
done
echo "== ls"
"$FT" ls
echo "== get and verify"
mkdir "$work/back"
for f in samples/files/*; do
    name=$(basename "$f")
    "$FT" get "$name" "$work/back/$name"
    cmp "$f" "$work/back/$name"
done
echo "== stop the server"
kill -TERM "$server_pid"
wait "$server_pid"
server_pid=
echo "== server log"
cat "$work/server.log"
echo "demo ok: $(ls samples/files | wc -l) files put, listed, fetched back and verified"
