#!/usr/bin/env bash
# deploy/ha/drill.sh: the failures of the pair that deploy/ha/up.sh started,
# one after the other, while a client submits contact attempts through the
# vigil tool with the relay list (one at a time, each retried with the same
# record id and time until it has a receipt, as a client must):
#
#   1. kill -9 of the active vigild: the standby serves; the supervisor
#      starts the killed one again, which waits as the new standby;
#   2. patronictl switchover: the PostgreSQL leader hands over to the
#      synchronous standby (planned maintenance);
#   3. kill -9 of the leader's postmaster: Patroni, still alive, starts it
#      again on the same node (crash recovery);
#   4. kill -9 of the leader node (its Patroni and its postmaster): the
#      standby is promoted once the leader key expires in etcd (ttl); with
#      synchronous_mode_strict nothing commits until a standby is back, so
#      the dead node's Patroni is started again (as its machine's init
#      would) and rejoins as the synchronous standby;
#   5. both at once: kill -9 of the active vigild and of the leader node.
#
# Then: every receipt the client holds is in the log at its index with its
# leaf hash and record id (psql), the monitor's checkpoint from before the
# drill is consistent with the log after it (vigil verify --log), and
# vigild --verify-db audits the whole log.  The times measured are printed
# at each step and in a table at the end (state/ha/drill/times).
#
#   deploy/ha/drill.sh                      after deploy/ha/up.sh
#   VIGIL_HA_STATE=DIR deploy/ha/drill.sh
# shellcheck source-path=SCRIPTDIR
# shellcheck disable=SC2154 # vigil, vigild, schema, admin_dsn...: state/ha/env
set -euo pipefail

ha=$(cd "$(dirname "$0")" && pwd)
state=${VIGIL_HA_STATE:-$(cd "$ha/../.." && pwd)/state/ha}
die() { echo "drill.sh: $*" >&2; exit 1; }
[ -f "$state/env" ] || die "no cluster in $state: run deploy/ha/up.sh first"
# shellcheck source=/dev/null
. "$state/env"
# shellcheck source=lib.sh
. "$ha/lib.sh"
export PGPASSFILE=$state/relay.pgpass
drill=$state/drill
rm -rf "$drill"
mkdir -p "$drill"
t_start=$(now_ms)
# Where the relays' logs stand: their lines from here on are the drill's.
log_lines=("$(wc -l <"$state/relay1/vigild.log")" "$(wc -l <"$state/relay2/vigild.log")")

say() { printf '\n\033[1m== %s\033[0m (%.1f s)\n' "$*" "$(($(now_ms) - t_start))e-3"; }
times=()
measured() {
	printf '   %s: %s ms\n' "$1" "$2"
	times+=("$(printf '%-58s %8s ms' "$1" "$2")")
}
pg() { psql "$admin_dsn" -v ON_ERROR_STOP=1 -Atq -F ' '; }

# Everything up.sh started must be running.
for f in etcd/pid pg1/patroni.pid pg2/patroni.pid relay1/supervise.pid relay2/supervise.pid; do
	if [ ! -s "$state/$f" ] || ! kill -0 "$(cat "$state/$f")" 2>/dev/null; then
		die "$state/$f: not running; start the cluster with deploy/ha/up.sh"
	fi
done

# active: the relay that serves (its ready file is written once it does);
# standby: the other.
active() {
	local n
	for n in 1 2; do
		if [ -s "$state/relay$n/ready" ] && kill -0 "$(cat "$state/relay$n/vigild.pid" 2>/dev/null)" 2>/dev/null; then
			echo "$n"
			return 0
		fi
	done
	return 1
}
# is_standby N: relay N's current run waits as a standby.
is_standby() {
	local pid
	pid=$(cat "$state/relay$1/vigild.pid" 2>/dev/null) || return 1
	kill -0 "$pid" 2>/dev/null && [ ! -s "$state/relay$1/ready" ] &&
		sed -n "/started .* (pid $pid)/,\$p" "$state/relay$1/vigild.log" |
		grep -q 'waiting as a standby'
}
# one_active_one_standby: the pair as it should be between two steps.
one_active_one_standby() {
	local a
	a=$(active) || return 1
	is_standby $((3 - a))
}
leader() { members | awk '$2 == "Leader" { print $1 }'; }
sync_standby_of() { member "$1" Sync-Standby 'running|streaming'; }
cluster_healthy() {
	local l
	l=$(leader) || return 1
	[ -n "$l" ] || return 1
	sync_standby_of "$([ "$l" = pg1 ] && echo pg2 || echo pg1)"
}

