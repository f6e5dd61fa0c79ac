# ft.bash - bash completion for ft(1): commands, each command's options,
# option values where they are known (files, folders, hosts, ciphers,
# pinned fingerprints), local file names for local operands, and the
# remotes of the config file ("backup:") for names on the server. The
# names inside a remote are not completed: that would mean connecting.
#
# Installed as ft in bash-completion's completions folder; to try it
# without installing: source completions/ft.bash
#
# The option lists below follow 'ft --help' and 'ft COMMAND --help';
# tests/check_manual.sh checks that every option printed there is offered.

# Local file names (folders too) matching $1, one candidate each, into
# COMPREPLY; $2 = -d for folders only. bash-completion's _filedir when it is
# loaded (it handles quoting and ~), else compgen.
_ft_files()
{
    local cur=$1 only_dirs=${2:-}
    if declare -F _filedir >/dev/null 2>&1; then
        if [[ $only_dirs == -d ]]; then
            _filedir -d
        else
            _filedir
        fi
        return
    fi
    compopt -o filenames 2>/dev/null
    if [[ $only_dirs == -d ]]; then
        mapfile -t COMPREPLY < <(compgen -d -- "$cur")
    else
        mapfile -t COMPREPLY < <(compgen -f -- "$cur")
    fi
}

