#!/usr/bin/env bash
# tests/bench/run.sh ingest|latency|scale|alerts|handshakes|conns|mixed -- vigil's benchmarks (DESIGN.md
# section 9), against a real vigild on loopback.
#
# Builds a Release tree (build/bench, or $VIGIL_BENCH_BUILD), makes a PKI with
# certs/mkpki.sh in a scratch directory, writes a relay configuration (port 0,
# --ready-file), starts vigild, runs the measurement with tests/bench's
# client, stops vigild with SIGTERM and prints one "name: value" line per
# figure on stdout (and "# " comment lines); everything else goes to stderr.
#
#   ingest   one connection pipelining signed records:
#            records_per_s, p50_ms, p99_ms, verify_rate_single_core,
#            ingest_ratio (records_per_s / openssl speed ecdsap256 verify/s)
#   latency  BENCH_RATE records/s on a fixed schedule: rate, p50_ms, p99_ms,
#            max_ms; fsync_p99_ms (this disk: 4 KiB write + fdatasync in a
#            loop in the database's directory, before the relay starts) and
#            p99_over_fsync_ms (p99_ms - fsync_p99_ms)
#   scale    BENCH_ENTRIES entries written as a schema-1 database, migrated
#            by vigild, then a restart: entries, populate_s, migrate_s,
#            startup_s, proof_p50_ms, proof_p99_ms
#
#   handshakes  one sequential client, full then resumed TLS 1.3 handshakes:
#            full_handshakes_per_s, resumed_handshakes_per_s, resumed_over_full,
#            openssl_s_time_new_per_s (openssl s_time -new, for comparison)
#
# Environment:
#   alerts   BENCH_ALERT_CASES high-risk cases opened at once, each missing its
#            deadline after BENCH_ALERT_WINDOW s: alerts, alert_delay_p50_ms,
#            alert_delay_p99_ms, alert_delay_max_ms (deadline to delivery)
#   conns    BENCH_CONNS idle mTLS sessions opened and closed BENCH_ROUNDS
#            times: rss_base_mib, rss_open_mib, rss_per_conn_kib,
#            rss_after_close_mib_N (each round), rss_after_close_mib, and
#            good_p50_ms, good_p99_ms of a client at BENCH_GOOD_RATE
#            records/s for BENCH_SECONDS while the first round's are open
#   mixed    BENCH_ORGS organisations connected, BENCH_SUBSCRIBERS subscribed to
#            alerts, BENCH_CASES cases, BENCH_MIXED_RATE records/s and
#            BENCH_QUERY_RATE queries/s for BENCH_SECONDS (default 30), the
#            silence deadlines of BENCH_HIGH_CASES high-risk cases expiring
#            ([watchdog] high = BENCH_MIXED_WINDOW s): submit_, status_, log_,
#            proof_ and alert_delivery_ p50/p99/max_ms, loop_lag_max_ms, counts
#   BENCH_BACKEND        sqlite (default) or postgresql: the relay's log on a scratch
#                        PostgreSQL server (tests/pg/pg.sh), for ingest, latency and the rest
#                        but scale
#   BENCH_SECONDS        length of each timed phase (default 10)
#   BENCH_RATE           latency: records per second (default 1000)
#   BENCH_WINDOW         ingest: submissions outstanding (default 250; the relay reads no more
#                        than 256 in flight from one connection)
#   BENCH_ENTRIES        scale: entries in the log (default 1000000)
#   BENCH_PROOFS         scale: at most this many proofs (default 10000)
#   BENCH_SPEED_SECONDS  ingest: length of openssl speed (default 3)
#   BENCH_CONNS          conns: idle sessions (default 10000)
#   BENCH_ROUNDS         conns: rounds of opening and closing them (default 3)
#   BENCH_GOOD_RATE      conns: the good client's records per second (default 100)
#   BENCH_SETTLE         conns: seconds to wait before each RSS reading (default 2)
#   BENCH_FSYNC_SECONDS  latency: length of the fsync probe (default 2)
#   BENCH_VERIFY_DB=1    scale: also run vigild --verify-db on the migrated log
#   BENCH_KEEP=1         keep the scratch directory (its path goes to stderr)
#   BENCH_NO_BUILD=1     use the tree in VIGIL_BENCH_BUILD as it is
#   VIGIL_BENCH_BUILD    build directory (default build/bench in the source)
#
# The machine's cores are shared by the relay and the client; see README.md.
set -euo pipefail
export LC_ALL=C

