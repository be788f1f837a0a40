#!/usr/bin/env bash
# install-deps.sh run|test: installs the Debian packages Kiln needs that are
# missing, and nothing when all are there (so `make run` is quick the second
# time).  `run` is what building and running kilnd needs; `test` adds what the
# tests and benchmarks use.  Needs root for apt-get; otherwise prints the
# command to run.
set -eu
RUN_PKGS="build-essential pkg-config libmicrohttpd-dev libcjson-dev libarchive-dev
 libturbojpeg0-dev libsqlite3-dev libinih-dev libprotobuf-c-dev protobuf-c-compiler
 libonnx-dev libpng-dev libssl-dev"
TEST_PKGS="libcurl4-openssl-dev curl cppcheck wrk nginx-light python3 python3-onnx
 python3-numpy python3-yaml libonnx-testdata procps podman runc busybox-static time
 python3-skimage python3-pil clang python3-jsonschema chromium nodejs openssh-server"
# npm: Debian ships it apart from nodejs; NodeSource's nodejs carries its own.
command -v npm >/dev/null 2>&1 || TEST_PKGS="$TEST_PKGS npm"
case "${1:-run}" in
run) want=$RUN_PKGS ;;
test) want="$RUN_PKGS $TEST_PKGS" ;;
*) echo "usage: $0 run|test" >&2; exit 2 ;;
esac
missing=""
for p in $want; do
	st=$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)
	case "$st" in *" installed") ;; *) missing="$missing $p" ;; esac
done
[ -z "$missing" ] && exit 0
if [ "$(id -u)" -ne 0 ]; then
	echo "kiln: these Debian packages are missing:$missing" >&2
	echo "kiln: run as root, or: sudo apt-get install -y$missing" >&2
	exit 1
fi
echo "kiln: installing:$missing" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
# shellcheck disable=SC2086
apt-get install -y -qq --no-install-recommends $missing >/dev/null
