#!/usr/bin/env bash
# Keeps the man pages in step with the programs and the configuration:
#
#   - every long option that `vigild --help` prints is in vigild(8)'s
#     OPTIONS section;
#   - every long option that `vigil --help` prints is in vigil(1), the
#     global ones in its OPTIONS section; every option that
#     `vigil COMMAND [SUBCOMMAND] --help` prints (other than the global
#     ones) is in that command's own subsection ("## case open"), which
#     must exist; the commands are the ones `vigil --help` lists, their
#     subcommands the ones their usage lines name;
#   - every key of the key table in daemon/config.c is in vigild.conf(5),
#     as "*key*" under a "## [section]" heading, and the page documents no
#     key the table does not have.
#
#   man-options.sh VIGILD VIGIL SOURCE_DIR [MAN_DIR]
#
# MAN_DIR (default SOURCE_DIR/man) holds the scdoc sources.  Prints every
# mismatch and exits 1 if there is one, 0 otherwise.
set -euo pipefail

if [ $# -lt 3 ]; then
	echo "usage: $0 VIGILD VIGIL SOURCE_DIR [MAN_DIR]" >&2
	exit 2
fi
vigild=$1
vigil=$2
src=$3
man=${4:-$src/man}
config_c=$src/daemon/config.c

problems=0
problem() {
	echo "man-options: $*"
	problems=$((problems + 1))
}

# The long options in a text, one per line.
long_options() {
	grep -oE -- '--[a-z][a-z0-9-]*' | sort -u || true
}

# The lines of a scdoc page under heading HEADING ("# OPTIONS",
# "## case open") up to the next heading of the same or a higher level.
scd_section() {
	local page=$1 heading=$2
	awk -v h="$heading" '
		function level(s) { match(s, /^#+/); return RLENGTH }
		$0 == h { on = 1; lv = level(h); next }
		on && /^#+ / && level($0) <= lv { on = 0 }
		on { print }
	' "$page"
}

# Whether option OPT (--name) is written in TEXT as a whole word.
mentions() {
	grep -qE -- "(^|[^a-z0-9-])$2([^a-z0-9-]|\$)" <<<"$1"
}

help_of() {
	local out
	if ! out=$("$@" --help 2>&1); then
		problem "'$* --help' failed"
		return 1
	fi
	printf '%s\n' "$out"
}

# --- vigild(8) ---------------------------------------------------------------
page=$man/vigild.8.scd
text=$(scd_section "$page" "# OPTIONS")
[ -n "$text" ] || problem "vigild.8.scd: no '# OPTIONS' section"
help=$(help_of "$vigild") || help=
for opt in $(long_options <<<"$help"); do
	mentions "$text" "$opt" || problem "vigild.8.scd: OPTIONS does not document $opt (vigild --help)"
done

# --- vigil(1) ----------------------------------------------------------------
page=$man/vigil.1.scd
text=$(scd_section "$page" "# OPTIONS")
[ -n "$text" ] || problem "vigil.1.scd: no '# OPTIONS' section"
help=$(help_of "$vigil") || help=
# The global options are those of the help's "Options" part; they are
# documented under OPTIONS.  An option the rest of the help names (a
# command's, in its summary) is documented somewhere in the page.
global=$(sed -n '/^Options/,$p' <<<"$help" | long_options)
[ -n "$global" ] || problem "vigil --help has no 'Options' part"
for opt in $global; do
	mentions "$text" "$opt" || problem "vigil.1.scd: OPTIONS does not document $opt (vigil --help)"
done
whole=$(cat "$page")
for opt in $(long_options <<<"$help"); do
	mentions "$whole" "$opt" || problem "vigil.1.scd: does not document $opt (vigil --help)"
done

commands=$(awk '/^Commands:/ { on = 1; next } on && /^$/ { on = 0 }
	on && /^  [a-z]/ { print $1 }' <<<"$help")
[ -n "$commands" ] || problem "vigil --help lists no commands"
n_paths=0
for cmd in $commands; do
	cmd_help=$(help_of "$vigil" "$cmd") || continue
	# "usage: vigil [OPTIONS] case open ..." names subcommand "open"; an
	# argument (ID) or an option after the command names none.
	subs=$(grep -oE -- "vigil \[OPTIONS\] $cmd [a-z][a-z-]*( |\$)" <<<"$cmd_help" |
		awk '{ print $4 }' | sort -u || true)
	paths=()
	if [ -z "$subs" ]; then
		paths=("$cmd")
	else
		for sub in $subs; do
			paths+=("$cmd $sub")
		done
	fi
	for path in "${paths[@]}"; do
		n_paths=$((n_paths + 1))
		if [ "$path" = "$cmd" ]; then
			path_help=$cmd_help
		else
			# shellcheck disable=SC2086 # the path is "command subcommand"
			path_help=$(help_of "$vigil" $path) || continue
		fi
		text=$(scd_section "$page" "## $path")
		if [ -z "$text" ]; then
			problem "vigil.1.scd: no '## $path' subsection for 'vigil $path'"
			continue
		fi
		for opt in $(long_options <<<"$path_help"); do
			# Global options are documented once, under OPTIONS.
			grep -qxF -- "$opt" <<<"$global" && continue
			mentions "$text" "$opt" ||
				problem "vigil.1.scd: '## $path' does not document $opt (vigil $path --help)"
		done
	done
done

# --- vigild.conf(5) ----------------------------------------------------------
page=$man/vigild.conf.5.scd
# The table's entries: { "section", "key", KEY_KIND, T_TYPE, ... }.
code_keys=$(grep -oE '\{ *"[a-z_]+", *"[a-z_]+", *KEY_' "$config_c" |
	sed -E 's/\{ *"([a-z_]+)", *"([a-z_]+)".*/\1 \2/' | sort -u)
n_entries=$(grep -cE 'KEY_[A-Z_]+, *T_[A-Z0-9_]+' "$config_c" || true)
if [ -z "$code_keys" ] || [ "$(wc -l <<<"$code_keys")" -ne "$n_entries" ]; then
	problem "daemon/config.c: read $(wc -l <<<"$code_keys") keys from a table of $n_entries entries; has the table's layout changed? (update this script)"
fi
code_sections=$(sed -n '/sections\[\] *=/,/};/p' "$config_c" | grep -oE '"[a-z_]+"' | tr -d '"' | sort -u)
[ -n "$code_sections" ] || problem "daemon/config.c: no sections[] table found"
man_keys=$(awk '
	/^## \[[a-z_]+\]/ { sec = substr($2, 2, length($2) - 2); next }
	/^#/ { sec = "" }
	sec != "" && match($0, /^\*[a-z_]+\*/) { print sec, substr($0, 2, RLENGTH - 2) }
' "$page" | sort -u)
while read -r sec key; do
	[ -n "$sec" ] || continue
	grep -qxF -- "$sec $key" <<<"$man_keys" ||
		problem "vigild.conf.5.scd: [$sec] $key is accepted by daemon/config.c but not documented under '## [$sec]'"
done <<<"$code_keys"
while read -r sec key; do
	[ -n "$sec" ] || continue
	grep -qxF -- "$sec $key" <<<"$code_keys" ||
		problem "vigild.conf.5.scd: documents [$sec] $key, which daemon/config.c does not accept"
done <<<"$man_keys"
for sec in $code_sections; do
	grep -qxF -- "## [$sec]" "$page" ||
		problem "vigild.conf.5.scd: no '## [$sec]' heading for section [$sec] of daemon/config.c"
done

if [ "$problems" -gt 0 ]; then
	echo "man-options: $problems problems: the man pages in man/ are out of step with the programs"
	exit 1
fi
echo "man-options: OK ($(wc -l <<<"$code_keys") configuration keys, $n_paths vigil commands)"