usage() {
    echo "usage: $0 ingest|latency|scale|alerts|handshakes|conns|mixed" >&2
    exit 2
}
[ "$#" -eq 1 ] || usage
mode=$1
case $mode in ingest | latency | scale | alerts | handshakes | conns | mixed) ;; *) usage ;; esac

here=$(cd "$(dirname "$0")/../.." && pwd)
seconds=${BENCH_SECONDS:-10}
rate=${BENCH_RATE:-1000}
window=${BENCH_WINDOW:-250}
entries=${BENCH_ENTRIES:-1000000}
proofs=${BENCH_PROOFS:-10000}
alert_cases=${BENCH_ALERT_CASES:-1000}
alert_window=${BENCH_ALERT_WINDOW:-5}
speed_seconds=${BENCH_SPEED_SECONDS:-3}
conns=${BENCH_CONNS:-10000}
rounds=${BENCH_ROUNDS:-3}
good_rate=${BENCH_GOOD_RATE:-100}
settle=${BENCH_SETTLE:-2}
mixed_orgs=${BENCH_ORGS:-1000}
mixed_subscribers=${BENCH_SUBSCRIBERS:-100}
mixed_cases=${BENCH_CASES:-2000}
mixed_high=${BENCH_HIGH_CASES:-200}
mixed_rate=${BENCH_MIXED_RATE:-200}
mixed_query_rate=${BENCH_QUERY_RATE:-50}
mixed_window=${BENCH_MIXED_WINDOW:-10}
fsync_seconds=${BENCH_FSYNC_SECONDS:-2}
build=${VIGIL_BENCH_BUILD:-$here/build/bench}
jobs=$(nproc 2>/dev/null || echo 2)
origin=bench.vigil.example/log

say() { echo "run.sh: $*" >&2; }
die() {
    say "$*"
    exit 1
}

# ---- build --------------------------------------------------------------

if [ "${BENCH_NO_BUILD:-0}" != 1 ]; then
    say "building a Release tree in $build"
    cmake -S "$here" -B "$build" -DCMAKE_BUILD_TYPE=Release -DVIGIL_TESTS=ON >&2
    # Every mode's program, so that BENCH_NO_BUILD=1 runs any mode after.
    cmake --build "$build" --target vigild vigil_bench vigil_bench_populate vigil_bench_conns \
        vigil_bench_mixed vigil_bench_handshakes vigil_bench_fsync -j "$jobs" >&2
    # A build leaves tens of MB of dirty pages that the kernel writes back
    # over the next 30 s (vm.dirty_expire_centisecs), into the first run's
    # timed phase, where they compete with the relay's fsyncs: written now.
    sync
fi
vigild=$build/daemon/vigild
bench=$build/tests/bench/vigil-bench
populate=$build/tests/bench/vigil-bench-populate
conns_bench=$build/tests/bench/vigil-bench-conns
mixedbench=$build/tests/bench/vigil-bench-mixed
fsync_probe=$build/tests/bench/vigil-bench-fsync
for f in "$vigild" "$bench" "$populate" "$fsync_probe"; do
    [ -x "$f" ] || die "$f is missing; build first"
done

# ---- scratch directory, PKI, configuration --------------------------------

work=$(mktemp -d -t vigil-bench.XXXXXX)
pid=

# True while the relay runs (a zombie has exited).
relay_alive() {
    local state
    state=$(awk '{ sub(/.*\) /, ""); print $1 }' "/proc/$1/stat" 2>/dev/null || echo gone)
    [ "$state" != Z ] && [ "$state" != gone ]
}

# Stops the relay we started (by its PID) with SIGTERM; SIGKILL after 30 s.
# Returns vigild's exit status.
stop_relay() {
    [ -n "$pid" ] || return 0
    local p=$pid i
    pid=
    kill -TERM "$p" 2>/dev/null || true
    for ((i = 0; i < 300; i++)); do
        relay_alive "$p" || break
        sleep 0.1
    done
    if [ "$i" -ge 300 ]; then
        say "vigild (pid $p) did not stop within 30 s of SIGTERM; killing it"
        kill -KILL "$p" 2>/dev/null || true
    fi
    local rc=0
    wait "$p" || rc=$?
    return "$rc"
}

