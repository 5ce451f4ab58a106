#!/usr/bin/env bash
# deploy/vigil-alert-mail.sh, the mail hook of vigil-alerts@.service, run
# as "vigil alerts --exec" runs it (the delivery's JSON on stdin, its
# fields in VIGIL_* variables) with a sendmail that keeps what it is
# given: the message of an alert and of an erasure (headers, subject,
# what to do, the JSON), the exit statuses (no recipient: 2; sendmail's
# failure is the hook's), no header a field could add; shellcheck-clean
# when shellcheck is installed.
#
#   alert-mail.sh SOURCE_DIR SCRATCH_DIR
set -euo pipefail

src=$1
work=$2
hook=$src/deploy/vigil-alert-mail.sh
rm -rf "$work"
mkdir -p "$work"

problems=0
problem() {
	echo "alert-mail: $*"
	problems=$((problems + 1))
}

if command -v shellcheck >/dev/null; then
	shellcheck -s sh "$hook" || problem "shellcheck: $hook"
else
	echo "alert-mail: shellcheck is missing: not checked"
fi

cat >"$work/sendmail" <<'SH'
#!/bin/sh
printf '%s\n' "$*" >"$SENDMAIL_OUT.args"
cat >"$SENDMAIL_OUT"
exit "${SENDMAIL_STATUS:-0}"
SH
chmod +x "$work/sendmail"
export ALERT_SENDMAIL=$work/sendmail SENDMAIL_OUT=$work/mail

alert='{"position":42,"case_id":"se-stockholm-coord/CA-7","kind":"silence","stage":2}'
# shellcheck disable=SC2054 # the commas are in a value
alert_env=(VIGIL_POSITION=42 VIGIL_CASE_ID=se-stockholm-coord/CA-7 VIGIL_KIND=silence
	VIGIL_STAGE=2 VIGIL_ALERT_ID=00112233445566778899aabbccddeeff
	VIGIL_POLICE_ADVICE="missing-person report to be considered" VIGIL_DEADLINE=
	VIGIL_RECIPIENTS=se-stockholm-coord,se-shelter-1 VIGIL_DESK=night)

# An alert.
rm -f "$work/mail"
if ! printf '%s\n' "$alert" | env "${alert_env[@]}" ALERT_MAIL_TO=night@org.example \
	ALERT_MAIL_FROM=vigil@org.example "$hook"; then
	problem "the hook failed for an alert"
fi
mail=$(cat "$work/mail" 2>/dev/null || true)
grep -qxF -- "-oi -t -f vigil@org.example" "$work/mail.args" ||
	problem "sendmail's arguments: $(cat "$work/mail.args")"
for line in "To: night@org.example" "From: vigil@org.example" \
	"Subject: [vigil] se-stockholm-coord/CA-7 silence stage 2 (escalated), police: missing-person report to be considered" \
	"Auto-Submitted: auto-generated" "Content-Type: text/plain; charset=UTF-8" \
	"Deadline missed:  none" "  vigil alert ack 00112233445566778899aabbccddeeff --case se-stockholm-coord/CA-7 \\" \
	"Desk: night. The delivery, as vigil verified it:"; do
	grep -qxF -- "$line" <<<"$mail" || problem "the alert's message lacks the line \"$line\":"$'\n'"$mail"
done
grep -qF '"position"' <<<"$mail" || problem "the alert's message lacks the JSON"

# A resolution needs nothing done.
printf '%s\n' "$alert" | env "${alert_env[@]}" VIGIL_STAGE=0 VIGIL_RESOLUTION=contact \
	ALERT_MAIL_TO=night@org.example "$hook" || problem "the hook failed for a resolution"
grep -qxF "Subject: [vigil] se-stockholm-coord/CA-7 silence resolved (contact)" "$work/mail" ||
	problem "the resolution's subject: $(grep '^Subject' "$work/mail")"
grep -q "alert ack" "$work/mail" && problem "a resolution asks for an acknowledgement"
grep -qxF -- "-oi -t" "$work/mail.args" || problem "sendmail's arguments: $(cat "$work/mail.args")"

# An erasure.
printf '%s\n' '{"position":50,"kind":"erasure","entries":[12,14]}' |
	env VIGIL_POSITION=50 VIGIL_CASE_ID=se-stockholm-coord/CA-7 VIGIL_KIND=erasure \
		VIGIL_ERASED_ENTRIES=12,14 VIGIL_WHOLE_RECORD=true VIGIL_REASON=other \
		VIGIL_REQUESTED_BY=se-stockholm-coord VIGIL_REFERENCE=REF-1 \
		ALERT_MAIL_TO=night@org.example "$hook" || problem "the hook failed for an erasure"
grep -qxF "Subject: [vigil] se-stockholm-coord/CA-7 erasure of entries 12,14" "$work/mail" ||
	problem "the erasure's subject: $(grep '^Subject' "$work/mail")"
grep -qxF "The relay erased the records of entries 12,14" "$work/mail" ||
	problem "the erasure's message:"$'\n'"$(cat "$work/mail")"

# No header from a field: a line break in a value is a space.
printf '{}\n' | env "${alert_env[@]}" ALERT_MAIL_TO=$'night@org.example\nBcc: all@org.example' \
	"$hook" || problem "the hook failed"
grep -q '^Bcc:' "$work/mail" && problem "a value added a header"

# Exit statuses: no recipient; sendmail's failure.
rm -f "$work/mail"
set +e
printf '%s\n' "$alert" | env "${alert_env[@]}" "$hook" 2>"$work/err"
st=$?
printf '%s\n' "$alert" | env "${alert_env[@]}" ALERT_MAIL_TO=night@org.example SENDMAIL_STATUS=75 \
	"$hook"
st75=$?
set -e
[ "$st" -eq 2 ] || problem "without ALERT_MAIL_TO: exit $st, expected 2"
grep -qF "ALERT_MAIL_TO is not set" "$work/err" || problem "without ALERT_MAIL_TO: $(cat "$work/err")"
[ "$st75" -eq 75 ] || problem "sendmail exited 75, the hook $st75"

if [ "$problems" -gt 0 ]; then
	echo "alert-mail: $problems problems"
	exit 1
fi
echo "alert-mail: OK"
rm -rf "$work"
