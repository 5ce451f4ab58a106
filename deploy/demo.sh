#!/usr/bin/env bash
# vigil demo: build, make a development PKI, start the relay on its own
# SQLite database, and play the story of case se-stockholm-coord/SE-2026-0042 with windows of
# seconds instead of days:
#
#   the Stockholm county coordinator opens the case and hands it over to
#   the IOM office in Moscow; the police ask for its status; IOM Moscow
#   fails to reach the returnee on three channels; the relay alerts the
#   coordinator, and, with no acknowledgement, escalates to the police; the
#   coordinator records that a police report was filed; IOM reaches her and
#   the alert is resolved.  IOM's notes are sealed: the relay stores them
#   but cannot read them, the coordinator and IOM open them, the police
#   cannot.  Then: a receipt verified offline, the log audited, a sealed
#   note checked with nothing but openssl, a note erased on request with the
#   log still verifying, a monitor catching a relay
#   that rewrote its history, and the case exported for a court and
#   checked offline.
#
#   deploy/demo.sh            state (PKI, database, logs) goes to ./state/demo
#   VIGIL_DEMO_STATE=DIR deploy/demo.sh
set -euo pipefail

here=$(cd "$(dirname "$0")/.." && pwd)
state=${VIGIL_DEMO_STATE:-$here/state/demo}
build=$here/build/demo
case_id=se-stockholm-coord/SE-2026-0042

say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

packages=(build-essential cmake pkg-config openssl sqlite3 libuv1-dev libssl-dev
	libprotobuf-c-dev protobuf-c-compiler libsqlite3-dev libinih-dev libsystemd-dev
	libmicrohttpd-dev libjansson-dev libpq-dev)
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

