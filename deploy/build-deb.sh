#!/usr/bin/env bash
# Builds vigil's Debian packages (vigild, vigil-client, libvigil0,
# libvigil-dev) and its source package from a clean copy of the tree, and
# runs lintian on them: an error from lintian fails the build.
#
#   deploy/build-deb.sh [OUTDIR]       default: build/deb
#
# The copy holds the files git knows, committed or not, and none that git
# ignores (build trees, keys, databases, state/).  deploy/debian becomes its
# debian/ directory.  Installs missing build dependencies with apt-get when
# run as root.  OUTDIR gets the .deb, .dsc, .changes and lintian.txt files
# (and loses any it had).
set -euo pipefail

here=$(cd "$(dirname "$0")/.." && pwd)
out=${1:-$here/build/deb}

say() { printf '== %s\n' "$*"; }

install_packages() {
	if [ "$(id -u)" -ne 0 ]; then
		echo "build-deb: missing packages: $* (run as root to install them)" >&2
		exit 1
	fi
	say "installing $*"
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -qq
	apt-get install -y -qq --no-install-recommends "$@" >/dev/null
}

# The Debian tools first; the build dependencies are then read from
# debian/control by dpkg-checkbuilddeps.
missing=()
for p in dpkg-dev debhelper lintian; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" ||
		missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] || install_packages "${missing[@]}"

upstream=$(sed -nE 's/^project\(vigil VERSION ([0-9.]+).*/\1/p' "$here/CMakeLists.txt")
version=$(dpkg-parsechangelog -l "$here/deploy/debian/changelog" -S Version)
if [ "${version%-*}" != "$upstream" ]; then
	echo "build-deb: deploy/debian/changelog is at $version but CMakeLists.txt at" \
		"$upstream: add a changelog entry (dch -v $upstream-1)" >&2
	exit 1
fi

if ! git -C "$here" rev-parse --is-inside-work-tree >/dev/null 2>&1; then
	echo "build-deb: $here is not a git work tree; the clean copy needs git" >&2
	exit 1
fi

work=$(mktemp -d "${TMPDIR:-/tmp}/vigil-deb.XXXXXX")
trap 'rm -rf "$work"' EXIT
src=$work/vigil-$upstream
mkdir "$src"

say "copying the tree to $src"
(
	cd "$here"
	git ls-files -z --cached --others --exclude-standard |
		while IFS= read -r -d '' f; do
			# A file deleted but not yet committed is not copied.
			[ -e "$f" ] && printf '%s\0' "$f"
		done |
		tar --null -T - -cf -
) | tar -xf - -C "$src"
tar -C "$work" -czf "$work/vigil_$upstream.orig.tar.gz" "vigil-$upstream"
cp -a "$src/deploy/debian" "$src/debian"

if ! unmet=$(cd "$src" && dpkg-checkbuilddeps 2>&1); then
	# "dpkg-checkbuilddeps: error: Unmet build dependencies: a (>= 1) b"
	names=$(sed -nE 's/.*Unmet build dependencies: //p' <<<"$unmet" |
		sed -E 's/\([^)]*\)//g; s/\|/ /g')
	if [ -z "$names" ]; then
		echo "$unmet" >&2
		exit 1
	fi
	# shellcheck disable=SC2086 # a list of package names
	install_packages $names
fi

say "dpkg-buildpackage (vigil $version)"
jobs=$(nproc 2>/dev/null || echo 2)
(cd "$src" && dpkg-buildpackage -us -uc -J"$jobs") >"$work/build.log" 2>&1 || {
	tail -n 60 "$work/build.log" >&2
	echo "build-deb: dpkg-buildpackage failed (the end of its log is above)" >&2
	exit 1
}

mkdir -p "$out"
rm -f "$out"/*.deb "$out"/*.dsc "$out"/*.changes "$out"/*.buildinfo "$out"/*.tar.* \
	"$out"/build.log "$out"/lintian.txt
cp "$work"/*.deb "$work"/*.dsc "$work"/*.changes "$work"/*.buildinfo "$work"/*.tar.* \
	"$work/build.log" "$out/"

changes=$(ls "$out"/vigil_"${version}"_*.changes)
say "lintian $(basename "$changes")"
status=0
lintian --fail-on error --display-info "$changes" >"$out/lintian.txt" 2>&1 || status=$?
cat "$out/lintian.txt"
if [ "$status" -ne 0 ]; then
	echo "build-deb: lintian found errors (exit status $status)" >&2
	exit 1
fi
say "packages in $out:"
ls -1 "$out"/*.deb
