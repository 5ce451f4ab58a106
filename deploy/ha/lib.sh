# deploy/ha/lib.sh: what up.sh and drill.sh share (sourced, not run).
# They set state (the state directory), ha (deploy/ha), vigild, run_as
# (the command prefix that runs a program as the cluster's user; empty when
# not root) and die.
# shellcheck shell=bash
# shellcheck disable=SC2154 # state, ha, vigild and run_as are the caller's

now_ms() { date +%s%3N; }

# wait_for SECONDS COMMAND...: COMMAND every 0.2 s until it succeeds; fails
# after SECONDS.
wait_for() {
	local end=$(($(date +%s) + $1))
	shift
	until "$@"; do
		[ "$(date +%s)" -lt "$end" ] || return 1
		sleep 0.2
	done
}

# running NAME PIDFILE LOG: dies, with the log's tail, if the process is gone.
running() {
	kill -0 "$(cat "$2")" 2>/dev/null && return 0
	tail -n 30 "$3" >&2
	die "$1 exited"
}

# start_patroni NODE: Patroni for state/NODE, in a session of its own, as
# the cluster's user; its PID in state/NODE/patroni.pid.
start_patroni() {
	local node=$1
	(cd "$state/$node" && exec setsid "${run_as[@]}" env HOME="$state/$node" \
		patroni "$state/$node/patroni.yml") >>"$state/$node/patroni.log" 2>&1 </dev/null &
	echo $! >"$state/$node/patroni.pid"
}

# members: one line per Patroni member, "NAME ROLE STATE" (roles: Leader,
# Sync-Standby, Replica; states: running, streaming, stopped, ...).
members() {
	timeout 15 patronictl -c "$state/pg1/patroni.yml" list -f json 2>/dev/null | python3 -c '
import json, sys
for m in json.load(sys.stdin):
    print(m["Member"], m["Role"].replace(" ", "-"), m["State"])'
}

# member NODE ROLE STATES: Patroni lists NODE so (STATES an extended regex).
member() {
	running "Patroni $1" "$state/$1/patroni.pid" "$state/$1/patroni.log" &&
		grep -Eq "^$1 $2 ($3)\$" <<<"$(members)"
}

# start_relay N: vigild with state/relayN/vigild.conf under supervise.sh,
# in a session of its own; the supervisor's PID in state/relayN/supervise.pid,
# the relay's in state/relayN/vigild.pid.  PGPASSFILE must be set.
start_relay() {
	local n=$1
	setsid "$ha/supervise.sh" "$state/relay$n/vigild.pid" "$state/relay$n/ready" -- \
		"$vigild" -c "$state/relay$n/vigild.conf" --ready-file "$state/relay$n/ready" \
		>>"$state/relay$n/vigild.log" 2>&1 </dev/null &
	echo $! >"$state/relay$n/supervise.pid"
}
