#!/usr/bin/env bash
# install-deps.sh run|test|list: installs the Debian packages Kiln needs
# that are missing, and nothing when all are there (so `make run` is quick
# the second time).  `run` is what building and running kilnd needs (and jq,
# which the README's curl walk-through uses); `test` adds what the tests and
# benchmarks use; `list` only names the missing `run` packages and the
# command that installs them.  Needs root for apt-get; otherwise prints the
# command to run.
set -eu
RUN_PKGS="build-essential pkg-config libmicrohttpd-dev libcjson-dev libarchive-dev
 libturbojpeg0-dev libsqlite3-dev libinih-dev libprotobuf-c-dev protobuf-c-compiler
 libonnx-dev libpng-dev libssl-dev curl jq"
TEST_PKGS="libcurl4-openssl-dev curl cppcheck wrk nginx-light python3 python3-onnx
 python3-numpy python3-yaml libonnx-testdata procps podman runc busybox-static time
 python3-skimage python3-pil clang python3-jsonschema chromium nodejs openssh-server slurm-wlm munge"
# npm: Debian ships it apart from nodejs; NodeSource's nodejs carries its own.
command -v npm >/dev/null 2>&1 || TEST_PKGS="$TEST_PKGS npm"
case "${1:-run}" in
run | list) want=$RUN_PKGS ;;
test) want="$RUN_PKGS $TEST_PKGS" ;;
*) echo "usage: $0 run|test|list" >&2; exit 2 ;;
esac
missing=""
for p in $want; do
	st=$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)
	case "$st" in *" installed") ;; *) missing="$missing $p" ;; esac
done
[ -z "$missing" ] && exit 0
if [ "$(id -u)" -ne 0 ] || [ "${1:-run}" = list ]; then
	echo "kiln: these Debian packages are missing:$missing" >&2
	echo "kiln: run as root, or: sudo apt-get install -y$missing" >&2
	exit 1
fi
n=$(echo $missing | wc -w)
echo "kiln: installing $n Debian packages (a few minutes on a new machine):$missing" >&2
export DEBIAN_FRONTEND=noninteractive
echo "kiln: apt-get update" >&2
apt-get update -qq
# Progress: a line every 25 packages downloaded and set up, so a long
# install is visibly alive; apt's whole output is kept in a log for when it
# fails.
log=$(mktemp /tmp/kiln-apt.XXXXXX)
set -o pipefail
# shellcheck disable=SC2086
if ! apt-get install -y --no-install-recommends $missing 2>&1 | tee "$log" | awk '
	/^Get:/        { g++; if (g % 25 == 0) { print "kiln:   downloaded " g " packages"; fflush() } }
	/^Setting up / { s++; if (s % 25 == 0) { print "kiln:   set up " s " packages"; fflush() } }
	END            { print "kiln:   " g + 0 " downloaded, " s + 0 " set up" }' >&2; then
	tail -n 30 "$log" >&2
	echo "kiln: apt-get install failed; its whole output is in $log" >&2
	exit 1
fi
rm -f "$log"
echo "kiln: packages installed" >&2
