#!/bin/sh
# tests/pg/pg.sh start DIR | stop DIR | dsn DIR -- a scratch PostgreSQL server for
# the tests, on loopback only.
#
#   start DIR   initdb in DIR/data (C locale, UTF-8, trust for the local user
#               only), then start it listening on 127.0.0.1 at a free port
#               with its socket in DIR; prints the libpq connection string.
#               As root the server runs as the unprivileged user "nobody"
#               (PostgreSQL refuses to run as root), and DIR is given to it.
#   stop DIR    stops it (fast shutdown) and waits.
#   dsn DIR     prints the connection string of the server started in DIR.
#   standby DIR PRIMARY_DIR
#               a streaming standby of the server started in PRIMARY_DIR
#               (pg_basebackup -R), named "standby1", started in DIR; the
#               primary then commits synchronously (synchronous_commit waits
#               for the standby's flush); prints its connection string.
#   port DIR    prints the port of the server in DIR.
#   promote DIR makes the standby in DIR a primary (pg_ctl promote, waits).
#
# PG_BIN (default: the newest /usr/lib/postgresql/*/bin) holds initdb and
# pg_ctl.  Fails with a message when PostgreSQL is not installed.
set -eu

die() { echo "pg.sh: $*" >&2; exit 1; }
[ "$#" -ge 2 ] || die "usage: pg.sh start|stop|dsn|port DIR | standby DIR PRIMARY_DIR"
cmd=$1
dir=$2
if [ -z "${PG_BIN:-}" ]; then
    PG_BIN=$(find /usr/lib/postgresql -mindepth 2 -maxdepth 2 -name bin 2>/dev/null | sort -V | tail -n 1)
fi
if [ -z "$PG_BIN" ] || [ ! -x "$PG_BIN/initdb" ]; then
    die "PostgreSQL is not installed (apt-get install postgresql)"
fi

as_owner() {
    if [ "$(id -u)" -eq 0 ]; then
        setpriv --reuid=nobody --regid=nogroup --clear-groups -- "$@"
    else
        "$@"
    fi
}

case $cmd in
start)
    mkdir -p "$dir"
    dir=$(cd "$dir" && pwd)
    [ "$(id -u)" -eq 0 ] && chown nobody:nogroup "$dir"
    chmod 0700 "$dir"
    # A free port: the kernel picks one, and the server takes it at once.
    port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
    as_owner "$PG_BIN/initdb" -D "$dir/data" -U vigil -A trust --locale=C -E UTF8 \
        --no-sync >"$dir/initdb.log" 2>&1 || { cat "$dir/initdb.log" >&2; die "initdb failed"; }
    cat >>"$dir/data/postgresql.conf" <<CONF
listen_addresses = '127.0.0.1'
port = $port
unix_socket_directories = '$dir'
fsync = on
synchronous_commit = on
max_connections = 200
log_min_messages = warning
CONF
    as_owner "$PG_BIN/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 60 start \
        >/dev/null || { cat "$dir/server.log" >&2; die "the server did not start"; }
    echo "host=127.0.0.1 port=$port user=vigil dbname=postgres" >"$dir/dsn"
    cat "$dir/dsn"
    ;;
stop)
    [ -d "$dir/data" ] || exit 0
    as_owner "$PG_BIN/pg_ctl" -D "$dir/data" -m fast -w -t 60 stop >/dev/null 2>&1 || true
    ;;
dsn)
    cat "$dir/dsn"
    ;;
promote)
    as_owner "$PG_BIN/pg_ctl" -D "$dir/data" -w -t 60 promote >/dev/null
    ;;
port)
    sed -e 's/.*port=\([0-9]*\).*/\1/' "$dir/dsn"
    ;;
standby)
    [ "$#" -eq 3 ] || die "usage: pg.sh standby DIR PRIMARY_DIR"
    primary=$(cd "$3" && pwd)
    pport=$(sed -e 's/.*port=\([0-9]*\).*/\1/' "$primary/dsn")
    mkdir -p "$dir"
    dir=$(cd "$dir" && pwd)
    [ "$(id -u)" -eq 0 ] && chown nobody:nogroup "$dir"
    chmod 0700 "$dir"
    port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
    as_owner "$PG_BIN/pg_basebackup" -d "host=127.0.0.1 port=$pport user=vigil application_name=standby1" \
        -D "$dir/data" -R -X stream --no-sync >"$dir/basebackup.log" 2>&1 ||
        { cat "$dir/basebackup.log" >&2; die "pg_basebackup failed"; }
    cat >>"$dir/data/postgresql.conf" <<CONF
port = $port
unix_socket_directories = '$dir'
CONF
    as_owner "$PG_BIN/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 60 start \
        >/dev/null || { cat "$dir/server.log" >&2; die "the standby did not start"; }
    echo "host=127.0.0.1 port=$port user=vigil dbname=postgres" >"$dir/dsn"
    # The primary waits for this standby's flush before a commit returns.
    echo "synchronous_standby_names = 'standby1'" >>"$primary/data/postgresql.conf"
    as_owner "$PG_BIN/pg_ctl" -D "$primary/data" reload >/dev/null
    for _ in $(seq 100); do
        state=$("$PG_BIN/psql" "$(cat "$primary/dsn")" -Atc \
            "SELECT sync_state FROM pg_stat_replication WHERE application_name = 'standby1'" \
            2>/dev/null || true)
        [ "$state" = sync ] && break
        sleep 0.1
    done
    [ "$state" = sync ] || die "the standby is not synchronous ($state)"
    cat "$dir/dsn"
    ;;
*)
    die "usage: pg.sh start|stop|dsn DIR"
    ;;
esac