say "the cluster"
wait_for 60 cluster_healthy || die "no leader with a synchronous standby"
wait_for 30 one_active_one_standby || die "the relays are not one active, one standby"
patronictl -c "$state/pg1/patroni.yml" list
echo "relay$(active) is active, relay$((3 - $(active))) the standby"

vigil_as() { "$vigil" -c "$state/client/$1.conf" "${@:2}"; }
case_id=se-stockholm-coord/DRILL-$(date +%s)
say "case $case_id, and a monitor's checkpoint before the drill"
vigil_as se-stockholm-coord case open --case "$case_id" --risk low --return-country RU \
	--return-date "$(date -u -d "30 days ago" +%F)" --party iom-ru-moscow --consent share-with-iom
vigil_as se-stockholm-coord verify --log --state "$drill/monitor"

# The client: one contact attempt at a time.  A record is retried with the
# same --record-id and --at (the same bytes) until it has a receipt, so a
# record whose first answer was lost is answered as a duplicate with its
# original receipt.  receipts: TIME_MS RECORD_ID INDEX LEAF_HASH DUPLICATE
# ATTEMPTS START_MS (the time the receipt came; the time its attempt
# began); failures: TIME_MS RECORD_ID EXIT_STATUS MESSAGE.
submit_loop() {
	local i=0 rid at out rc tries begun
	while [ ! -e "$drill/stop" ]; do
		i=$((i + 1))
		rid=$(printf '%016x%016x' "$(date +%s%N)" "$i")
		at=$(date -u +%Y-%m-%dT%H:%M:%SZ)
		tries=0
		while :; do
			tries=$((tries + 1))
			rc=0
			begun=$(now_ms)
			out=$(vigil_as se-stockholm-coord --json --timeout 3000 contact --case "$case_id" \
				--channel phone --outcome reached-safe --at "$at" --record-id "$rid" \
				2>"$drill/last.err") || rc=$?
			if [ "$rc" -eq 0 ]; then
				printf '%s %s %s %s %s %s %s\n' "$(now_ms)" "$rid" \
					"$(sed -n 's/.*"index":\([0-9]*\).*/\1/p' <<<"$out")" \
					"$(sed -n 's/.*"leaf_hash":"\([0-9a-f]*\)".*/\1/p' <<<"$out")" \
					"$(sed -n 's/.*"duplicate":\([a-z]*\).*/\1/p' <<<"$out")" \
					"$tries" "$begun" >>"$drill/receipts"
				break
			fi
			printf '%s %s %s %s\n' "$(now_ms)" "$rid" "$rc" \
				"$(head -n 1 "$drill/last.err")" >>"$drill/failures"
			# Given up only when stopping, after 20 s of trying.
			if [ -e "$drill/stop" ] && [ "$tries" -ge 100 ]; then
				printf '%s %s\n' "$(now_ms)" "$rid" >>"$drill/abandoned"
				break
			fi
			sleep 0.2
		done
	done
}
: >"$drill/receipts"
: >"$drill/failures"
submit_loop &
loop_pid=$!
stop_loop() {
	if [ -n "${loop_pid:-}" ]; then
		touch "$drill/stop"
		wait "$loop_pid" || true
		loop_pid=
	fi
}
trap stop_loop EXIT

# receipts_after T: receipts for attempts begun after T.
receipts_after() { awk -v t="$1" '$7 > t' "$drill/receipts" | wc -l; }
# receipted_after AFTER_MS N: N receipts later than AFTER_MS.
receipted_after() { [ "$(receipts_after "$1")" -ge "$2" ]; }
# wait_receipts N AFTER_MS SECONDS
wait_receipts() { wait_for "$3" receipted_after "$2" "$1"; }
# first_receipt_after T: the first receipt for an attempt begun after T.
first_receipt_after() { awk -v t="$1" '$7 > t { print $1; exit }' "$drill/receipts"; }
# longest_gap FROM TO: the longest time without a receipt from the last
# receipt before FROM to the first one after TO.
longest_gap() {
	awk -v f="$1" -v t="$2" '
		$1 <= f { prev = $1; next }
		{ if (prev != "" && $1 - prev > max) max = $1 - prev; prev = $1 }
		$1 > t { exit }
		END { print max + 0 }' "$drill/receipts"
}

wait_for 30 receipted_after 0 5 || die "the client has no receipts: $(tail -n 3 "$drill/failures")"

