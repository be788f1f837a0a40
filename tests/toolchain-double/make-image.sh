#!/bin/sh
# make-image.sh [IMAGE]: packages the toolchain double as an OCI image with
# `podman import`, from a rootfs made here: busybox-static for a shell and
# the double's bin/ and lib/ under /opt/kiln-double.  The double is Python
# and needs Debian's python3 + python3-onnx + python3-numpy + python3-yaml,
# which the image does NOT carry: the container bind-mounts the host's /usr
# read-only.  Default IMAGE: localhost/kiln-toolchain-double:latest.
#
# Run it exactly so (podman here needs runc and the ulimits):
#   podman --runtime runc run --rm \
#     --ulimit nofile=1024:1024 --ulimit nproc=1024:1024 \
#     -v /usr:/usr:ro -v "$PWD":/workspace -w /workspace \
#     localhost/kiln-toolchain-double:latest model_transform --model_name ...
# For kiln.ini (engine = podman):
#   image = localhost/kiln-toolchain-double:latest
#   engine_args = --ulimit nofile=1024:1024 --ulimit nproc=1024:1024 -v /usr:/usr:ro
# (and `--runtime runc` before `run`, a global podman option).
#
# The image is for tests only; it is never selected by default, and every
# file the double writes is marked KILN-TOOLCHAIN-DOUBLE / simulated.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
image=${1:-localhost/kiln-toolchain-double:latest}

command -v podman >/dev/null 2>&1 || { echo "make-image.sh: podman is not installed (apt-get install podman runc)" >&2; exit 1; }
busybox=""
for b in /bin/busybox /usr/bin/busybox; do
	if [ -x "$b" ] && ! ldd "$b" >/dev/null 2>&1; then busybox=$b; break; fi
done
[ -n "$busybox" ] || { echo "make-image.sh: a static busybox is needed (apt-get install busybox-static)" >&2; exit 1; }
[ -x /usr/bin/python3 ] || { echo "make-image.sh: /usr/bin/python3 is needed on the host (it is bind-mounted)" >&2; exit 1; }

work=$(mktemp -d "${TMPDIR:-/tmp}/kiln-double-image.XXXXXX")
trap 'rm -rf "$work"' EXIT INT TERM
root=$work/rootfs
mkdir -p "$root/bin" "$root/usr" "$root/etc" "$root/tmp" "$root/root" "$root/workspace" \
	"$root/proc" "$root/sys" "$root/dev" "$root/opt/kiln-double"
chmod 1777 "$root/tmp"
cp "$busybox" "$root/bin/busybox"
for applet in $("$root/bin/busybox" --list); do
	[ -e "$root/bin/$applet" ] || ln -s busybox "$root/bin/$applet"
done
# The host's /usr is mounted over /usr: the loader and libraries are found
# through the merged-/usr links, and Debian's alternatives (libblas.so.3 ->
# /etc/alternatives/...) through a copy of the host's symlinks.
ln -s usr/lib "$root/lib"
[ -d /usr/lib64 ] && ln -s usr/lib64 "$root/lib64"
cp -a /etc/alternatives "$root/etc/alternatives"
[ -f /etc/ld.so.cache ] && cp /etc/ld.so.cache "$root/etc/ld.so.cache"
printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n' >"$root/etc/passwd"
printf 'root:x:0:\nnogroup:x:65534:\n' >"$root/etc/group"
# the double itself (symlinks such as model_deploy.py -> model_deploy kept)
cp -a "$here/bin" "$here/lib" "$root/opt/kiln-double/"
[ -f "$here/README.md" ] && cp "$here/README.md" "$root/opt/kiln-double/"
find "$root/opt/kiln-double" -name __pycache__ -type d -prune -exec rm -rf {} +
printf '%s\n' "KILN-TOOLCHAIN-DOUBLE image: simulated toolchains for tests, see /opt/kiln-double/README.md" \
	>"$root/etc/motd"

tar -C "$root" --numeric-owner --owner=0 --group=0 -cf "$work/rootfs.tar" .
podman import \
	--change 'ENV PATH=/opt/kiln-double/bin:/bin:/usr/bin' \
	--change 'WORKDIR /workspace' \
	--change 'CMD ["/bin/sh"]' \
	--change 'LABEL io.kiln.toolchain-double=true io.kiln.simulated=true' \
	"$work/rootfs.tar" "$image" >/dev/null
echo "$image"
