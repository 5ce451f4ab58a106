#!/usr/bin/env bash
# deploy/ha/up.sh: a highly available vigil on loopback, for an operator to
# read and adapt (README.md, "High availability"):
#
#   etcd        one member                                 state/ha/etcd
#   pg1, pg2    PostgreSQL 15 under Patroni: a primary and  state/ha/pg1, pg2
#               a synchronous standby (synchronous_mode_strict)
#   relay1, 2   vigild on the schema "vigil": one active    state/ha/relay1, 2
#               (the schema's advisory lock), one standby
#
# Run as root it installs what is missing with apt-get and creates the
# system user vigil-ha (VIGIL_HA_USER), which runs etcd, Patroni and
# PostgreSQL (PostgreSQL refuses to run as root); the relays run as the
# caller, under deploy/ha/supervise.sh (systemd's Restart=on-failure).  Not
# as root, everything runs as the caller and the packages must be there.
#
# Every run starts a new cluster and a new, empty log: it deletes what an
# earlier run left in state/ha but the PKI.  PIDs go to state/ha/*/; stop
# everything with deploy/ha/down.sh, exercise the failures with
# deploy/ha/drill.sh.
#
#   deploy/ha/up.sh                      state in ./state/ha
#   VIGIL_HA_STATE=DIR deploy/ha/up.sh   (DIR reachable by the vigil-ha user)
# shellcheck source-path=SCRIPTDIR
set -euo pipefail

here=$(cd "$(dirname "$0")/../.." && pwd)
ha=$here/deploy/ha
state=${VIGIL_HA_STATE:-$here/state/ha}
build=$here/build/ha
ha_user=${VIGIL_HA_USER:-vigil-ha}
db_user=vigild
schema=vigil
t0=$(date +%s%3N)

die() { echo "up.sh: $*" >&2; exit 1; }
# shellcheck source=lib.sh
. "$ha/lib.sh"
say() { printf '\n\033[1m== %s\033[0m (%.1f s)\n' "$*" "$(($(now_ms) - t0))e-3"; }

