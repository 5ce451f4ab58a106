#!/usr/bin/env bash
# `cmake --install` of this build tree (into a scratch DESTDIR): everything
# a distribution needs is there (programs, library, header, vigil.pc, the
# man pages when scdoc built them, the systemd unit naming the installed
# vigild, the alerts unit template naming the installed vigil and mail
# hook, the example configuration) and no installed ELF file carries a
# run path.
#
#   install.sh BUILD_DIR SCRATCH_DIR
set -euo pipefail

build=$1
scratch=$2
rm -rf "$scratch"
root=$scratch/root
# DESTDIR also catches absolute destinations (the unit's, under /usr).
DESTDIR=$root cmake --install "$build" >/dev/null

problems=0
problem() {
	echo "install: $*"
	problems=$((problems + 1))
}
# The installation directories, absolute, as CMake computed them (ctest
# passes them: tests/packaging/CMakeLists.txt).
for d in SBINDIR BINDIR LIBDIR LIBEXECDIR INCLUDEDIR DOCDIR MANDIR; do
	v=VIGIL_INSTALL_$d
	if [ -z "${!v:-}" ]; then
		echo "install: $v is not set" >&2
		exit 2
	fi
done
want=("$VIGIL_INSTALL_SBINDIR/vigild" "$VIGIL_INSTALL_BINDIR/vigil"
	"$VIGIL_INSTALL_LIBDIR/libvigil.so" "$VIGIL_INSTALL_LIBDIR/libvigil.a"
	"$VIGIL_INSTALL_LIBDIR/pkgconfig/vigil.pc" "$VIGIL_INSTALL_INCLUDEDIR/vigil.h"
	"$VIGIL_INSTALL_DOCDIR/examples/vigild.conf"
	"$VIGIL_INSTALL_DOCDIR/examples/directory.conf"
	"$VIGIL_INSTALL_LIBEXECDIR/vigil/vigil-alert-mail")
if [ -f "$build/man/vigild.8" ]; then
	want+=("$VIGIL_INSTALL_MANDIR/man8/vigild.8" "$VIGIL_INSTALL_MANDIR/man5/vigild.conf.5"
		"$VIGIL_INSTALL_MANDIR/man1/vigil.1")
else
	echo "install: the man pages were not built (no scdoc): not checked"
fi
for f in "${want[@]}"; do
	[ -e "$root$f" ] || problem "missing $f"
done

unit=$(find "$root" -path '*/systemd/system/vigild.service' | head -n 1)
sbin_vigild=$VIGIL_INSTALL_SBINDIR/vigild
if [ -z "$unit" ]; then
	problem "missing the systemd unit vigild.service"
elif ! grep -q "^ExecStart=$sbin_vigild " "$unit"; then
	problem "vigild.service does not run $sbin_vigild: $(grep '^ExecStart=' "$unit")"
fi

hook=$VIGIL_INSTALL_LIBEXECDIR/vigil/vigil-alert-mail
[ ! -e "$root$hook" ] || [ -x "$root$hook" ] || problem "$hook is not executable"
alerts=$(find "$root" -path '*/systemd/system/vigil-alerts@.service' | head -n 1)
if [ -z "$alerts" ]; then
	problem "missing the systemd unit vigil-alerts@.service"
elif ! grep -q "^ExecStart=$VIGIL_INSTALL_BINDIR/vigil .* --exec $hook\$" "$alerts"; then
	problem "vigil-alerts@.service does not run $VIGIL_INSTALL_BINDIR/vigil with $hook:" \
		"$(grep '^ExecStart=' "$alerts")"
fi

n_elf=0
while IFS= read -r -d '' f; do
	[ "$(head -c 4 "$f" | tr -d '\000\177')" = ELF ] || continue
	n_elf=$((n_elf + 1))
	if readelf -d "$f" | grep -qE '\((RPATH|RUNPATH)\)'; then
		problem "${f#"$root"} has a run path: $(readelf -d "$f" | grep -E 'RPATH|RUNPATH')"
	fi
done < <(find "$root" -type f -print0)
[ "$n_elf" -ge 3 ] || problem "found $n_elf ELF files, expected vigild, vigil and libvigil.so"

if [ "$problems" -gt 0 ]; then
	echo "install: $problems problems"
	exit 1
fi
echo "install: OK (${#want[@]} files and the units; $n_elf ELF files, none with a run path)"
rm -rf "$scratch"
