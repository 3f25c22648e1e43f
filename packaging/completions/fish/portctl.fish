# fish completion for portctl(1)

set -l commands allocate check env exec export gc health import list release stats status version watch

complete -c portctl -f
complete -c portctl -n "not __fish_seen_subcommand_from $commands" -a allocate -d 'Allocate a port for a service'
complete -c portctl -n "not __fish_seen_subcommand_from $commands" -a check -d 'Check whether a port is free'
complete -c portctl -n "not __fish_seen_subcommand_from $commands" -a env -d 'Print or write NAME_PORT lines'
complete -c portctl -n "not __fish_seen_subcommand_from $commands" -a exec -d 'Run a command with PORT set'
complete -c portctl -n "not __fish_seen_subcommand_from $commands" -a export -d 'Write all allocations as JSON'
complete -c portctl -n "not __fish_seen_subcommand_from $commands" -a gc -d 'Release stale allocations'
complete -c portctl -n "not __fish_seen_subcommand_from $commands" -a health -d 'Check that portd answers'
complete -c portctl -n "not __fish_seen_subcommand_from $commands" -a import -d 'Load allocations from a file'
complete -c portctl -n "not __fish_seen_subcommand_from $commands" -a list -d 'List allocations'
complete -c portctl -n "not __fish_seen_subcommand_from $commands" -a release -d 'Release allocations'
complete -c portctl -n "not __fish_seen_subcommand_from $commands" -a stats -d 'Show how full each pool is'
complete -c portctl -n "not __fish_seen_subcommand_from $commands" -a status -d 'Show allocations and listeners'
complete -c portctl -n "not __fish_seen_subcommand_from $commands" -a version -d 'Print versions'
complete -c portctl -n "not __fish_seen_subcommand_from $commands" -a watch -d 'Print allocation events'

# Global options
complete -c portctl -l socket -r -F -d 'Daemon socket path'
complete -c portctl -l no-autostart -d 'Do not start portd'
complete -c portctl -l json -d 'JSON output'
complete -c portctl -l no-color -d 'No ANSI colours'
complete -c portctl -s h -l help -d 'Show help'
complete -c portctl -n "not __fish_seen_subcommand_from $commands" -l version -d 'Print the version'

# app/instance for the commands that take them
complete -c portctl -n "__fish_seen_subcommand_from allocate release list env exec status" -l app -x -d 'Application name'
complete -c portctl -n "__fish_seen_subcommand_from allocate release list env exec status" -l instance -x -d 'Instance name'
complete -c portctl -n "__fish_seen_subcommand_from allocate release list exec" -l service -x -d 'Service name'
complete -c portctl -n "__fish_seen_subcommand_from allocate release list check" -l port -x -d 'Port'

complete -c portctl -n "__fish_seen_subcommand_from allocate" -l pool -x -d 'Pool to pick from'
complete -c portctl -n "__fish_seen_subcommand_from allocate" -l description -x -d 'Free text'
complete -c portctl -n "__fish_seen_subcommand_from allocate" -l pid -x -a '(__fish_complete_pids)' -d 'Owner process'
complete -c portctl -n "__fish_seen_subcommand_from allocate" -l ttl -x -d 'Lease in seconds'
complete -c portctl -n "__fish_seen_subcommand_from allocate" -l replace -d 'Move the key to --port'
complete -c portctl -n "__fish_seen_subcommand_from allocate" -l force -d 'Register a bound port'
complete -c portctl -n "__fish_seen_subcommand_from allocate" -s q -l quiet -d 'Print only the port'

complete -c portctl -n "__fish_seen_subcommand_from release" -l id -x -d 'Allocation id'
complete -c portctl -n "__fish_seen_subcommand_from list" -s a -l all -d 'Every allocation'
complete -c portctl -n "__fish_seen_subcommand_from env" -s w -l write -r -F -d 'Write to file'
complete -c portctl -n "__fish_seen_subcommand_from export" -s o -l output -r -F -d 'Output file'
complete -c portctl -n "__fish_seen_subcommand_from import" -l replace -d 'Overwrite conflicts'
complete -c portctl -n "__fish_seen_subcommand_from import" -F
complete -c portctl -n "__fish_seen_subcommand_from gc" -s n -l dry-run -d 'Only report'
complete -c portctl -n "__fish_seen_subcommand_from exec" -a '(__fish_complete_subcommand --fcs-skip=2)'
