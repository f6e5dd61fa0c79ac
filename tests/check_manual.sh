#!/usr/bin/env bash
# check_manual.sh - keeps the manual page honest: every command listed by
# 'ft --help' and every long option printed by 'ft --help' and
# 'ft COMMAND --help' must appear in docs/ft.1, and so must every JSON
# member ("name_base64":) a help text names; the page must format
# without a warning (groff -man -ww, when groff is installed). When the bash
# completion is there (completions/ft.bash beside docs/, or a third
# argument), it must offer every command and every long option too.
#
# usage: check_manual.sh FT_BINARY MAN_PAGE [COMPLETION]
# Exits 0 when all is well, 1 naming what is missing, 2 on bad usage.
set -euo pipefail

if [ $# -lt 2 ] || [ $# -gt 3 ]; then
    echo "usage: $0 FT_BINARY MAN_PAGE [COMPLETION]" >&2
    exit 2
fi
ft=$1
page=$2
completion=${3:-$(dirname "$page")/../completions/ft.bash}
for f in "$ft" "$page"; do
    if [ ! -e "$f" ]; then
        echo "check_manual: $f: no such file" >&2
        exit 2
    fi
done

failed=0
fail() {
    echo "check_manual: $*" >&2
    failed=1
}

# The page as a reader sees its words: \- is -, font escapes and \& vanish.
text=$(sed -e 's/\\-/-/g' -e 's/\\f[BIRP]//g' -e 's/\\f(..//g' \
           -e 's/\\f\[[^]]*\]//g' -e 's/\\&//g' -e 's/\\%//g' "$page")

# Commands: the indented words of the "Commands:" block of 'ft --help'.
top_help=$("$ft" --help) || { fail "'$ft --help' failed"; exit 1; }
commands=$(awk '/^Commands:/ { inside = 1; next }
                inside && /^[[:space:]]*$/ { exit }
                inside && /^  [a-z]/ { print $1 }' <<<"$top_help")
if [ -z "$commands" ]; then
    fail "found no commands in '$ft --help'"
    exit 1
fi

# Long options: --word as printed by the help texts.
long_options() {
    grep -oE -- '--[a-z][a-z0-9]*(-[a-z0-9]+)*' | sort -u
}

# The options a help text defines: those of its usage line and of its option
# table (lines that start with -x, or --word), not those its prose mentions.
defined_options() {
    grep -E '^usage:|^ +(-[[:alnum:]], +)?--[a-z]' |
        sed -E 's/^ +(-[[:alnum:]], +)?(--[a-z0-9-]+).*/\2/' | long_options
}

# Whether the page mentions $1 as a whole word (--token is not --token-file).
page_has() {
    grep -qE -- "(^|[^a-z0-9-])$1([^a-z0-9-]|\$)" <<<"$text"
}

checked=0
for opt in $(long_options <<<"$top_help") --version; do
    page_has "$opt" || fail "'ft --help' prints $opt, but $page does not document it"
    checked=$((checked + 1))
done
for cmd in $commands; do
    page_has "ft $cmd" || fail "'ft --help' lists the command $cmd, but $page has no 'ft $cmd'"
    help=$("$ft" "$cmd" --help) || { fail "'ft $cmd --help' failed"; continue; }
    for opt in $(long_options <<<"$help"); do
        page_has "$opt" ||
            fail "'ft $cmd --help' prints $opt, but $page does not document it"
        checked=$((checked + 1))
    done
done
echo "check_manual: $(echo $commands | wc -w) commands, $checked long options looked up in $page"

# The --json members a help text names ("name_base64":) are the page's too:
# a script writer reads either.
members=0
for cmd in $commands; do
    help=$("$ft" "$cmd" --help) || continue
    for key in $(grep -oE '"[a-z][a-z0-9_]*":' <<<"$help" | sort -u); do
        grep -qF -- "$key" <<<"$text" ||
            fail "'ft $cmd --help' names the JSON member $key, but $page does not"
        members=$((members + 1))
    done
done
echo "check_manual: $members JSON members of the help texts looked up in $page"

# The page must format cleanly.
if command -v groff >/dev/null 2>&1; then
    warnings=$(groff -man -ww -z "$page" 2>&1) || fail "groff failed on $page"
    if [ -n "$warnings" ]; then
        fail "groff -man -ww warns about $page:"
        printf '%s\n' "$warnings" >&2
    else
        echo "check_manual: groff -man -ww -z: no warnings"
    fi
else
    echo "check_manual: groff is not installed: formatting not checked (apt-get install groff-base)"
fi

# The completion must offer what the help texts print: ask it, as bash
# would on TAB, for the commands and for each command's options.
if [ -f "$completion" ]; then
    # $1... the words on the line, the last one being completed.
    offered() {
        bash -c 'source "$1"; shift; COMP_WORDS=("$@"); COMP_CWORD=$(($# - 1))
                 _ft; printf "%s\n" "${COMPREPLY[@]}"' _ "$completion" "$@"
    }
    before=$failed
    failed=0
    listed=$(offered ft "")
    for cmd in $commands; do
        grep -qx -- "$cmd" <<<"$listed" ||
            fail "$completion does not complete the command $cmd"
        help=$("$ft" "$cmd" --help) || continue
        opts=$(offered ft "$cmd" --)
        for opt in $(defined_options <<<"$help"); do
            grep -qx -- "$opt" <<<"$opts" ||
                fail "'ft $cmd --help' prints $opt, but $completion does not offer it"
        done
    done
    [ "$failed" = 0 ] && echo "check_manual: $completion offers every command and option"
    [ "$before" = 0 ] || failed=1
else
    echo "check_manual: $completion not found: completion not checked"
fi

exit "$failed"
