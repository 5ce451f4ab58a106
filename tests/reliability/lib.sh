# shellcheck shell=bash disable=SC2154,SC2034
# tests/reliability/lib.sh -- sourced by the reliability scripts: the build
# tree's programs, a scratch directory with a PKI and a relay configuration,
# and starting and stopping one vigild by its PID.
#
# The caller sets `name` (its own name, for messages) before sourcing.  Only
# processes started here are ever signalled, always by their PID, and only
# file systems mounted by the script (listed in `mounts`) are unmounted.
# Exit status 77 (skip) is no failure: the scratch directory goes.
#
# Environment:
#   VIGIL_BUILD_DIR   build tree (default build/ in the source tree); the
#                     scripts never build
#   RELIABILITY_KEEP=1  keep the scratch directory (also kept on failure)

export LC_ALL=C
here=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
build=${VIGIL_BUILD_DIR:-$here/build}
vigild=$build/daemon/vigild
vigil=$build/client/vigil
bench=$build/tests/bench/vigil-bench
hostile=$build/tests/reliability/vigil-hostile
origin=reliability.vigil.example/log

say() { echo "$name: $*" >&2; }
die() {
	say "FAIL: $*"
	exit 1
}
# The test cannot run here (ctest's SKIP_RETURN_CODE).
skip() {
	say "SKIP: $*"
	exit 77
}

for f in "$vigild" "$vigil" "$bench" "$hostile"; do
	[ -x "$f" ] || die "$f is missing; build first (or set VIGIL_BUILD_DIR)"
done
command -v sqlite3 >/dev/null || die "the sqlite3 command is missing (Debian package sqlite3)"

work=$(mktemp -d -t "vigil-$name.XXXXXX")
pid=             # the relay we started, while it runs
children=()      # other processes we started (clients), by PID
mounts=()        # file systems we mounted (mount points in $work), unmounted by cleanup

# True while process $1 runs (a zombie has exited).
alive() {
	local state
	state=$(awk '{ sub(/.*\) /, ""); print $1 }' "/proc/$1/stat" 2>/dev/null || echo gone)
	[ "$state" != Z ] && [ "$state" != gone ]
}

# Seconds since the epoch, fractional.
now() { echo "$EPOCHREALTIME"; }
elapsed() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.3f", b - a }'; }

# Stops the relay we started with SIGTERM (SIGKILL after 60 s); returns
# vigild's exit status.
stop_relay() {
	[ -n "$pid" ] || return 0
	local p=$pid i
	pid=
	kill -TERM "$p" 2>/dev/null || true
	for ((i = 0; i < 600; i++)); do
		alive "$p" || break
		sleep 0.1
	done
	if [ "$i" -ge 600 ]; then
		say "vigild (pid $p) did not stop within 60 s of SIGTERM; killing it"
		kill -KILL "$p" 2>/dev/null || true
	fi
	local rc=0
	wait "$p" || rc=$?
	return "$rc"
}

# Kills the relay we started with SIGKILL and reaps it.
kill_relay() {
	[ -n "$pid" ] || return 0
	local p=$pid
	pid=
	kill -KILL "$p" 2>/dev/null || true
	wait "$p" 2>/dev/null || true
}

cleanup() {
	local rc=$? c m keep=${RELIABILITY_KEEP:-0}
	trap - EXIT
	kill_relay
	for c in "${children[@]}"; do
		kill -KILL "$c" 2>/dev/null || true
		wait "$c" 2>/dev/null || true
	done
	if [ "$rc" -ne 0 ] && [ "$rc" -ne 77 ]; then
		keep=1
	fi
	# No process of ours uses them any more.  What a kept run's file system
	# held is copied next to it first (MOUNT.kept): unmounting loses it.
	for m in "${mounts[@]}"; do
		if [ "$keep" = 1 ]; then
			cp -a -- "$m/." "$m.kept/" 2>/dev/null || say "cannot copy $m to $m.kept"
		fi
		if ! umount -- "$m"; then
			say "cannot unmount $m: unmount it by hand"
			keep=1
			[ "$rc" -ne 0 ] || rc=1
		fi
	done
	if [ "$keep" = 1 ]; then
		if [ "$rc" -ne 0 ] && [ "$rc" -ne 77 ] && [ -s "$work/vigild.log" ]; then
			say "last lines of vigild's log:"
			tail -n 20 "$work/vigild.log" >&2
		fi
		say "scratch directory kept: $work"
	else
		rm -rf -- "$work"
	fi
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

bash "$here/certs/mkpki.sh" "$work/pki" >/dev/null 2>&1 || die "certs/mkpki.sh failed"

# Paths are relative to the configuration file's directory.  No watchdog
# alerts: the load is contact attempts, none of them about alerts.
cat >"$work/vigild.conf" <<EOF
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
origin = $origin
checkpoint_key = pki/checkpoint.key

[watchdog]
failed_attempts = 1000000
EOF
db=$work/vigil.db

# Starts vigild in the background, with the options in $relay_opts (e.g.
# -v: connections opening and closing are logged at debug level); t0 is
# the moment just before the fork.
start_relay() {
	rm -f -- "$work/ready"
	t0=$(now)
	# shellcheck disable=SC2086 # relay_opts holds separate options
	"$vigild" -c "$work/vigild.conf" --ready-file "$work/ready" ${relay_opts:-} \
		>>"$work/vigild.log" 2>&1 &
	pid=$!
}

# Waits (at most 120 s: a large log under ASan) for the ready file and sets
# port and up_s (seconds from start_relay to ready).
wait_ready() {
	local i
	for ((i = 0; i < 12000; i++)); do
		if [ -s "$work/ready" ]; then
			up_s=$(elapsed "$t0")
			port=$(cat "$work/ready")
			return 0
		fi
		alive "$pid" || die "vigild exited before it was ready"
		sleep 0.01
	done
	die "vigild was not ready within 120 s"
}

# vigild --verify-db on the stopped relay's database: sets verify_out; fails
# the run unless it says "log OK".
verify_db() {
	local rc=0
	verify_out=$("$vigild" -c "$work/vigild.conf" --verify-db 2>&1) || rc=$?
	if [ "$rc" -ne 0 ] || [[ $verify_out != "log OK: "* ]]; then
		die "vigild --verify-db (exit $rc): $verify_out"
	fi
}

# The vigil tool against the running relay, as iom-ru-moscow.
vigil_cli() {
	"$vigil" --relay "127.0.0.1:$port" --cert "$work/pki/iom-ru-moscow.crt" \
		--key "$work/pki/iom-ru-moscow.key" --ca "$work/pki/ca.crt" \
		--checkpoint-key "$work/pki/checkpoint.pub" --timeout 60000 "$@"
}