# ---------------------------------------------------------------------
a=$(active)
s=$((3 - a))
say "1. kill -9 of the active relay, relay$a (vigild pid $(cat "$state/relay$a/vigild.pid"))"
t=$(now_ms)
kill -KILL "$(cat "$state/relay$a/vigild.pid")"
served() { [ -s "$state/relay$1/ready" ]; }
# Polled every 10 ms here, for the measurement.
end=$((t + 30000))
until served "$s"; do
	[ "$(now_ms)" -lt "$end" ] || die "relay$s does not serve 30 s after the kill"
	sleep 0.01
done
t_serving=$(now_ms)
wait_for 30 receipted_after "$t" 1 || die "no receipt 30 s after the kill"
measured "relay: kill -9 to the standby serving" $((t_serving - t))
measured "relay: kill -9 to the client's next receipt" $(($(first_receipt_after "$t") - t))
measured "relay: longest time without a receipt" "$(longest_gap "$t" "$t")"
wait_for 30 one_active_one_standby || die "relay$a did not come back as the standby"
echo "   relay$s is active; relay$a, started again by its supervisor, waits as the standby"
wait_receipts 5 "$(now_ms)" 30 || die "no receipts after step 1"

# ---------------------------------------------------------------------
l=$(leader)
c=$([ "$l" = pg1 ] && echo pg2 || echo pg1)
say "2. patronictl switchover: the PostgreSQL leader $l hands over to $c"
t=$(now_ms)
timeout 120 patronictl -c "$state/pg1/patroni.yml" switchover --leader "$l" --candidate "$c" \
	--force >"$drill/switchover.out" 2>&1 || { cat "$drill/switchover.out"; die "switchover failed"; }
t_done=$(now_ms)
wait_for 60 receipted_after "$t_done" 1 || die "no receipt 60 s after the switchover"
measured "switchover: patronictl's command" $((t_done - t))
measured "switchover: longest time without a receipt" "$(longest_gap "$t" "$t_done")"
wait_for 90 cluster_healthy || die "no synchronous standby 90 s after the switchover"
measured "switchover: start to $l synchronous standby again" $(($(now_ms) - t))
wait_for 60 one_active_one_standby || die "the relays are not one active, one standby"
echo "   relay$(active) is active"
wait_receipts 5 "$(now_ms)" 30 || die "no receipts after step 2"

# ---------------------------------------------------------------------
l=$(leader)
pm=$(head -n 1 "$state/$l/data/postmaster.pid")
say "3. kill -9 of the leader's postmaster ($l, pid $pm); its Patroni stays"
t=$(now_ms)
kill -KILL "$pm"
wait_for 60 receipted_after "$t" 1 || die "no receipt 60 s after the postmaster was killed"
measured "postmaster: kill -9 to the client's next receipt" $(($(first_receipt_after "$t") - t))
measured "postmaster: longest time without a receipt" "$(longest_gap "$t" "$t")"
wait_for 90 cluster_healthy || die "no leader with a synchronous standby 90 s after the kill"
echo "   leader now: $(leader)"
wait_for 60 one_active_one_standby || die "the relays are not one active, one standby"
echo "   relay$(active) is active"
wait_receipts 5 "$(now_ms)" 30 || die "no receipts after step 3"

# node_crash STEP WHAT [RELAY]: kill -9 of the leader node (its Patroni and
# its postmaster), and of relay RELAY's vigild at the same moment if given;
# the node's Patroni is started again once the other is promoted.
node_crash() {
	local step=$1 what=$2 relay=${3:-} l r pm pp t t_promoted pids
	l=$(leader)
	r=$([ "$l" = pg1 ] && echo pg2 || echo pg1)
	pm=$(head -n 1 "$state/$l/data/postmaster.pid")
	pp=$(cat "$state/$l/patroni.pid")
	pids=("$pp" "$pm")
	if [ -n "$relay" ]; then
		pids+=("$(cat "$state/relay$relay/vigild.pid")")
		say "$step. kill -9 of the leader node $l (Patroni $pp, postmaster $pm) and of the active relay$relay (vigild ${pids[2]})"
	else
		say "$step. kill -9 of the leader node $l: its Patroni (pid $pp) and its postmaster (pid $pm)"
	fi
	t=$(now_ms)
	kill -KILL "${pids[@]}"
	wait_for 90 member "$r" Leader running || die "$r was not promoted within 90 s"
	t_promoted=$(now_ms)
	measured "$what: kill -9 to $r promoted (Patroni ttl 15 s)" $((t_promoted - t))
	# Strict synchronous mode: nothing commits while the new leader has
	# no standby.  The client's submissions wait or are answered
	# UNAVAILABLE.
	sleep 5
	echo "   receipts while $r had no standby (until 5 s after its promotion): $(receipts_after "$t")"
	local t_restart
	t_restart=$(now_ms)
	start_patroni "$l"
	echo "   $l's Patroni started again (pid $(cat "$state/$l/patroni.pid")), as its machine would"
	wait_for 120 sync_standby_of "$l" || die "$l did not rejoin as the synchronous standby within 120 s"
	measured "$what: restart of $l to synchronous standby" $(($(now_ms) - t_restart))
	wait_for 60 receipted_after "$t" 1 || die "no receipt 60 s after $l rejoined"
	measured "$what: kill -9 to the client's next receipt" $(($(first_receipt_after "$t") - t))
	wait_for 60 one_active_one_standby || die "the relays are not one active, one standby"
	echo "   relay$(active) is active"
	wait_receipts 5 "$(now_ms)" 30 || die "no receipts after step $step"
}

