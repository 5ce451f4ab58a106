#!/usr/bin/env bash
# Checks that man-options.sh fails when the man pages leave something out:
# it runs it on copies of the pages with an option of vigild, an option of
# a vigil command and a configuration key taken out, and a key added that
# the relay does not accept, and expects each to be reported.
#
#   man-options-selftest.sh VIGILD VIGIL SOURCE_DIR
set -euo pipefail

vigild=$1
vigil=$2
src=$3
here=$(cd "$(dirname "$0")" && pwd)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

cp "$src"/man/*.scd "$tmp/"
sed -i 's/--ready-file//g' "$tmp/vigild.8.scd"
sed -i 's/--save-receipt//g' "$tmp/vigil.1.scd"
sed -i 's/--offer-id//g' "$tmp/vigil.1.scd"
sed -i '/^\*max_frame\*/d' "$tmp/vigild.conf.5.scd"
sed -i 's/^\*batch_max\* = _N_$/*batch_max* = _N_\n\tSubmissions per batch.\n\n*no_such_key* = _N_/' \
	"$tmp/vigild.conf.5.scd"

status=0
out=$(bash "$here/man-options.sh" "$vigild" "$vigil" "$src" "$tmp") || status=$?
printf '%s\n' "$out"
if [ "$status" -ne 1 ]; then
	echo "selftest: man-options.sh exited $status on pages with gaps, not 1"
	exit 1
fi
bad=0
for want in "vigild.8.scd: OPTIONS does not document --ready-file" \
	"'## contact' does not document --save-receipt" \
	"'## handover accept' does not document --offer-id" \
	"[listen] max_frame is accepted by daemon/config.c but not documented" \
	"documents [writer] no_such_key, which daemon/config.c does not accept"; do
	if ! grep -qF -- "$want" <<<"$out"; then
		echo "selftest: not reported: $want"
		bad=1
	fi
done
[ "$bad" -eq 0 ] || exit 1
echo "selftest: OK: every gap was reported"
