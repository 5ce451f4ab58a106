#!/usr/bin/env bash
# deploy/ha/supervise.sh PIDFILE READYFILE -- vigild ARGS...
#
# What systemd does for vigild.service (Restart=on-failure, RestartSec=2s),
# for the local pair that deploy/ha/up.sh starts: runs the command, writes
# its PID to PIDFILE, and starts it again 2 s after it exits with a status
# other than 0 (a relay that stepped down, 75; one killed with -9; one that
# could not reach its database).  Status 0 (a relay stopped with SIGTERM)
# ends the supervision.  SIGTERM or SIGINT to this script is passed on to
# the command, which is waited for, and ends it too.  READYFILE is removed
# before every start (vigild --ready-file writes it once it serves).
# Every start and exit is logged on stderr with the time.
set -euo pipefail

if [ "$#" -lt 4 ] || [ "$3" != -- ]; then
	echo "usage: supervise.sh PIDFILE READYFILE -- COMMAND [ARG...]" >&2
	exit 2
fi
pidfile=$1
ready=$2
shift 3

child=
stopping=
on_signal() {
	stopping=1
	if [ -n "$child" ]; then
		kill -TERM "$child" 2>/dev/null || true
	fi
}
trap on_signal TERM INT

say() { printf '%s supervise: %s\n' "$(date -u +%Y-%m-%dT%H:%M:%S.%3NZ)" "$*" >&2; }

while [ -z "$stopping" ]; do
	rm -f "$ready"
	"$@" &
	child=$!
	echo "$child" >"$pidfile"
	say "started $1 (pid $child)"
	status=0
	# wait returns early when a trapped signal arrives: wait again for
	# the child, which the trap told to stop.
	while :; do
		status=0
		wait "$child" || status=$?
		kill -0 "$child" 2>/dev/null || break
	done
	child=
	say "$1 exited with status $status"
	if [ -n "$stopping" ] || [ "$status" -eq 0 ]; then
		break
	fi
	for _ in 1 2 3 4 5 6 7 8 9 10; do
		[ -z "$stopping" ] || break
		sleep 0.2
	done
	[ -z "$stopping" ] || break
	say "starting it again (Restart=on-failure)"
done
rm -f "$pidfile"