# The fingerprints pinned in the known_hosts file, for --server-key.
_ft_pinned_keys()
{
    local file
    if [[ ${XDG_CONFIG_HOME:-} == /* ]]; then
        file=$XDG_CONFIG_HOME/ft/known_hosts
    else
        file=${HOME:-}/.config/ft/known_hosts
    fi
    [[ -r $file ]] || return 0
    local host port key
    while read -r host port key; do
        [[ -n $key ]] && printf '%s\n' "$key"
    done <"$file"
}

# The remotes named in the client's config file, each as "NAME:".
_ft_remotes()
{
    local file=${FT_CONFIG:-}
    if [[ -z $file && ${XDG_CONFIG_HOME:-} == /* ]]; then
        file=$XDG_CONFIG_HOME/ft/config
    elif [[ -z $file ]]; then
        file=${HOME:-}/.config/ft/config
    fi
    [[ -r $file ]] || return 0
    local key name rest
    while read -r key name rest; do
        [[ ${key,,} == remote && -n $name ]] && printf '%s:\n' "$name"
    done <"$file"
}

# Offers the remotes matching $1, the word going on after one.
_ft_remote_names()
{
    mapfile -t COMPREPLY < <(compgen -W "$(_ft_remotes)" -- "$1")
    ((${#COMPREPLY[@]})) && compopt -o nospace 2>/dev/null
}

_ft()
{
    local commands="serve put get sync ls rm mv stat mkdir df keygen id forget trust"
    local client_opts="-H --host -p --port --token-file -i --identity --server-key
        --plaintext --connect-timeout --timeout --cipher -q --quiet -h --help"
    local serve_opts="-r --root --store --s3-endpoint -H --host -p --port --max-clients --max-streams
        --max-file-size --idle-timeout --handshake-timeout --max-frame-size
        --read-only --key-file --token-file --allow-plaintext --partial-ttl
        --max-rate --clients --anonymous --config --user --no-sandbox
        --on-upload --on-delete --metrics --log-format --scrub --json -h --help"
    # Options that take a value in the next word (or after '='); -r is
    # serve's --root, elsewhere --recursive.
    local client_values="-H --host -p --port --token-file -i --identity --server-key
        --connect-timeout --timeout --cipher --limit-rate -P --streams"
    local serve_values="-r --root --store --s3-endpoint -H --host -p --port --max-clients --max-streams
        --max-file-size --idle-timeout --handshake-timeout --max-frame-size
        --key-file --token-file --partial-ttl --max-rate --clients --anonymous
        --config --user --on-upload --on-delete --metrics --log-format"

    local cword=$COMP_CWORD
    local cur=${COMP_WORDS[cword]:-}
    local p=$((cword - 1)) # where the word before the current one is
    local trim=""
    COMPREPLY=()

    # bash splits words at ':' and '=' (COMP_WORDBREAKS): put a b2:...
    # fingerprint and --opt=value back together.
    if [[ $cur == ":" && ${COMP_WORDS[p]:-} == b2 ]]; then
        cur="b2:"
        trim="b2:"
        ((p--))
    elif [[ ${COMP_WORDS[p]:-} == ":" && ${COMP_WORDS[p - 1]:-} == b2 ]] && ((p >= 2)); then
        cur="b2:$cur"
        trim="b2:"
        ((p -= 2))
    fi
    if [[ $cur == "=" ]]; then
        cur=""
    elif [[ ${COMP_WORDS[p]:-} == "=" ]] && ((p >= 2)); then
        ((p--))
    elif [[ $cur == --*=* ]]; then
        # COMP_WORDBREAKS without '=': the word is whole.
        COMP_WORDS[p]=${cur%%=*}
        cur=${cur#*=}
    fi
    local prev=""
    ((p >= 0)) && prev=${COMP_WORDS[p]}

    if ((cword == 1)); then
        if [[ $cur == -* ]]; then
            mapfile -t COMPREPLY < <(compgen -W "--help --version" -- "$cur")
        else
            mapfile -t COMPREPLY < <(compgen -W "$commands" -- "$cur")
        fi
        return 0
    fi

    local cmd=${COMP_WORDS[1]}
    local opts takes_value=$client_values
    case $cmd in
    serve)
        opts=$serve_opts
        takes_value=$serve_values
        ;;
    put | get)
        opts="-r --recursive -z --compress --no-verify --limit-rate --continue
            -P --streams --json $client_opts"
        ;;
    sync)
        # -i is --itemize here, as rsync's: the key is --identity alone.
        opts="--delete -n --dry-run -i --itemize -c --checksum -z --compress
            --no-verify --limit-rate -P --streams --json ${client_opts/-i /}"
        takes_value=${client_values/-i /}
        ;;
    ls) opts="-r --recursive --json $client_opts" ;;
    rm) opts="-r --recursive $client_opts" ;;
    mv) opts=$client_opts ;;
    stat | df) opts="--json $client_opts" ;;
    mkdir)
        # -p is --parents here: the port is --port alone.
        opts="-p --parents --json ${client_opts/-p /}"
        takes_value=${client_values/-p /}
        ;;
    keygen)
        opts="--token -h --help"
        takes_value="--token"
        ;;
    id)
        opts="-i --identity -h --help"
        takes_value="-i --identity"
        ;;
    forget | trust)
        opts="-h --help"
        takes_value=""
        ;;
    *) return 0 ;;
    esac

    # The value of an option.
    if [[ $prev == -* && " ${takes_value//$'\n'/ } " == *" $prev "* &&
        " ${opts//$'\n'/ } " == *" $prev "* ]]; then
        case $prev in
        -H | --host)
            mapfile -t COMPREPLY < <(compgen -A hostname -- "$cur")
            ;;
        --token-file | --key-file | --token | -i | --identity | --clients | --config | \
            --on-upload | --on-delete)
            _ft_files "$cur"
            ;;
        -r | --root)
            _ft_files "$cur" -d
            ;;
        --cipher)
            mapfile -t COMPREPLY < <(compgen -W "chacha20-poly1305 aes-256-gcm" -- "$cur")
            ;;
        --log-format)
            mapfile -t COMPREPLY < <(compgen -W "text json" -- "$cur")
            ;;
        --server-key)
            mapfile -t COMPREPLY < <(compgen -W "$(_ft_pinned_keys)" -- "$cur")
            # bash replaces only what follows the ':'.
            [[ -n $trim ]] && COMPREPLY=("${COMPREPLY[@]#"$trim"}")
            ;;
        esac
        return 0
    fi

    # Count the operands before the word being completed. ft stops reading
    # options at the first operand (or after '--'), as getopt does with '+'.
    local i word operands=0 options_done=0
    for ((i = 2; i < p + 1; i++)); do
        word=${COMP_WORDS[i]}
        if [[ $word == "=" || $word == ":" ]]; then
            # The rest of the word before it (--opt=value, b2:..., a:b).
            ((i < p)) && ((i++))
        elif ((options_done)); then
            ((operands++))
        elif [[ $word == -- ]]; then
            options_done=1
        elif [[ $word == -?* ]]; then
            if [[ " ${takes_value//$'\n'/ } " == *" $word "* &&
                ${COMP_WORDS[i + 1]:-} != "=" ]]; then
                ((i++))
            fi
        else
            options_done=1
            ((operands++))
        fi
    done

    if ((!options_done)) && [[ $cur == -* ]]; then
        mapfile -t COMPREPLY < <(compgen -W "$opts" -- "$cur")
        return 0
    fi

    # Operands: local files where a local file goes.
    case $cmd in
    put)
        # LOCAL... [REMOTE]: all but the last are local files or folders
        # ('-': standard input); which one is last is not known yet.
        _ft_files "$cur"
        ((operands >= 1)) &&
            mapfile -t -O "${#COMPREPLY[@]}" COMPREPLY < <(compgen -W "$(_ft_remotes)" -- "$cur")
        ;;
    get)
        # REMOTE... [LOCAL]: after the first, the local file or folder.
        if ((operands >= 1)); then
            _ft_files "$cur"
        else
            _ft_remote_names "$cur"
        fi
        ;;
    sync)
        # SRC DST: one a local file or folder, the other REMOTE:PATH.
        _ft_files "$cur"
        mapfile -t -O "${#COMPREPLY[@]}" COMPREPLY < <(compgen -W "$(_ft_remotes)" -- "$cur")
        ;;
    ls | rm | mv | stat | mkdir)
        _ft_remote_names "$cur"
        ;;
    forget | trust)
        ((operands == 0)) && _ft_remote_names "$cur"
        ;;
    esac
    return 0
}

complete -F _ft ft
