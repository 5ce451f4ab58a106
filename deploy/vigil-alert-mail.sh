#!/bin/sh
# vigil-alert-mail - mails one alert or erasure that "vigil alerts" received:
# the command of "vigil alerts --follow --exec vigil-alert-mail" (see
# vigil-alerts@.service), installed as /usr/libexec/vigil/vigil-alert-mail.
#
# vigil runs it once per delivery, after verifying it, with the delivery's
# JSON object on standard input and its fields in VIGIL_* variables
# (VIGIL_CASE_ID, VIGIL_KIND, VIGIL_STAGE, VIGIL_ALERT_ID, ...; vigil(1),
# "alerts"). It hands one message to the local sendmail:
#
#   Subject: [vigil] CASE silence stage 2 (escalated), police: ADVICE
#   Subject: [vigil] CASE erasure of entries 12,14
#
# and a body with the fields, what to do next, and the delivery's JSON
# (pretty-printed when jq is installed).
#
# Its environment (the unit's EnvironmentFile):
#   ALERT_MAIL_TO    the recipients, comma-separated (required)
#   ALERT_MAIL_FROM  the sender (optional: sendmail's default otherwise)
#   ALERT_SENDMAIL   the sendmail program (default /usr/sbin/sendmail); it
#                    is run as "sendmail -oi -t [-f FROM]"
#
# Exit status: sendmail's; 2 when ALERT_MAIL_TO is missing or the delivery
# has no case. Anything but 0 makes vigil try again later, and the
# deliveries after this one wait, so that none is lost; a message may then
# be sent twice only if sendmail took it but failed to say so.
set -eu

to=${ALERT_MAIL_TO:-}
from=${ALERT_MAIL_FROM:-}
sendmail=${ALERT_SENDMAIL:-/usr/sbin/sendmail}

if [ -z "$to" ]; then
	echo "vigil-alert-mail: ALERT_MAIL_TO is not set: nobody to mail" >&2
	exit 2
fi
if [ -z "${VIGIL_CASE_ID:-}" ]; then
	echo "vigil-alert-mail: no VIGIL_CASE_ID: run it from vigil alerts --exec" >&2
	exit 2
fi

# A header value: printable ASCII only, so that nothing in a field can end
# the header or start another one.
header() {
	printf '%s' "$1" | tr -c '[:print:]' ' ' | cut -c 1-200
}

json=$(cat)
kind=${VIGIL_KIND:-}
case_id=$VIGIL_CASE_ID

if [ "$kind" = erasure ]; then
	what="sealed text"
	[ "${VIGIL_WHOLE_RECORD:-}" = true ] && what="records"
	subject="[vigil] $case_id erasure of entries ${VIGIL_ERASED_ENTRIES:-?}"
	summary=$(printf '%s\n' \
		"The relay erased the $what of entries ${VIGIL_ERASED_ENTRIES:-?}" \
		"of case $case_id." \
		"" \
		"Reason:        ${VIGIL_REASON:-}" \
		"Requested by:  ${VIGIL_REQUESTED_BY:-(the retention rules)}" \
		"Reference:     ${VIGIL_REFERENCE:-none}" \
		"Erased at:     ${VIGIL_RECEIVED_AT:-}" \
		"Log position:  ${VIGIL_POSITION:-}" \
		"" \
		"Delete any copy of those entries' records or opened text you keep" \
		"(printouts, notes, mail). No alert acknowledgement is needed.")
else
	stage=${VIGIL_STAGE:-}
	case $stage in
	0) state="resolved (${VIGIL_RESOLUTION:-unknown})" ;;
	2) state="stage 2 (escalated)" ;;
	*) state="stage $stage" ;;
	esac
	subject="[vigil] $case_id $kind $state"
	[ "$stage" = 0 ] || subject="$subject, police: ${VIGIL_POLICE_ADVICE:-none}"
	next="No action is needed: the alert is over."
	if [ "$stage" != 0 ]; then
		next=$(printf '%s\n' \
			"Record your decision (it stops the escalation to the police):" \
			"  vigil alert ack ${VIGIL_ALERT_ID:-} --case $case_id \\" \
			"    --decision police-report-filed|not-filed|other [--reason TEXT]")
	fi
	summary=$(printf '%s\n' \
		"Case:             $case_id" \
		"Alert:            $kind, $state" \
		"Alert id:         ${VIGIL_ALERT_ID:-}" \
		"Police:           ${VIGIL_POLICE_ADVICE:-none}" \
		"Deadline missed:  ${VIGIL_DEADLINE:-none}" \
		"Last success:     ${VIGIL_LAST_SUCCESS:-none}" \
		"Failed attempts:  ${VIGIL_FAILED_ATTEMPTS:-0}" \
		"Recipients:       ${VIGIL_RECIPIENTS:-}" \
		"Raised at:        ${VIGIL_RECEIVED_AT:-}" \
		"Log position:     ${VIGIL_POSITION:-}" \
		"" \
		"$next")
fi

if command -v jq >/dev/null 2>&1 && pretty=$(printf '%s\n' "$json" | jq . 2>/dev/null); then
	json=$pretty
fi

set -- -oi -t
[ -z "$from" ] || set -- "$@" -f "$from"

{
	printf 'To: %s\n' "$(header "$to")"
	[ -z "$from" ] || printf 'From: %s\n' "$(header "$from")"
	printf 'Subject: %s\n' "$(header "$subject")"
	printf 'MIME-Version: 1.0\n'
	printf 'Content-Type: text/plain; charset=UTF-8\n'
	printf 'Content-Transfer-Encoding: 8bit\n'
	# RFC 3834: no vacation replies to a machine.
	printf 'Auto-Submitted: auto-generated\n'
	printf '\n'
	printf '%s\n' "$summary"
	printf '\n'
	printf 'Desk: %s. The delivery, as vigil verified it:\n\n' "${VIGIL_DESK:-default}"
	printf '%s\n' "$json"
} | "$sendmail" "$@"
