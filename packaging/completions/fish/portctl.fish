# fish completion for portctl(1)
#
# Verbs and options come from `portctl __complete verbs|options VERB` (the
# program's own command table), names of services, apps, instances, pools
# and ports from `portctl __complete WHAT`, which asks a running daemon and
# never starts one. `portctl completion fish` prints this file.

function __portctl_verb
    # The first word after portctl that is not an option (or --socket's value).
    set -l tokens (commandline -opc)
    set -e tokens[1]
    set -l skip 0
    for t in $tokens
        if test $skip = 1
            set skip 0
        else if test "$t" = --socket
            set skip 1
        else if not string match -q -- '-*' $t
            echo $t
            return 0
        end
    end
    return 1
end

function __portctl_prev_is
    set -l tokens (commandline -opc)
    test (count $tokens) -ge 1; and contains -- $tokens[-1] $argv
end

complete -c portctl -f
complete -c portctl -n 'not __portctl_verb' -a '(portctl __complete verbs 2>/dev/null)'

# Values that exist in the registry (printed by a running daemon only).
complete -c portctl -n '__portctl_prev_is --service' -x -a '(portctl __complete services 2>/dev/null)'
complete -c portctl -n '__portctl_prev_is --app' -x -a '(portctl __complete apps 2>/dev/null)'
complete -c portctl -n '__portctl_prev_is --instance' -x -a '(portctl __complete instances 2>/dev/null)'
complete -c portctl -n '__portctl_prev_is --pool' -x -a '(portctl __complete pools 2>/dev/null)'
complete -c portctl -n '__portctl_prev_is --port' -x -a '(portctl __complete ports 2>/dev/null)'
complete -c portctl -n '__portctl_prev_is --socket -w --write -o --output --file' -r -F

# Options of the verb on the command line, as its command table declares them.
complete -c portctl -n 'string match -q -- "-*" (commandline -ct)' -a '(portctl __complete options (__portctl_verb) 2>/dev/null)'
complete -c portctl -n '__fish_seen_subcommand_from import' -F
complete -c portctl -n '__fish_seen_subcommand_from exec' -a '(__fish_complete_subcommand --fcs-skip=2)'