say "starting the relay (silence window for high risk: 30 s; escalation after 5 s)"
rm -rf "$state/vigil.db" "$state/vigil.db-wal" "$state/vigil.db-shm" "$state/ready" \
	"$state/monitor" "$state"/*.receipt "$state/export"
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
[directory]
path = pki/directory.conf
[log]
origin = demo.vigil.example/log
checkpoint_key = pki/checkpoint.key
checkpoint_interval = 5s
[watchdog]
high = 30s
medium = 2m
low = 5m
failed_attempts = 3
handover_window = 1m
escalate_after = 5s
CONF
"$vigild" -c "$state/vigild.conf" --check-config
# A new log is created only when asked: a missing database is otherwise an error.
"$vigild" -c "$state/vigild.conf" --init-db 2>>"$state/vigild.log"
relay_pid=
start_relay() {
	rm -f "$state/ready"
	"$vigild" -c "$state/vigild.conf" --ready-file "$state/ready" 2>>"$state/vigild.log" &
	relay_pid=$!
	for _ in $(seq 100); do
		[ -s "$state/ready" ] && break
		kill -0 "$relay_pid" 2>/dev/null || { tail "$state/vigild.log"; exit 1; }
		sleep 0.1
	done
	port=$(cat "$state/ready")
	# Each organisation's encryption certificate and key open the sealed
	# text written to it.
	for org in se-stockholm-coord se-police-noa iom-ru-moscow; do
		cat > "$state/$org.conf" <<CONF
[relay]
address = 127.0.0.1
port = $port
checkpoint_key = pki/checkpoint.pub
[tls]
cert = pki/$org.crt
key = pki/$org.key
ca = pki/ca.crt
enc_cert = pki/$org.enc.crt
enc_key = pki/$org.enc.key
CONF
	done
}
stop_relay() {
	if [ -n "$relay_pid" ] && kill -0 "$relay_pid" 2>/dev/null; then
		kill -TERM "$relay_pid"
		wait "$relay_pid" || true
	fi
	relay_pid=
}
trap stop_relay EXIT
start_relay
echo "vigild (pid $relay_pid) serving on 127.0.0.1:$port"

coord() { "$vigil" -c "$state/se-stockholm-coord.conf" "$@"; }
police() { "$vigil" -c "$state/se-police-noa.conf" "$@"; }
iom() { "$vigil" -c "$state/iom-ru-moscow.conf" "$@"; }

say "the Stockholm coordinator opens $case_id: high risk, consent to share with IOM"
coord case open --case "$case_id" --risk high --return-country RU --return-date 2026-10-01 \
	--party iom-ru-moscow --party se-police-noa --consent share-with-iom

say "the coordinator hands the case over to IOM Moscow, which accepts"
coord handover offer --case "$case_id" --to iom-ru-moscow --reason return \
	--consent-ref consent-2026-09-28
iom handover accept --case "$case_id"

say "the police ask for the status: codes only, no narrative"
police status "$case_id"

say "IOM assesses the risk on arrival"
iom risk --case "$case_id" --level high --factor threats-to-family --factor debt-bondage \
	--phase on-arrival

say "IOM Moscow tries to reach her on three channels, without success (notes are sealed)"
iom contact --case "$case_id" --channel phone --outcome no-answer --note "two calls, no answer"
iom contact --case "$case_id" --channel messenger --outcome undelivered
iom contact --case "$case_id" --channel home-visit --outcome moved \
	--note "landlord says she left a week ago"

say "a mistyped year would have pushed the deadline a year away: the relay refuses it"
next_year=$(date -u -d '+1 year' +%Y-%m-%dT%H:%M:%SZ)
iom contact --case "$case_id" --channel phone --outcome reached-safe --at "$next_year" ||
	echo "(exit status $?: refused by the relay; the watchdog is not silenced)"

say "the relay raises the alert at once: the coordinator's inbox"
sleep 1
coord alerts --json | tee "$state/alerts.json"
alert_id=$(grep -o '"alert_id":"[0-9a-f]*"' "$state/alerts.json" | head -n 1 | cut -d'"' -f4)

say "nobody acknowledges it for 5 s: it escalates to the police"
sleep 6
police alerts

say "the police look at the case"
police status "$case_id"

say "the coordinator records the decision: a police report was filed"
coord alert ack "${alert_id:?no alert id}" --case "$case_id" --decision police-report-filed

say "IOM Moscow reaches her; the receipt is saved for later"
iom contact --case "$case_id" --channel via-family --outcome reached-safe \
	--note "called from her aunt's phone, safe" --save-receipt "$state/reached.receipt"

say "the alert is resolved, and the coordinator is told"
sleep 1
coord alerts

say "anyone holding the relay's checkpoint key can check that receipt offline"
"$vigil" --checkpoint-key "$state/pki/checkpoint.pub" verify --receipt "$state/reached.receipt"

say "the case's whole record, every entry with its inclusion proof, as IOM sees it"
iom log "$case_id"

say "the notes are sealed to the case's readers: the coordinator opens them too"
coord log "$case_id" | grep ' note='

say "the police read no narrative: the case log is refused to them"
police log "$case_id" || echo "(exit status $?: refused by the relay)"

say "who read the case: IOM is responsible now, but only the owner may ask"
iom case readers "$case_id" || echo "(exit status $?: refused by the relay)"
coord case readers "$case_id"

say "the returnee asks for her first note to be erased: the owner erases its sealed text"
first_note=$(sqlite3 -readonly "$state/vigil.db" "SELECT lower(hex(e.record_id)) FROM entries e
	JOIN sealed s ON s.idx = e.idx WHERE e.case_id = '$case_id' ORDER BY e.idx LIMIT 1")
coord erase --case "$case_id" --record-id "$first_note" --reason data-subject-request \
	--reference DPO-2026-0117
coord log "$case_id" | grep -E 'note=\[erased\]|erasure '

say "a monitor checks the whole log and keeps the checkpoint it saw"
coord verify --log --state "$state/monitor"

say "the relay is stopped; an auditor checks every entry, signature and checkpoint offline"
stop_relay
"$vigild" -c "$state/vigild.conf" --verify-db

say "a relay that rewrote history: the log is replaced by a shorter copy with another entry"
cp "$state/vigil.db" "$state/vigil.db.real"
sqlite3 "$state/vigil.db" "DELETE FROM entries WHERE idx >= 3; DELETE FROM sealed WHERE idx >= 3;
	DELETE FROM tree WHERE ((idx + 1) << level) > 3; DELETE FROM checkpoints WHERE size > 3;
	DELETE FROM alerts WHERE position >= 3; UPDATE log_head SET size = 3;" >/dev/null
start_relay
coord contact --case "$case_id" --channel email --outcome no-answer >/dev/null 2>&1 || true
coord verify --log --state "$state/monitor" ||
	echo "(exit status $?: the monitor caught it; its kept checkpoint is unchanged)"
stop_relay
mv "$state/vigil.db.real" "$state/vigil.db"
rm -f "$state/vigil.db-wal" "$state/vigil.db-shm"

say "what the relay stored"
sqlite3 -header -column "$state/vigil.db" \
	"SELECT idx, datetime(received_at_ms / 1000, 'unixepoch') AS received, author, case_id,
	        length(record) AS bytes, substr(hex(leaf_hash), 1, 16) AS leaf_hash
	   FROM entries ORDER BY idx"

say "one entry checked with nothing but the database and openssl"
sqlite3 "$state/vigil.db" \
	"SELECT writefile('$state/entry.bin', record), writefile('$state/entry.sig', signature),
	        writefile('$state/entry-author.der', c.der)
	   FROM entries e JOIN certs c ON c.fp = e.cert_fp
	  WHERE e.idx = (SELECT min(idx) FROM entries WHERE author = 'iom-ru-moscow')" >/dev/null
openssl x509 -inform DER -in "$state/entry-author.der" -noout -subject
openssl x509 -inform DER -in "$state/entry-author.der" -pubkey -noout > "$state/entry-author.pub"
openssl dgst -sha256 -verify "$state/entry-author.pub" -signature "$state/entry.sig" "$state/entry.bin"

say "a sealed note as evidence: the signed record, the commitment, the text, with openssl"
note_idx=$(sqlite3 "$state/vigil.db" "SELECT max(idx) FROM sealed")
sqlite3 "$state/vigil.db" \
	"SELECT writefile('$state/note.bin', e.record), writefile('$state/note.sig', e.signature),
	        writefile('$state/note-author.der', c.der), writefile('$state/note.cms', s.cms)
	   FROM entries e JOIN certs c ON c.fp = e.cert_fp JOIN sealed s ON s.idx = e.idx
	  WHERE e.idx = $note_idx" >/dev/null
openssl x509 -inform DER -in "$state/note-author.der" -pubkey -noout > "$state/note-author.pub"
openssl dgst -sha256 -verify "$state/note-author.pub" -signature "$state/note.sig" "$state/note.bin"
# The reader (here the coordinator) decrypts P with its encryption key.
openssl cms -decrypt -binary -inform DER -in "$state/note.cms" \
	-recip "$state/pki/se-stockholm-coord.enc.crt" -inkey "$state/pki/se-stockholm-coord.enc.key" \
	-out "$state/note.p"
commitment=$(openssl dgst -sha256 -r "$state/note.p" | cut -d' ' -f1)
# SealedText.commitment is the 32 bytes after 0a 20 in the signed record.
if od -An -v -tx1 "$state/note.bin" | tr -d ' \n' | grep -q "0a20$commitment"; then
	echo "SHA-256 of P $commitment is the signed record's commitment"
else
	echo "the commitment does not match" >&2
	exit 1
fi
# P: tag, record id, field, salt, length (bytes 65-66), the text, zero padding.
len=$(od -An -j65 -N2 -tu1 "$state/note.p" | awk '{ print $1 * 256 + $2 }')
printf 'the note: '
dd if="$state/note.p" bs=1 skip=67 count="$len" status=none
echo

say "the case exported for a court: every record, signature, certificate and proof"
start_relay
coord export "$case_id" --out "$state/export"
stop_relay
du -sb "$state/export" | awk '{ print "export size: " $1 " bytes" }'

say "the court checks it offline, with the CA and checkpoint key it holds itself"
"$vigil" --ca "$state/pki/ca.crt" --checkpoint-key "$state/pki/checkpoint.pub" \
	verify --export "$state/export"
echo "printable timeline: $state/export/report.html"

trap - EXIT
echo
echo "Done. The database, logs and PKI are in $state."
