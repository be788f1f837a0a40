#!/bin/sh
# kiln-pull.sh: a board fetches the bundle Kiln assigned to it and installs
# it.  POSIX sh for the boards' busybox: needs curl (or busybox wget),
# sha256sum, tar, mkdir, mv, rm.  Safe to run from cron every minute:
#   - a lock directory keeps two runs from overlapping;
#   - If-None-Match with the installed bundle's sha256: an unchanged bundle
#     costs one small 304 and writes nothing;
#   - a cut download is kept and resumed with Range + If-Range next run;
#   - the archive's sha256 is checked before anything is unpacked;
#   - it unpacks into <models_dir>/<name>.new and swaps it in with renames,
#     so a failed run leaves the previous model in place;
#   - the result is reported to POST /api/v1/pull/report.
#
# Settings (environment, or the file $KILN_PULL_CONF, default
# /etc/kiln-pull.conf, which is sourced):
#   KILN_URL         http://kiln.local:8080            (required)
#   KILN_TOKEN       the device token from POST /api/v1/devices (or KILN_TOKEN_FILE)
#   KILN_MODELS_DIR  where bundles go                 (default /root/models)
#   KILN_STATE_DIR   download and lock state          (default $KILN_MODELS_DIR/.kiln-pull)
#   KILN_TIMEOUT     seconds one download may take    (default 600)
# Exit status: 0 installed or nothing to do, 1 failed (the old model is kept).
set -u

conf=${KILN_PULL_CONF:-/etc/kiln-pull.conf}
# shellcheck disable=SC1090
[ -r "$conf" ] && . "$conf"
url=${KILN_URL:-}
token=${KILN_TOKEN:-}
if [ -z "$token" ] && [ -n "${KILN_TOKEN_FILE:-}" ] && [ -r "$KILN_TOKEN_FILE" ]; then
	token=$(cat "$KILN_TOKEN_FILE")
fi
models=${KILN_MODELS_DIR:-/root/models}
state=${KILN_STATE_DIR:-$models/.kiln-pull}
timeout=${KILN_TIMEOUT:-600}

log() { echo "kiln-pull: $*" >&2; }
[ -n "$url" ] || { log "KILN_URL is not set (see $conf)"; exit 1; }
[ -n "$token" ] || { log "KILN_TOKEN is not set (see $conf)"; exit 1; }

mkdir -p "$models" "$state" || { log "cannot create $state"; exit 1; }

# One run at a time: mkdir is atomic.  A lock left by a run that died
# (power cut, kill -9) is taken over when its pid is gone.
lock=$state/lock
if ! mkdir "$lock" 2>/dev/null; then
	old=$(cat "$lock/pid" 2>/dev/null || true)
	if [ -n "$old" ] && kill -0 "$old" 2>/dev/null; then
		log "another run (pid $old) is still going; leaving it"
		exit 0
	fi
	rm -rf "$lock"
	mkdir "$lock" 2>/dev/null || { log "cannot take $lock"; exit 1; }
fi
echo $$ > "$lock/pid"
trap 'rm -rf "$lock"' EXIT
trap 'exit 1' INT TERM HUP

hdr=$state/headers
chunk=$state/chunk
part=$state/download.part
rm -f "$hdr" "$chunk"

header() { # name -> value of that response header (last one wins)
	tr -d '\r' < "$hdr" | grep -i "^$1:" | tail -n 1 | sed 's/^[^:]*:[ 	]*//'
}

report() { # status bundle-id detail
	b=${2:-null}
	d=$(printf '%s' "$3" | tr -d '"\\' | tr '\n\t' '  ' | cut -c1-900)
	body=$(printf '{"status":"%s","bundle":%s,"detail":"%s"}' "$1" "$b" "$d")
	if command -v curl >/dev/null 2>&1; then
		curl -sS -o /dev/null --max-time 30 -X POST -H "Authorization: Bearer $token" \
			-H 'Content-Type: application/json' --data "$body" "$url/api/v1/pull/report" ||
			log "could not report '$1'"
	else
		# shellcheck disable=SC2046
		wget -q -O /dev/null $(wget_t 30) --header "Authorization: Bearer $token" \
			--header 'Content-Type: application/json' --post-data "$body" \
			"$url/api/v1/pull/report" || log "could not report '$1'"
	fi
}

# busybox wget takes -T only when built with FEATURE_WGET_TIMEOUT, and some
# builds without it (Debian's busybox 1.35) crash on -T instead of refusing
# it, so ask its usage text first.
wget_t() { # seconds -> "-T seconds" when this wget has it
	if wget --help 2>&1 | grep -q -- '-T '; then
		echo "-T $1"
	fi
}

fail() { # bundle-id message
	log "$2"
	report failed "$1" "$2"
	exit 1
}

installed=$(cat "$state/etag" 2>/dev/null || true)
petag=$(cat "$state/part.etag" 2>/dev/null || true)
off=0
if [ -s "$part" ] && [ -n "$petag" ]; then
	off=$(wc -c < "$part" | tr -d ' ')
else
	rm -f "$part" "$state/part.etag"