node_crash 4 node

# ---------------------------------------------------------------------
node_crash 5 both "$(active)"

# ---------------------------------------------------------------------
say "the client stops; every receipt checked against the log"
stop_loop
trap - EXIT
n=$(wc -l <"$drill/receipts")
dups=$(awk '$5 == "true"' "$drill/receipts" | wc -l)
retried=$(awk '$6 > 1' "$drill/receipts" | wc -l)
fails=$(wc -l <"$drill/failures")
abandoned=0
[ ! -f "$drill/abandoned" ] || abandoned=$(wc -l <"$drill/abandoned")
echo "   $n records receipted ($retried after a retry, $dups of them answered as duplicates:"
echo "   the earlier attempt had been stored); $fails failed attempts; $abandoned abandoned"
echo "   the failed attempts, by exit status and message:"
cut -d' ' -f3- "$drill/failures" | sed -E 's/:[0-9]{2,}/:PORT/g; s/port [0-9]+/port PORT/g;
	s/[0-9]+ ms/N ms/g' | sort | uniq -c | sort -rn | head -n 10 |
	awk '{ n = $1; rc = $2; $1 = $2 = ""; sub(/^ +/, ""); printf "   %5d x exit %s: %s\n", n, rc, $0 }'

awk '{ print $3 "\t" $4 "\t" $2 }' "$drill/receipts" >"$drill/receipts.tsv"
read -r total found in_case < <(pg <<SQL
CREATE TEMP TABLE r(idx bigint, leaf text, rid text);
\copy r FROM '$drill/receipts.tsv'
SELECT (SELECT count(*) FROM r),
       (SELECT count(*) FROM r JOIN $schema.entries e ON e.idx = r.idx
          AND e.leaf_hash = decode(r.leaf, 'hex') AND e.record_id = decode(r.rid, 'hex')),
       (SELECT count(*) FROM $schema.entries WHERE case_id = '$case_id');
SQL
)
echo "   receipts: $total; in the log at their index with their leaf hash and record id: $found"
echo "   entries of $case_id in the log: $in_case (its opening, and every record receipted)"
if [ "$total" -ne "$n" ] || [ "$found" -ne "$n" ]; then
	die "receipted records missing from the log"
fi
# A record abandoned unanswered may or may not have been stored; anything
# else in the case is the client's.
if [ "$in_case" -lt $((n + 1)) ] || [ "$in_case" -gt $((n + 1 + abandoned)) ]; then
	die "the case holds $in_case entries for $n receipts"
fi

echo "   the relays' exits during the drill (their supervisors started each again):"
for n in 1 2; do
	tail -n +$((log_lines[n - 1] + 1)) "$state/relay$n/vigild.log" |
		sed -n 's/.*supervise: .* exited with \(status [0-9]*\)/\1/p' | sort | uniq -c |
		sed "s/^/   relay$n: /"
done
grep -h 'stepping down' "$state"/relay?/vigild.log | sed 's/^<[0-9]>/   /' | head -n 3 || true

say "the monitor: the log after the drill extends its checkpoint from before"
vigil_as se-stockholm-coord verify --log --state "$drill/monitor"

say "vigild --verify-db: every entry, signature, tree node and checkpoint"
"$vigild" -c "$state/relay1/vigild.conf" --verify-db

say "what was measured"
printf '%s\n' "${times[@]}" | tee "$drill/times"
echo
echo "Relay logs: $state/relay?/vigild.log (the supervisor's lines have the time)."
