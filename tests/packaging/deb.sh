#!/usr/bin/env bash
# The Debian packages: deploy/build-deb.sh builds them from a clean copy of
# the tree (and fails on a lintian error); this checks what they hold:
#
#   - vigild: /usr/sbin/vigild, the unit in /lib/systemd/system, vigild(8),
#     vigild.conf(5), the example configuration and member directory in
#     /usr/share/doc/vigild/examples, and no conffile (nothing in /etc);
#   - vigil-client: /usr/bin/vigil, vigil(1), the unit template
#     vigil-alerts@.service, which runs the packaged vigil and mail hook
#     /usr/libexec/vigil/vigil-alert-mail (executable, shellcheck-clean);
#   - libvigil0: libvigil.so.0 in the multiarch library directory;
#   - libvigil-dev: vigil.h, libvigil.so, libvigil.a and vigil.pc, which a
#     program is compiled and linked with, and runs;
#   - no installed ELF file has a run path; the unit runs /usr/sbin/vigild,
#     which is linked with libsystemd when the unit is Type=notify;
#   - the maintainer scripts: the postinst creates the system user vigil
#     and /var/lib/vigil with mode 0700, owned by vigil; no script starts
#     or enables the relay; every script parses (sh -n) and the ones in
#     deploy/debian pass shellcheck (when installed).
#
#   deb.sh SOURCE_DIR WORK_DIR
#
# Exit status 77 (skipped) when the Debian tools are missing and cannot be
# installed (not root).
set -euo pipefail

src=$1
work=$2

for tool in dpkg-buildpackage dh lintian; do
	if ! command -v "$tool" >/dev/null && [ "$(id -u)" -ne 0 ]; then
		echo "deb: $tool is missing (apt-get install dpkg-dev debhelper lintian): skipped"
		exit 77
	fi
done

rm -rf "$work"
mkdir -p "$work"
out=$work/out
start=$SECONDS
bash "$src/deploy/build-deb.sh" "$out"
echo "deb: built and linted in $((SECONDS - start)) s"

problems=0
problem() {
	echo "deb: $*"
	problems=$((problems + 1))
}

[ -f "$out/lintian.txt" ] || problem "lintian did not run"
if grep -q '^E: ' "$out/lintian.txt"; then
	problem "lintian errors: $(grep '^E: ' "$out/lintian.txt")"
fi

multiarch=$(dpkg-architecture -qDEB_HOST_MULTIARCH)
# The .deb of a package, or nothing.
deb_of() {
	local f
	for f in "$out/$1"_*.deb; do
		[ -f "$f" ] && echo "$f"
	done
	return 0
}
# has PACKAGE PATH...: each path is in the package.
has() {
	local pkg=$1 deb list
	shift
	deb=$(deb_of "$pkg")
	if [ -z "$deb" ]; then
		problem "no $pkg package"
		return 0
	fi
	list=$(dpkg-deb -c "$deb" | awk '{ print $6 }' | sed 's|^\./|/|')
	for path in "$@"; do
		grep -qxF -- "$path" <<<"$list" || problem "$pkg does not hold $path"
	done
}

has vigild /usr/sbin/vigild /lib/systemd/system/vigild.service \
	/usr/share/man/man8/vigild.8.gz /usr/share/man/man5/vigild.conf.5.gz \
	/usr/share/doc/vigild/examples/vigild.conf /usr/share/doc/vigild/examples/directory.conf \
	/usr/share/doc/vigild/copyright
has vigil-client /usr/bin/vigil /usr/share/man/man1/vigil.1.gz \
	/lib/systemd/system/vigil-alerts@.service /usr/libexec/vigil/vigil-alert-mail
has libvigil0 "/usr/lib/$multiarch/libvigil.so.0"
has libvigil-dev /usr/include/vigil.h "/usr/lib/$multiarch/libvigil.so" \
	"/usr/lib/$multiarch/libvigil.a" "/usr/lib/$multiarch/pkgconfig/vigil.pc"

# Nothing in /etc: the example configuration is documentation (a relay
# needs its own keys, directory and log origin before it can start).
for pkg in vigild vigil-client libvigil0 libvigil-dev; do
	deb=$(deb_of "$pkg")
	[ -n "$deb" ] || continue
	if dpkg-deb -c "$deb" | awk '{ print $6 }' | grep -q '^\./etc/'; then
		problem "$pkg installs files in /etc"
	fi
	mkdir -p "$work/ctrl/$pkg"
	dpkg-deb -e "$deb" "$work/ctrl/$pkg"
	[ ! -s "$work/ctrl/$pkg/conffiles" ] || problem "$pkg has conffiles: $(cat "$work/ctrl/$pkg/conffiles")"
	dpkg-deb -x "$deb" "$work/root"
done