case $state in
*[[:space:]\'\"\\\|\&]*) die "the state directory must not contain spaces, quotes, |, & or \\: $state" ;;
esac

for f in "$state"/etcd/pid "$state"/pg?/patroni.pid "$state"/pg?/data/postmaster.pid \
	"$state"/relay?/supervise.pid; do
	if [ -s "$f" ] && kill -0 "$(head -n 1 "$f")" 2>/dev/null; then
		die "already running ($f); stop it first with deploy/ha/down.sh"
	fi
done

# Packages: what vigild needs (as deploy/demo.sh), and the cluster's.
packages=(build-essential cmake pkg-config openssl sqlite3 libuv1-dev libssl-dev
	libprotobuf-c-dev protobuf-c-compiler libsqlite3-dev libinih-dev libsystemd-dev
	libmicrohttpd-dev libjansson-dev libpq-dev
	postgresql postgresql-client patroni python3-etcd etcd-server etcd-client python3)
missing=()
for p in "${packages[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" ||
		missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
	[ "$(id -u)" -eq 0 ] || die "missing packages: ${missing[*]} (run as root to install them)"
	say "installing ${missing[*]}"
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -qq
	# On a machine with systemd, the packages start their own etcd and a
	# PostgreSQL cluster "15/main" on the default ports; this setup uses
	# neither (its own ports, its own data directories).
	apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
pg_bin=$(find /usr/lib/postgresql -maxdepth 2 -name bin -type d 2>/dev/null | sort -V | tail -n 1)
[ -x "${pg_bin:-/nonexistent}/initdb" ] || die "PostgreSQL's programs are not in /usr/lib/postgresql/*/bin"

# The user that runs etcd, Patroni and PostgreSQL.
run_as=()
if [ "$(id -u)" -eq 0 ]; then
	if ! getent passwd "$ha_user" >/dev/null; then
		say "creating the system user $ha_user (runs etcd, Patroni and PostgreSQL)"
		useradd --system --user-group --home-dir /nonexistent --no-create-home \
			--shell /usr/sbin/nologin --comment "vigil HA demo (deploy/ha)" "$ha_user"
	fi
	ha_group=$(id -gn "$ha_user")
	run_as=(setpriv --reuid="$ha_user" --regid="$ha_group" --init-groups --)
else
	ha_user=$(id -un)
	ha_group=$(id -gn)
fi

say "building vigild and vigil in $build"
if [ ! -f "$build/CMakeCache.txt" ]; then
	cmake -S "$here" -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DVIGIL_TESTS=OFF >/dev/null
fi
cmake --build "$build" -j "$(nproc)" >/dev/null
vigild=$build/daemon/vigild
vigil=$build/client/vigil

say "development PKI in $state/pki"
mkdir -p "$state"
bash "$here/certs/mkpki.sh" "$state/pki"

# A fresh cluster: nothing of an earlier run but the PKI.
rm -rf "$state/etcd" "$state/pg1" "$state/pg2" "$state/relay1" "$state/relay2" \
	"$state/client" "$state/drill" "$state/env" "$state/admin.pgpass" "$state/relay.pgpass"
mkdir -p "$state/etcd" "$state/pg1" "$state/pg2" "$state/relay1" "$state/relay2" "$state/client"
chmod 0755 "$state"
if [ ${#run_as[@]} -gt 0 ]; then
	chown "$ha_user:$ha_group" "$state/etcd" "$state/pg1" "$state/pg2"
	"${run_as[@]}" test -x "$state" ||
		die "$ha_user cannot reach $state (a parent directory is closed to it); set VIGIL_HA_STATE"
fi
chmod 0700 "$state/etcd" "$state/pg1" "$state/pg2"

# Eight free loopback ports, each bound by the kernel at once and let go.
read -r etcd_client_port etcd_peer_port pg1_port pg2_port rest1_port rest2_port \
	relay1_port relay2_port < <(python3 -c '
import socket
s = [socket.socket() for _ in range(8)]
for x in s: x.bind(("127.0.0.1", 0))
print(" ".join(str(x.getsockname()[1]) for x in s))')

pw() { openssl rand -hex 16; }
superuser_password=$(pw)
repl_password=$(pw)
rewind_password=$(pw)
db_password=$(pw)

# fill TEMPLATE OUT KEY=VALUE...: every @KEY@ of TEMPLATE replaced.
fill() {
	local template=$1 out=$2 kv
	shift 2
	local args=()
	for kv in "$@"; do
		args+=(-e "s|@${kv%%=*}@|${kv#*=}|g")
	done
	sed "${args[@]}" "$template" >"$out"
	! grep -n '@[A-Z0-9_]*@' "$out" >&2 || die "$out: a placeholder is left"
}

# From here on a failure stops what was started.
started=
on_exit() {
	local status=$?
	if [ "$status" -ne 0 ] && [ -n "$started" ]; then
		echo "up.sh: failed; stopping what it started (deploy/ha/down.sh)" >&2
		"$ha/down.sh" >&2 || true
	fi
}
trap on_exit EXIT

say "etcd on 127.0.0.1:$etcd_client_port"
started=1
fill "$ha/etcd.yml.in" "$state/etcd/etcd.yml" STATE="$state" \
	ETCD_CLIENT_PORT="$etcd_client_port" ETCD_PEER_PORT="$etcd_peer_port"
# setsid: each service in a session of its own, not the caller's terminal's.
(cd "$state/etcd" && exec setsid "${run_as[@]}" env HOME="$state/etcd" \
	etcd --config-file "$state/etcd/etcd.yml") >"$state/etcd/etcd.log" 2>&1 </dev/null &
echo $! >"$state/etcd/pid"
etcd_healthy() {
	running etcd "$state/etcd/pid" "$state/etcd/etcd.log" &&
		etcdctl --endpoints="http://127.0.0.1:$etcd_client_port" --dial-timeout=1s \
			--command-timeout=2s endpoint health >/dev/null 2>&1
}
wait_for 30 etcd_healthy || { tail -n 20 "$state/etcd/etcd.log" >&2; die "etcd did not come up within 30 s"; }

# The environment of down.sh and drill.sh.
{
	for v in here state build vigild vigil pg_bin ha_user ha_group db_user schema \
		etcd_client_port etcd_peer_port pg1_port pg2_port rest1_port rest2_port \
		relay1_port relay2_port; do
		printf '%s=%q\n' "$v" "${!v}"
	done
	printf 'run_as=(%s)\n' "${run_as[*]@Q}"
} >"$state/env"

for node in pg1 pg2; do
	port=pg1_port rest=rest1_port
	[ "$node" = pg2 ] && port=pg2_port rest=rest2_port
	fill "$ha/patroni.yml.in" "$state/$node/patroni.yml" NAME="$node" STATE="$state" \
		REST_PORT="${!rest}" PG_PORT="${!port}" ETCD_CLIENT_PORT="$etcd_client_port" \
		PG_BIN="$pg_bin" REPL_USER=replicator SUPERUSER_PASSWORD="$superuser_password" \
		REPL_PASSWORD="$repl_password" REWIND_PASSWORD="$rewind_password"
	chmod 0600 "$state/$node/patroni.yml"
	[ ${#run_as[@]} -eq 0 ] || chown "$ha_user:$ha_group" "$state/$node/patroni.yml"
done

say "Patroni pg1 (PostgreSQL on 127.0.0.1:$pg1_port): initdb, then primary"
start_patroni pg1
wait_for 120 member pg1 Leader running ||
	{ tail -n 30 "$state/pg1/patroni.log" >&2; die "pg1 did not become the leader within 120 s"; }

say "Patroni pg2 (PostgreSQL on 127.0.0.1:$pg2_port): pg_basebackup, then synchronous standby"
start_patroni pg2
wait_for 180 member pg2 Sync-Standby "running|streaming" ||
	{ tail -n 30 "$state/pg2/patroni.log" >&2; die "pg2 did not become the synchronous standby within 180 s"; }
patronictl -c "$state/pg1/patroni.yml" list

say "the relays' role $db_user and schema $schema"
umask 077
printf '127.0.0.1:*:*:postgres:%s\n' "$superuser_password" >"$state/admin.pgpass"
printf '127.0.0.1:*:postgres:%s:%s\n' "$db_user" "$db_password" >"$state/relay.pgpass"
umask 022
# libpq finds the relays' password here (vigild.conf.in says why not in dsn).
export PGPASSFILE=$state/relay.pgpass
admin_dsn="host=127.0.0.1,127.0.0.1 port=$pg1_port,$pg2_port dbname=postgres user=postgres"
admin_dsn+=" passfile=$state/admin.pgpass target_session_attrs=read-write connect_timeout=3"
psql "$admin_dsn" -v ON_ERROR_STOP=1 -q <<SQL
CREATE ROLE $db_user LOGIN PASSWORD '$db_password';
CREATE SCHEMA $schema AUTHORIZATION $db_user;
SQL
printf 'admin_dsn=%q\n' "$admin_dsn" >>"$state/env"
# What the primary itself says about its standby.
replication=$(psql "$admin_dsn" -Atc "SELECT application_name || ' ' || sync_state
	FROM pg_stat_replication")
[ "$replication" = "pg2 sync" ] || die "pg_stat_replication on pg1: \"$replication\", not \"pg2 sync\""
echo "pg_stat_replication on pg1: $replication"

for n in 1 2; do
	port=relay${n}_port
	fill "$ha/vigild.conf.in" "$state/relay$n/vigild.conf" NAME="relay$n" PORT="${!port}" \
		PKI="$state/pki" PG1_PORT="$pg1_port" PG2_PORT="$pg2_port" DB_USER="$db_user" \
		SCHEMA="$schema"
done
"$vigild" -c "$state/relay1/vigild.conf" --check-config

say "a new log in schema $schema (vigild --init-db, once)"
"$vigild" -c "$state/relay1/vigild.conf" --init-db 2>>"$state/relay1/vigild.log"

say "relay1 on 127.0.0.1:$relay1_port (takes the lock: active)"
start_relay 1
serves() { running "relay$1 supervisor" "$state/relay$1/supervise.pid" "$state/relay$1/vigild.log" && [ -s "$state/relay$1/ready" ]; }
wait_for 30 serves 1 || { tail -n 20 "$state/relay1/vigild.log" >&2; die "relay1 does not serve within 30 s"; }

say "relay2 on 127.0.0.1:$relay2_port (finds the lock held: standby)"
start_relay 2
waits() { running "relay$1 supervisor" "$state/relay$1/supervise.pid" "$state/relay$1/vigild.log" && grep -q 'waiting as a standby' "$state/relay$1/vigild.log"; }
wait_for 30 waits 2 || { tail -n 20 "$state/relay2/vigild.log" >&2; die "relay2 is not waiting as a standby after 30 s"; }

relays="127.0.0.1:$relay1_port,127.0.0.1:$relay2_port"
for org in se-stockholm-coord iom-ru-moscow se-police-noa; do
	cat >"$state/client/$org.conf" <<CONF
[relay]
address = 127.0.0.1:$relay1_port, 127.0.0.1:$relay2_port
checkpoint_key = $state/pki/checkpoint.pub
[tls]
cert = $state/pki/$org.crt
key = $state/pki/$org.key
ca = $state/pki/ca.crt
enc_cert = $state/pki/$org.enc.crt
enc_key = $state/pki/$org.enc.key
CONF
done
printf 'relays=%q\n' "$relays" >>"$state/env"

say "a client through the relay list"
"$vigil" -c "$state/client/se-stockholm-coord.conf" members

cat <<EOF

Up in $(( ($(date +%s%3N) - t0) / 1000 )) s. Topology, all on 127.0.0.1:

  etcd          :$etcd_client_port (peer :$etcd_peer_port)       pid $(cat "$state/etcd/pid"), user $ha_user
  Patroni pg1   PostgreSQL :$pg1_port, REST :$rest1_port  pid $(cat "$state/pg1/patroni.pid"), user $ha_user
  Patroni pg2   PostgreSQL :$pg2_port, REST :$rest2_port  pid $(cat "$state/pg2/patroni.pid"), user $ha_user
  relay1        vigild :$relay1_port (active)      supervisor pid $(cat "$state/relay1/supervise.pid")
  relay2        vigild :$relay2_port (standby)     supervisor pid $(cat "$state/relay2/supervise.pid")
  the log       schema $schema, role $db_user, origin ha.vigil.example/log

Use it:

  $vigil -c $state/client/se-stockholm-coord.conf members
  $vigil --relay $relays \\
      --cert $state/pki/iom-ru-moscow.crt --key $state/pki/iom-ru-moscow.key \\
      --ca $state/pki/ca.crt --checkpoint-key $state/pki/checkpoint.pub members
  patronictl -c $state/pg1/patroni.yml list
  PGPASSFILE=$state/relay.pgpass $vigild -c $state/relay1/vigild.conf --verify-db
  psql "$admin_dsn"

  deploy/ha/drill.sh    kill the active relay, switch PostgreSQL over, kill its leader
  deploy/ha/down.sh     stop everything this script started

Logs: $state/etcd/etcd.log, $state/pg?/patroni.log, $state/relay?/vigild.log
EOF