cleanup() {
    local rc=$?
    stop_relay || true
    if [ -n "${pgdir:-}" ]; then
        sh "$here/tests/pg/pg.sh" stop "$pgdir/pg" || true
        rm -rf -- "$pgdir"
    fi
    if [ "${BENCH_KEEP:-0}" = 1 ] || [ "$rc" -ne 0 ]; then
        [ "$rc" -ne 0 ] && [ -s "$work/vigild.log" ] && {
            say "last lines of vigild's log:"
            tail -n 20 "$work/vigild.log" >&2
        }
        say "scratch directory kept: $work"
    else
        rm -rf -- "$work"
    fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

bash "$here/certs/mkpki.sh" "$work/pki" >&2
# BENCH_BACKEND=postgresql: the relay's log on a scratch PostgreSQL server
# (tests/pg/pg.sh, loopback), in a directory the unprivileged server user
# can reach; stopped and removed with the scratch directory.
backend=${BENCH_BACKEND:-sqlite}
case $backend in
sqlite) store_conf="path = vigil.db" ;;
postgresql)
    [ "$mode" != scale ] || die "scale builds an SQLite file: BENCH_BACKEND=sqlite only"
    pgdir=$(mktemp -d /tmp/vigil-bench-pg.XXXXXX)
    chmod 755 "$pgdir"
    pg_dsn=$(sh "$here/tests/pg/pg.sh" start "$pgdir/pg")
    store_conf="backend = postgresql
dsn = $pg_dsn"
    ;;
*) die "BENCH_BACKEND is sqlite or postgresql, not $backend" ;;
esac
echo "# store: $backend"
listen_extra=
if [ "$mode" = mixed ]; then
    # One member organisation per connection: key, certificate and directory
    # section each, made with OpenSSL's library (borgs.c) before the relay
    # starts; the time it took is a comment line.
    "$mixedbench" orgs --pki "$work/pki" --orgs "$mixed_orgs"
    # Every organisation connects at once from one address; the relay needs
    # a descriptor per connection, and so does the client.
    listen_extra="max_connections = $((mixed_orgs + 100))
max_handshakes_per_address = 64"
    want_fds=$((mixed_orgs + 512))
    hard_fds=$(ulimit -Hn)
    [ "$hard_fds" = unlimited ] || [ "$hard_fds" -ge "$want_fds" ] ||
        die "ulimit -Hn is $hard_fds; $mixed_orgs organisations need $want_fds descriptors"
    ulimit -n "$want_fds"
fi

# Paths are relative to the configuration file's directory.
cat >"$work/vigild.conf" <<EOF
[listen]
address = 127.0.0.1
port = 0
$listen_extra

[tls]
cert = pki/relay.crt
key = pki/relay.key
ca = pki/ca.crt
crl = pki/crl.pem

[store]
$store_conf

[directory]
path = pki/directory.conf

[log]
origin = $origin
checkpoint_key = pki/checkpoint.key
EOF
if [ "$mode" = alerts ]; then
    # Every case opened in the run misses its deadline after this window.
    printf '\n[watchdog]\nhigh = %ss\n' "$alert_window" >>"$work/vigild.conf"
elif [ "$mode" = mixed ]; then
    # High-risk cases go silent within seconds, so that their deadlines
    # expire (and alerts are delivered) while the load runs; the other
    # watchdog rules keep their defaults.  The loop lag is read from the
    # metrics page, on a free loopback port.
    printf '\n[watchdog]\nhigh = %ss\n' "$mixed_window" >>"$work/vigild.conf"
    metrics_port=
    for ((i = 0; i < 50; i++)); do
        p=$((20000 + RANDOM % 40000))
        if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then
            metrics_port=$p
            break
        fi
    done
    [ -n "$metrics_port" ] || die "no free loopback port for the metrics"
    printf '\n[metrics]\naddress = 127.0.0.1\nport = %s\n' "$metrics_port" >>"$work/vigild.conf"
else
    # The records of the other modes are not about alerts: none early.
    printf '\n[watchdog]\nfailed_attempts = 1000000\n' >>"$work/vigild.conf"
fi

if [ "$mode" = conns ]; then
    # Room for every session, relay and client alike (both inherit this
    # shell's limit), and no limit of the relay's in the way: sessions
    # above the cap, handshakes in the pool (the client keeps 32 under
    # way, all from 127.0.0.1: max_handshakes_per_address would refuse
    # the rest) and the idle timeout.
    need=$((conns + 256))
    [ "$(ulimit -Hn)" = unlimited ] || [ "$(ulimit -Hn)" -ge "$need" ] ||
        die "conns: $conns sessions need $need descriptors; the hard limit is $(ulimit -Hn)"
    ulimit -n "$need"
    printf '\n[listen]\nmax_connections = %s\nmax_handshakes = 256\nmax_handshakes_per_address = 256\nidle_timeout = 1h\n' \
        "$((conns + 64))" >>"$work/vigild.conf"
