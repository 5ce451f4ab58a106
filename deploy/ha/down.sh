#!/usr/bin/env bash
# deploy/ha/down.sh: stops what deploy/ha/up.sh (and drill.sh) started, by
# the PIDs they recorded in state/ha, and nothing else: the relays (their
# supervisors pass SIGTERM on: the relay drains and exits 0), the Patroni
# nodes, the standby first (each stops its PostgreSQL, fast shutdown), a
# postmaster left behind by a Patroni killed with -9, and etcd.  A process
# that does not end within its time is killed with SIGKILL, and said so.
# A PID whose process is not the one recorded (its command line does not
# name the state directory) is left alone.  The state directory stays (the
# log, the PostgreSQL data, the logs); up.sh starts afresh.
#
#   deploy/ha/down.sh                      state in ./state/ha
#   VIGIL_HA_STATE=DIR deploy/ha/down.sh
set -euo pipefail

here=$(cd "$(dirname "$0")/../.." && pwd)
state=${VIGIL_HA_STATE:-$here/state/ha}
[ -d "$state" ] || { echo "down.sh: nothing in $state"; exit 0; }

# alive PID: the process exists and is not a zombie.
alive() {
	local s
	s=$(awk '{ print $3 }' "/proc/$1/stat" 2>/dev/null) || return 1
	[ -n "$s" ] && [ "$s" != Z ]
}

# ours PID WORD: its command line names the state directory (or, for the
# supervisor, its script) and WORD.
ours() {
	local cmd
	cmd=$(tr '\0' ' ' <"/proc/$1/cmdline" 2>/dev/null) || return 1
	case $cmd in
	*"$state"*) ;;
	*) return 1 ;;
	esac
	[[ $cmd == *"$2"* ]]
}

# stop NAME PID WORD SIGNAL SECONDS
stop() {
	local name=$1 pid=$2 word=$3 sig=$4 secs=$5 i
	[ -n "$pid" ] || return 0
	if ! alive "$pid"; then
		return 0
	fi
	if ! ours "$pid" "$word"; then
		echo "$name: pid $pid is not ours any more; left alone"
		return 0
	fi
	kill "-$sig" "$pid" 2>/dev/null || true
	for ((i = 0; i < secs * 10; i++)); do
		alive "$pid" || { echo "$name (pid $pid) stopped"; return 0; }
		sleep 0.1
	done
	echo "$name (pid $pid) did not stop within $secs s after SIG$sig: SIGKILL"
	kill -KILL "$pid" 2>/dev/null || true
	for ((i = 0; i < 50; i++)); do
		alive "$pid" || return 0
		sleep 0.1
	done
	echo "$name (pid $pid) is still there" >&2
	return 1
}

pidof_file() { if [ -s "$1" ]; then head -n 1 "$1"; fi; }

failed=0
# The relays first: a relay stopped while its database is still up drains
# and answers what it received.
for n in 1 2; do
	d=$state/relay$n
	[ -d "$d" ] || continue
	stop "relay$n supervisor" "$(pidof_file "$d/supervise.pid")" supervise.sh TERM 40 || failed=1
	# A supervisor that was killed leaves its relay behind.
	stop "relay$n vigild" "$(pidof_file "$d/vigild.pid")" vigild TERM 40 || failed=1
	rm -f "$d/supervise.pid" "$d/vigild.pid" "$d/ready"
done

# The Patroni nodes, replicas before the leader (stopping the leader first
# would make the replica take over, for nothing).
nodes=()
if [ -f "$state/pg1/patroni.yml" ]; then
	leader=$(timeout 10 patronictl -c "$state/pg1/patroni.yml" list -f json 2>/dev/null |
		python3 -c '
import json, sys
try:
    print(" ".join(m["Member"] for m in json.load(sys.stdin) if m["Role"] == "Leader"))
except Exception:
    pass' || true)
	for node in pg1 pg2; do
		[ "$node" = "$leader" ] || nodes+=("$node")
	done
	[ -z "$leader" ] || nodes+=("$leader")
fi
for node in "${nodes[@]}"; do
	d=$state/$node
	stop "Patroni $node" "$(pidof_file "$d/patroni.pid")" patroni TERM 60 || failed=1
	rm -f "$d/patroni.pid"
	# A postmaster whose Patroni was killed goes on by itself: SIGINT is
	# PostgreSQL's fast shutdown.
	stop "PostgreSQL $node" "$(pidof_file "$d/data/postmaster.pid")" postgres INT 60 || failed=1
done

stop etcd "$(pidof_file "$state/etcd/pid")" etcd TERM 30 || failed=1
rm -f "$state/etcd/pid"

# Anything left that names the state directory is reported, not killed.
left=$(pgrep -a -f -- "$state/" || true)
if [ -n "$left" ]; then
	echo "down.sh: still running, naming $state:" >&2
	echo "$left" >&2
	failed=1
fi
[ "$failed" -eq 0 ] && echo "down: nothing of $state is running"
exit "$failed"
