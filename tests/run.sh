#!/usr/bin/env bash
# Builds vigil from scratch and runs every test, twice: once with gcc and
# -Werror (and the Debian packages, built and linted), once with clang,
# -Werror, AddressSanitizer + UndefinedBehaviorSanitizer and the libFuzzer
# targets.  Installs missing Debian packages when run as root.  Exit status
# 0 only when everything passed.
set -euo pipefail

here=$(cd "$(dirname "$0")/.." && pwd)
cd "$here"

packages=(build-essential cmake pkg-config openssl sqlite3 clang libclang-rt-14-dev
	libuv1-dev libssl-dev libprotobuf-c-dev protobuf-c-compiler libsqlite3-dev
	libinih-dev libmicrohttpd-dev libcmocka-dev python3-prometheus-client libjansson-dev
	libpq-dev postgresql
	scdoc dpkg-dev debhelper lintian shellcheck libsystemd-dev
	chromium fonts-dejavu-core)

missing=()
for p in "${packages[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" ||
		missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
	if [ "$(id -u)" -ne 0 ]; then
		echo "tests/run.sh: missing packages: ${missing[*]} (run as root to install)" >&2
		exit 1
	fi
	echo "== installing ${missing[*]}"
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -qq
	apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

jobs=$(nproc 2>/dev/null || echo 2)
build_root=${VIGIL_BUILD_ROOT:-$here/build}

run_suite() {
	local name=$1
	shift
	local dir=$build_root/$name
	echo "== $name: configure and build from scratch"
	rm -rf "$dir"
	cmake -S "$here" -B "$dir" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DVIGIL_WERROR=ON "$@" >/dev/null
	cmake --build "$dir" -j "$jobs"
	echo "== $name: tests"
	(cd "$dir" && ctest --output-on-failure --timeout 600)
}

export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1:strict_string_checks=1
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1

# The Debian packages are built (and linted) once, with the gcc suite.
run_suite gcc -DCMAKE_C_COMPILER=gcc -DVIGIL_PACKAGE_TESTS=ON
run_suite clang-asan -DCMAKE_C_COMPILER=clang -DVIGIL_SANITIZE=ON -DVIGIL_FUZZ=ON

echo "== all suites passed"