fi

# Starts vigild in the background; t0 is the moment just before the fork.
start_relay() {
    rm -f -- "$work/ready"
    # A new log only when asked (the scale mode brings its own database).
    if [ ! -e "$work/vigil.db" ] && [ ! -e "$work/initialized" ]; then
        "$vigild" -c "$work/vigild.conf" --init-db >>"$work/vigild.log" 2>&1
        touch "$work/initialized"
    fi
    t0=$EPOCHREALTIME
    "$vigild" -c "$work/vigild.conf" --ready-file "$work/ready" >>"$work/vigild.log" 2>&1 &
    pid=$!
}

# Waits (at most 30 s) for the ready file; prints the port.
wait_ready() {
    local i
    for ((i = 0; i < 3000; i++)); do
        if [ -s "$work/ready" ]; then
            cat "$work/ready"
            return 0
        fi
        relay_alive "$pid" || die "vigild exited before it was ready"
        sleep 0.01
    done
    die "vigild was not ready within 30 s"
}

cpu_model=$(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo)
echo "# machine: $(nproc) cores, ${cpu_model:-unknown CPU}, $(openssl version | awk '{ print $1, $2 }')"

# The relay logs at shutdown how late its event loop ran a 50 ms timer
# (the loop-lag probe, daemon/relay.c): the proof that nothing blocks it.
report_loop_lag() {
    awk '/event loop lag: max/ { sub(/.*max /, ""); sub(/ ms.*/, ""); v = $0 }
         END { if (v != "") print "loop_lag_max_ms: " v }' "$work/vigild.log"
}

# ---- the measurements -------------------------------------------------------

case $mode in
handshakes)
    start_relay
    port=$(wait_ready)
    "$build/tests/bench/vigil-bench-handshakes" --port "$port" --pki "$work/pki" \
        --seconds "$seconds"
    # As Mosquitto's figure was measured: openssl s_time offers no ALPN, so
    # the relay closes each connection after the handshake (its log says
    # so at debug level only); -new makes every one a full handshake.
    # s_time rounds its "real seconds": the run is timed here instead.
    st0=$EPOCHREALTIME
    n=$(openssl s_time -connect "127.0.0.1:$port" -new -cert "$work/pki/iom-ru-moscow.crt" \
        -key "$work/pki/iom-ru-moscow.key" -CAfile "$work/pki/ca.crt" -time "$seconds" \
        2>/dev/null | awk '/connections in [0-9]+ real seconds/ { print $1 }' || true)
    st1=$EPOCHREALTIME
    [ -n "$n" ] && awk -v n="$n" -v a="$st0" -v b="$st1" \
        'BEGIN { printf "openssl_s_time_new_per_s: %.0f\n", n / (b - a) }'
    stop_relay || die "vigild exited with an error"
    ;;
mixed)
    echo "# load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
    start_relay
    port=$(wait_ready)
    "$mixedbench" run --port "$port" --pki "$work/pki" --origin "$origin" \
        --orgs "$mixed_orgs" --subscribers "$mixed_subscribers" --cases "$mixed_cases" \
        --high "$mixed_high" --seconds "${BENCH_SECONDS:-30}" --rate "$mixed_rate" \
        --query-rate "$mixed_query_rate" --metrics-port "$metrics_port" --relay-pid "$pid"
    echo "# load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
    stop_relay || die "vigild exited with an error"
    # The relay's own account, over its whole life (set-up included).
    report_loop_lag | sed 's/^loop_lag_max_ms: /# loop lag max over the relay'"'"'s whole run (log): /; s/$/ ms/'
    ;;
alerts)
    start_relay
    port=$(wait_ready)
    "$bench" alerts --port "$port" --pki "$work/pki" --origin "$origin" \
        --cert se-stockholm-coord --max "$alert_cases" --timeout $((alert_window + 60))
    stop_relay || die "vigild exited with an error"
    ;;