# No run path in any ELF file.
n_elf=0
while IFS= read -r -d '' f; do
	[ "$(head -c 4 "$f" | tr -d '\000\177')" = ELF ] || continue
	n_elf=$((n_elf + 1))
	if readelf -d "$f" | grep -qE '\((RPATH|RUNPATH)\)'; then
		problem "${f#"$work/root"} has a run path"
	fi
done < <(find "$work/root" -type f -print0)
[ "$n_elf" -ge 3 ] || problem "found $n_elf ELF files, expected vigild, vigil and libvigil"

# The unit runs the packaged vigild, which speaks sd_notify when the unit
# waits for it (Type=notify: without libsystemd the start would time out).
unit=$work/root/lib/systemd/system/vigild.service
grep -q '^ExecStart=/usr/sbin/vigild ' "$unit" ||
	problem "vigild.service does not run /usr/sbin/vigild"
if grep -q '^Type=notify' "$unit" &&
	! readelf -d "$work/root/usr/sbin/vigild" | grep -q 'NEEDED.*libsystemd'; then
	problem "vigild.service is Type=notify but the packaged vigild is built without libsystemd"
fi

# The alerts unit runs the packaged vigil and hook; the hook is executable.
unit=$work/root/lib/systemd/system/vigil-alerts@.service
grep -q '^ExecStart=/usr/bin/vigil .* --exec /usr/libexec/vigil/vigil-alert-mail$' "$unit" ||
	problem "vigil-alerts@.service does not run /usr/bin/vigil with the packaged hook"
[ -x "$work/root/usr/libexec/vigil/vigil-alert-mail" ] ||
	problem "/usr/libexec/vigil/vigil-alert-mail is not executable"

# libvigil-dev is usable: a program built with vigil.pc links and runs.
cat >"$work/prog.c" <<'C'
#include <stdio.h>
#include <vigil.h>
int main(void)
{
	printf("libvigil %s\n", vigil_version());
	return 0;
}
C
pc_dir=$work/root/usr/lib/$multiarch/pkgconfig
if flags=$(PKG_CONFIG_PATH=$pc_dir pkg-config --define-variable=prefix="$work/root/usr" \
	--cflags --libs vigil 2>&1); then
	# shellcheck disable=SC2086 # pkg-config's flags are words
	if cc -o "$work/prog" "$work/prog.c" $flags 2>"$work/cc.log"; then
		LD_LIBRARY_PATH=$work/root/usr/lib/$multiarch "$work/prog" >/dev/null ||
			problem "a program linked with libvigil does not run"
	else
		problem "a program does not build with vigil.pc: $(cat "$work/cc.log")"
	fi
else
	problem "pkg-config cannot read vigil.pc: $flags"
fi

# The maintainer scripts.
ctrl=$work/ctrl/vigild
postinst=$ctrl/postinst
if [ ! -f "$postinst" ]; then
	problem "vigild has no postinst"
else
	grep -qE 'adduser --system .*vigil' "$postinst" || problem "postinst does not create the system user vigil"
	grep -q 'chown vigil:vigil /var/lib/vigil' "$postinst" || problem "postinst does not give /var/lib/vigil to vigil"
	grep -q 'chmod 0700 /var/lib/vigil' "$postinst" || problem "postinst does not make /var/lib/vigil 0700"
fi
for s in "$ctrl"/postinst "$ctrl"/postrm "$ctrl"/prerm "$ctrl"/preinst; do
	[ -f "$s" ] || continue
	sh -n "$s" || problem "$(basename "$s") does not parse"
	# An unconfigured relay is not started, and enabled only where the
	# administrator had enabled it (dh_installsystemd --no-enable guards
	# the enable with "debian-installed").
	if grep -qE 'deb-systemd-invoke (start|restart)|systemctl (start|restart|enable)' "$s"; then
		problem "$(basename "$s") starts vigild: $(grep -E 'deb-systemd-invoke|systemctl' "$s")"
	fi
	if ! awk '/deb-systemd-helper debian-installed/ { guarded = 1 }
		/deb-systemd-helper enable/ && !guarded { exit 1 }' "$s"; then
		problem "$(basename "$s") enables vigild on a new installation"
	fi
done
if command -v shellcheck >/dev/null; then
	shellcheck -s sh "$src"/deploy/debian/*.postinst "$src"/deploy/debian/*.postrm ||
		problem "shellcheck: the maintainer scripts in deploy/debian"
	shellcheck -s sh "$work/root/usr/libexec/vigil/vigil-alert-mail" ||
		problem "shellcheck: the packaged vigil-alert-mail"
else
	echo "deb: shellcheck is missing: the maintainer scripts were only parsed"
fi

if [ "$problems" -gt 0 ]; then
	echo "deb: $problems problems"
	exit 1
fi
echo "deb: OK (vigild, vigil-client, libvigil0, libvigil-dev; $n_elf ELF files without a run path; $((SECONDS - start)) s)"
