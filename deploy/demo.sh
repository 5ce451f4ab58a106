#!/usr/bin/env bash
# vigil demo: build, make a development PKI, start the relay on its own
# SQLite database, and play the first part of case SE-2026-0042: the IOM
# office in Moscow reports three failed attempts to reach a returnee.
#
#   deploy/demo.sh            state (PKI, database, logs) goes to ./state/demo
#   VIGIL_DEMO_STATE=DIR deploy/demo.sh
set -euo pipefail

here=$(cd "$(dirname "$0")/.." && pwd)
state=${VIGIL_DEMO_STATE:-$here/state/demo}
build=$here/build/demo

say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

packages=(build-essential cmake pkg-config openssl sqlite3 libuv1-dev libssl-dev
	libprotobuf-c-dev protobuf-c-compiler libsqlite3-dev libinih-dev)
missing=()
for p in "${packages[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" ||
		missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
	if [ "$(id -u)" -ne 0 ]; then
		echo "demo: missing packages: ${missing[*]} (run as root to install them)" >&2
		exit 1
	fi
	say "installing ${missing[*]}"
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -qq
	apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

say "building vigild and vigil"
cmake -S "$here" -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DVIGIL_TESTS=OFF >/dev/null
cmake --build "$build" -j "$(nproc)" >/dev/null
vigild=$build/daemon/vigild
vigil=$build/client/vigil

say "development PKI in $state/pki"
mkdir -p "$state"
bash "$here/certs/mkpki.sh" "$state/pki"

say "starting the relay"
rm -f "$state/vigil.db" "$state/vigil.db-wal" "$state/vigil.db-shm" "$state/ready"
cat > "$state/vigild.conf" <<CONF
[listen]
address = 127.0.0.1
port = 0
[tls]
cert = pki/relay.crt
key = pki/relay.key
ca = pki/ca.crt
crl = pki/crl.pem
[store]
path = vigil.db
[log]
origin = demo.vigil.example/log
checkpoint_key = pki/checkpoint.key
CONF
"$vigild" -c "$state/vigild.conf" --check-config
"$vigild" -c "$state/vigild.conf" --ready-file "$state/ready" 2>"$state/vigild.log" &
relay_pid=$!
stop_relay() {
	if kill -0 "$relay_pid" 2>/dev/null; then
		kill -TERM "$relay_pid"
		wait "$relay_pid" || true
	fi
}
trap stop_relay EXIT
for _ in $(seq 100); do
	[ -s "$state/ready" ] && break
	kill -0 "$relay_pid" 2>/dev/null || { cat "$state/vigild.log"; exit 1; }
	sleep 0.1
done
port=$(cat "$state/ready")
echo "vigild (pid $relay_pid) serving on 127.0.0.1:$port"

# The IOM Moscow field office's client configuration.
cat > "$state/iom-ru-moscow.conf" <<CONF
[relay]
address = 127.0.0.1
port = $port
[tls]
cert = pki/iom-ru-moscow.crt
key = pki/iom-ru-moscow.key
ca = pki/ca.crt
CONF
iom() { "$vigil" -c "$state/iom-ru-moscow.conf" "$@"; }

say "IOM Moscow reports three failed contact attempts for SE-2026-0042"
iom contact --case SE-2026-0042 --channel phone --outcome no-answer \
	--at 2026-11-24T09:10:00Z --note "two calls, no answer"
echo
iom contact --case SE-2026-0042 --channel messenger --outcome undelivered \
	--at 2026-11-25T14:30:00Z
echo
iom --json contact --case SE-2026-0042 --channel home-visit --outcome moved \
	--at 2026-11-27T11:00:00Z --record-id 5e2026004200000000000000000000c3 \
	--note "landlord says she left a week ago"

say "the office's connection dropped; it sends the home visit again (same record id and time)"
iom --json contact --case SE-2026-0042 --channel home-visit --outcome moved \
	--at 2026-11-27T11:00:00Z --record-id 5e2026004200000000000000000000c3 \
	--note "landlord says she left a week ago"

say "the same record id with different content is refused: the log is never rewritten"
iom contact --case SE-2026-0042 --channel home-visit --outcome reached-safe \
	--at 2026-11-27T11:00:00Z --record-id 5e2026004200000000000000000000c3 \
	|| echo "(exit status $?: refused by the relay, nothing stored)"

say "what the relay stored"
sqlite3 -header -column "$state/vigil.db" \
	"SELECT idx, datetime(received_at_ms / 1000, 'unixepoch') AS received, author, case_id,
	        length(record) AS record_bytes, substr(hex(leaf_hash), 1, 16) AS leaf_hash
	   FROM entries ORDER BY idx"

say "anyone can check entry 2 with nothing but the database and openssl"
sqlite3 "$state/vigil.db" \
	"SELECT writefile('$state/entry2.bin', record), writefile('$state/entry2.sig', signature),
	        writefile('$state/entry2-author.der', c.der)
	   FROM entries e JOIN certs c ON c.fp = e.cert_fp WHERE e.idx = 2" >/dev/null
openssl x509 -inform DER -in "$state/entry2-author.der" -noout -subject
openssl x509 -inform DER -in "$state/entry2-author.der" -pubkey -noout > "$state/entry2-author.pub"
openssl dgst -sha256 -verify "$state/entry2-author.pub" -signature "$state/entry2.sig" "$state/entry2.bin"

say "stopping the relay"
stop_relay
trap - EXIT
tail -n 3 "$state/vigild.log"
echo
echo "Done. The database, logs and PKI are in $state."