fi

# --- fetch -------------------------------------------------------------------
rc=0
if command -v curl >/dev/null 2>&1; then
	set -- -sS --max-time "$timeout" -D "$hdr" -o "$chunk" \
		-H "Authorization: Bearer $token"
	[ -n "$installed" ] && set -- "$@" -H "If-None-Match: \"$installed\""
	if [ "$off" -gt 0 ]; then
		# If-Range: if the assignment changed since the cut, the server
		# sends the new bundle whole instead of splicing two.
		set -- "$@" -H "Range: bytes=$off-" -H "If-Range: \"$petag\""
	fi
	curl "$@" "$url/api/v1/pull" || rc=$?
else
	# busybox wget: -S prints the response headers on stderr; it only
	# accepts a 206 when it asked for the range itself (-c on the part file).
	# shellcheck disable=SC2046
	set -- -S $(wget_t "$timeout") --header "Authorization: Bearer $token"
	[ -n "$installed" ] && set -- "$@" --header "If-None-Match: \"$installed\""
	if [ "$off" -gt 0 ]; then
		cp "$part" "$chunk"
		set -- "$@" -c --header "If-Range: \"$petag\""
	fi
	wget "$@" -O "$chunk" "$url/api/v1/pull" 2> "$hdr.raw" || rc=$?
	sed -n 's/^  //p' "$hdr.raw" > "$hdr"
	cat "$hdr.raw" | grep -v '^  ' >&2
fi
status=$(tr -d '\r' < "$hdr" 2>/dev/null | sed -n 's/^HTTP\/[0-9.]* \([0-9][0-9]*\).*/\1/p' | tail -n 1)
bundle=$(header X-Kiln-Bundle)
name=$(header X-Kiln-Bundle-Name)
sha=$(header X-Kiln-Sha256)

case "$status" in
304)
	rm -f "$chunk"
	exit 0 ;;
204)
	log "nothing is assigned to this device"
	rm -f "$chunk"
	exit 0 ;;
200)
	# The whole file (also when the server ignored our Range).
	mv -f "$chunk" "$part"
	echo "$sha" > "$state/part.etag" ;;
206)
	if command -v curl >/dev/null 2>&1; then
		cat "$chunk" >> "$part" && rm -f "$chunk"
	else
		mv -f "$chunk" "$part"
	fi ;;
416)
	rm -f "$part" "$chunk" "$state/part.etag"
	fail "$bundle" "the server refused to resume (416); the next run downloads afresh" ;;
401|403)
	log "the server refused the token (HTTP $status): $(cat "$chunk" 2>/dev/null)"
	rm -f "$chunk"
	exit 1 ;;
"")
	rm -f "$chunk"
	log "no answer from $url (exit $rc)"
	exit 1 ;;
*)
	rm -f "$chunk"
	fail "$bundle" "unexpected HTTP status $status from /api/v1/pull" ;;
esac
if [ "$rc" -ne 0 ]; then
	# Cut off half way: what arrived stays in the part file for next time.
	log "download interrupted (exit $rc) at $(wc -c < "$part" | tr -d ' ') bytes; the next run resumes"
	exit 1
fi

# --- verify ------------------------------------------------------------------
case "$name" in
''|.*|*[!A-Za-z0-9._-]*) rm -f "$part" "$state/part.etag"
	fail "$bundle" "the server sent no usable bundle name ('$name')" ;;
esac
case "$sha" in
*[!0-9a-f]*|'') rm -f "$part" "$state/part.etag"
	fail "$bundle" "the server sent no sha256 for the bundle" ;;
esac
got=$(sha256sum "$part" | cut -d' ' -f1)
if [ "$got" != "$sha" ]; then
	rm -f "$part" "$state/part.etag"
	fail "$bundle" "sha256 mismatch: expected $sha, got $got; the previous model is kept"
fi

# --- install -----------------------------------------------------------------
new=$models/$name.new
rm -rf "$new"
mkdir -p "$new" || fail "$bundle" "cannot create $new"
if ! tar -xzf "$part" -C "$new"; then
	rm -rf "$new"
	fail "$bundle" "cannot unpack the bundle into $new; the previous model is kept"
fi
[ -f "$new/manifest.json" ] || { rm -rf "$new"; fail "$bundle" "the bundle has no manifest.json"; }
cur=$models/$name
rm -rf "$cur.old"
if [ -e "$cur" ]; then
	mv "$cur" "$cur.old" || { rm -rf "$new"; fail "$bundle" "cannot move $cur aside"; }
fi
if ! mv "$new" "$cur"; then
	[ -e "$cur.old" ] && mv "$cur.old" "$cur"
	fail "$bundle" "cannot move $new into place; the previous model is restored"
fi
rm -rf "$cur.old"
echo "$sha" > "$state/etag.tmp" && mv "$state/etag.tmp" "$state/etag"
echo "$bundle" > "$state/bundle"
rm -f "$part" "$state/part.etag"
log "installed bundle $bundle ($name) in $cur"
report installed "$bundle" "installed in $cur"
exit 0