ingest)
    # The single-core verify rate, measured before the relay starts so
    # that nothing else competes for the core.
    say "openssl speed -seconds $speed_seconds -elapsed ecdsap256"
    verify_rate=$(openssl speed -seconds "$speed_seconds" -elapsed ecdsap256 2>/dev/null |
        awk '/256 bits ecdsa \(nistp256\)/ { print int($NF) }')
    if [ -z "$verify_rate" ] || [ "$verify_rate" -le 0 ]; then
        die "cannot parse the output of openssl speed"
    fi
    # The relay verifies on at most all cores, so it cannot receipt more
    # than cores x verify rate per second: that many pre-signed records
    # always last the whole run.
    records=$(awk -v v="$verify_rate" -v c="$jobs" -v s="$seconds" \
        'BEGIN { printf "%d", v * c * s + 1000 }')
    start_relay
    port=$(wait_ready)
    # Signing happens before the clock starts (see vigil_bench.c); the
    # relay is idle meanwhile.
    "$bench" ingest --port "$port" --pki "$work/pki" --origin "$origin" --relay-pid "$pid" \
        --seconds "$seconds" --window "$window" --records "$records" --threads "$jobs" |
        tee "$work/out"
    stop_relay || die "vigild exited with an error"
    report_loop_lag
    rps=$(awk '/^records_per_s:/ { print $2 }' "$work/out")
    echo "verify_rate_single_core: $verify_rate"
    awk -v r="$rps" -v v="$verify_rate" 'BEGIN { printf "ingest_ratio: %.2f\n", r / v }'
    ;;
latency)
    # This disk's own fsync tail, on the database's filesystem, before the
    # relay starts (nothing of the relay competes with it).
    "$fsync_probe" --dir "$work" --seconds "$fsync_seconds" | tee "$work/fsync"
    start_relay
    port=$(wait_ready)
    "$bench" latency --port "$port" --pki "$work/pki" --origin "$origin" --relay-pid "$pid" \
        --seconds "$seconds" --rate "$rate" --threads "$jobs" | tee "$work/out"
    stop_relay || die "vigild exited with an error"
    report_loop_lag
    awk '/^p99_ms:/ { p = $2 } /^fsync_p99_ms:/ { f = $2 }
         END { printf "p99_over_fsync_ms: %.3f\n", p - f }' "$work/out" "$work/fsync"
    ;;
conns)
    [ -x "$conns_bench" ] || die "$conns_bench is missing; build first"
    start_relay
    port=$(wait_ready)
    # While the first round's sessions are open, a good client submits at
    # a modest rate (vigil-bench latency): its figures come out as good_*.
    "$conns_bench" --port "$port" --pki "$work/pki" --relay-pid "$pid" --conns "$conns" \
        --rounds "$rounds" --settle "$settle" -- \
        "$bench" latency --port "$port" --pki "$work/pki" --origin "$origin" \
        --seconds "$seconds" --rate "$good_rate" --threads "$jobs"
    stop_relay || die "vigild exited with an error"
    report_loop_lag
    ;;
scale)
    echo "entries: $entries"
    say "writing $entries entries into a schema-1 database"
    "$populate" --pki "$work/pki" --db "$work/vigil.db" --entries "$entries" --threads "$jobs"
    # First start: vigild migrates to the current schema, building the tree
    # once, and logs the members' encryption certificates (one MemberKey
    # entry each) after the migrated entries.
    keys=$(grep -c '^encryption_cert' "$work/pki/directory.conf" || true)
    start_relay
    "$bench" startup --label migrate_s --t0 "$t0" --pid "$pid" --ready-file "$work/ready" \
        --pki "$work/pki" --origin "$origin" --expect-size "$((entries + keys))" --timeout 3600
    stop_relay || die "vigild exited with an error after the migration"
    grep -q "migrated" "$work/vigild.log" || die "vigild did not report a migration"
    # Restart of a process on a database of that size (the operating
    # system's page cache is warm: see README.md).
    start_relay
    "$bench" startup --label startup_s --t0 "$t0" --pid "$pid" --ready-file "$work/ready" \
        --pki "$work/pki" --origin "$origin" --expect-size "$((entries + keys))" --timeout 600
    port=$(cat "$work/ready")
    "$bench" proofs --port "$port" --pki "$work/pki" --origin "$origin" --relay-pid "$pid" \
        --seconds "$seconds" --max "$proofs"
    stop_relay || die "vigild exited with an error"
    if [ "${BENCH_VERIFY_DB:-0}" = 1 ]; then
        say "vigild --verify-db (re-verifies every signature: slow)"
        echo "# verify-db: $("$vigild" -c "$work/vigild.conf" --verify-db 2>&1 | tail -n 1)"
    fi
    ;;
esac
