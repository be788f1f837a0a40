#!/bin/sh
# kiln-convert.sh: one call from CI to a bundle per board.  Uploads an ONNX
# model and a calibration set (a folder of images, or an archive), submits
# one job per board in one request, follows each job's events, downloads
# each bundle, and exits non-zero with the job's own error when one fails.
# POSIX sh with curl, tar and sed, like kiln-pull.sh; no jq.
#
#   kiln-convert.sh [-n NAME] [-s SPEC.json] [-o DIR] [-q] MODEL.onnx CALIB BOARD [BOARD ...]
#
#   MODEL.onnx  the model; the same bytes uploaded twice are one model
#   CALIB       a folder of JPEG/PNG images (packed here as a tar.gz), or an
#               archive kilnd takes as is (tar, tar.gz, tar.bz2, tar.xz, zip)
#   BOARD       a target id, as GET /api/v1/targets lists them
#   -n NAME     the job and bundle name (default: the model's file name)
#   -s SPEC     a JSON object with the rest of the job spec, shared by the
#               boards: "outputs", "input", "mud", "calibration",
#               "target_options": {"<board>": {...}} (schema/job.schema.json).
#               model, dataset, targets and name are filled in here.
#   -o DIR      where the bundles go (default .): <DIR>/<name>-<board>.tar.gz
#   -q          no live log: states and results only
#
# Settings (environment):
#   KILN_URL         http://127.0.0.1:8080 (default)
#   KILN_TOKEN       a user token (POST /api/v1/tokens), or KILN_TOKEN_FILE
# Exit status: 0 every board's bundle downloaded; 1 a job failed or was
# cancelled (its error is printed); 2 kilnd refused the input (the reply's
# message is printed) or the arguments are wrong.
#
# kilnd's replies are compact JSON (one line); the fields read here come
# first in their records (a record's "id", a job's "state"), which
# tests/deploy/test_kiln_convert.py holds against a live kilnd.
set -u

url=${KILN_URL:-http://127.0.0.1:8080}
token=${KILN_TOKEN:-}
if [ -z "$token" ] && [ -n "${KILN_TOKEN_FILE:-}" ] && [ -r "$KILN_TOKEN_FILE" ]; then
	token=$(cat "$KILN_TOKEN_FILE")
fi

log() { echo "kiln-convert: $*" >&2; }
usage() {
	log "usage: kiln-convert.sh [-n NAME] [-s SPEC.json] [-o DIR] [-q] MODEL.onnx CALIB BOARD [BOARD ...]"
	exit 2
}

name=
spec=
out=.
quiet=0
while getopts n:s:o:q opt; do
	case $opt in
	n) name=$OPTARG ;;
	s) spec=$OPTARG ;;
	o) out=$OPTARG ;;
	q) quiet=1 ;;
	*) usage ;;
	esac
done
shift $((OPTIND - 1))
[ $# -ge 3 ] || usage
model=$1
calib=$2
shift 2
[ -n "$token" ] || { log "KILN_TOKEN is not set (a user token from POST /api/v1/tokens)"; exit 2; }
[ -f "$model" ] || { log "$model: no such file"; exit 2; }
[ -e "$calib" ] || { log "$calib: no such file or folder"; exit 2; }
[ -z "$spec" ] || [ -f "$spec" ] || { log "$spec: no such file"; exit 2; }
if [ -z "$name" ]; then
	name=$(basename "$model")
	name=${name%.onnx}
fi
mkdir -p "$out" || { log "cannot create $out"; exit 2; }

tmp=$(mktemp -d "${TMPDIR:-/tmp}/kiln-convert.XXXXXX") || exit 2
trap 'rm -rf "$tmp"' EXIT
trap 'exit 1' INT TERM HUP

# api METHOD PATH [curl args...]: the body goes to $tmp/body, the status is
# printed.  Transport failures (kilnd down) stop the script.
api() {
	m=$1
	p=$2
	shift 2
	code=$(curl -sS -o "$tmp/body" -w '%{http_code}' -X "$m" \
		-H "Authorization: Bearer $token" "$@" "$url$p") || {
		log "cannot reach $url ($m $p)"
		exit 2
	}
	echo "$code"
}

# The first "key":value in the reply (numbers and strings, unquoted).
field() {
	grep -o "\"$1\":\"\{0,1\}[^\",}]*" "$tmp/body" | head -n 1 | sed 's/^"[^"]*":"\{0,1\}//'
}
# What kilnd said: error.message and error.field of the one error shape.
said() {
	msg=$(sed -n 's/.*"message":"\(\([^"\\]\|\\.\)*\)".*/\1/p' "$tmp/body" | head -n 1)
	fld=$(sed -n 's/.*"field":"\([^"]*\)".*/\1/p' "$tmp/body" | head -n 1)
	[ -n "$msg" ] || msg=$(head -c 400 "$tmp/body")
	if [ -n "$fld" ]; then echo "$msg (field $fld)"; else echo "$msg"; fi
}

# 1. The model: kilnd answers the record of the same bytes if they are there.
st=$(api POST "/api/v1/models?name=$name" -H 'Content-Type: application/octet-stream' \
	--data-binary "@$model")
case $st in
200 | 201) ;;
*) log "the model was refused (HTTP $st): $(said)"; exit 2 ;;
esac
model_id=$(sed -n 's/^{"id":\([0-9]*\).*/\1/p' "$tmp/body")
log "model $model_id ($name)"

# 2. The calibration set; a folder is packed first (hidden files and
# non-images in it are dropped by kilnd with a reason each).
if [ -d "$calib" ]; then
	tar czf "$tmp/calib.tar.gz" -C "$calib" . || { log "cannot pack $calib"; exit 2; }
	archive=$tmp/calib.tar.gz
else
	archive=$calib
fi
st=$(api POST "/api/v1/datasets?name=$name-calib" -H 'Content-Type: application/octet-stream' \
	--data-binary "@$archive")
[ "$st" = 202 ] || { log "the calibration set was refused (HTTP $st): $(said)"; exit 2; }
dataset_id=$(sed -n 's/^{"id":\([0-9]*\).*/\1/p' "$tmp/body")
while :; do
	st=$(api GET "/api/v1/datasets/$dataset_id?wait=60")
	[ "$st" = 200 ] || { log "dataset $dataset_id: HTTP $st: $(said)"; exit 2; }
	state=$(field state)
	[ "$state" = ingesting ] || break
	log "dataset $dataset_id: checking images ($(field progress))"
done
if [ "$state" != ready ]; then
	log "the calibration set was $state: $(said)"
	exit 2
fi
log "dataset $dataset_id: $(field images) images"

# 3. One request for every board: either all are queued or none is.
boards=
for b in "$@"; do
	boards="$boards${boards:+,}\"$b\""
done
inner=
if [ -n "$spec" ]; then
	inner=$(tr '\n' ' ' < "$spec" | sed 's/^[[:space:]]*{//; s/}[[:space:]]*$//')
	case $(printf '%s' "$inner" | tr -d ' \t') in '') inner= ;; esac
fi
printf '{"model":%s,"dataset":%s,"targets":[%s],"name":"%s"%s%s}' \
	"$model_id" "$dataset_id" "$boards" "$name" "${inner:+,}" "$inner" > "$tmp/spec.json"
st=$(api POST /api/v1/jobs -H 'Content-Type: application/json' --data-binary "@$tmp/spec.json")
[ "$st" = 202 ] || { log "the jobs were refused (HTTP $st): $(said)"; exit 2; }
# {"group":…,"jobs":[{"id":8,…},{"id":9,…}],"refused":[]}: a job record's
# first key is its id, in the order of the boards.
jobs=$(sed 's/"refused":.*//' "$tmp/body" | grep -o '[[,]{"id":[0-9]*' | sed 's/.*://' | tr '\n' ' ')
log "group $(field group): jobs $jobs"

# 4. Follow each job to its end, then fetch its bundle.
rc=0
i=0
for j in $jobs; do
	i=$((i + 1))
	board=$(eval "echo \${$i}")
	if [ "$quiet" = 0 ]; then
		# The stream ends when the job does; log lines and steps are shown.
		curl -sSN -H "Authorization: Bearer $token" "$url/api/v1/jobs/$j/events" 2>/dev/null |
			while IFS= read -r line; do
				case $line in
				'data: {"step":"'*'"line":"'*)
					printf '%s\n' "$line" | sed -n \
						"s/^data: {\"step\":\"\([^\"]*\)\",.*\"line\":\"\(.*\)\"}$/[$board \1] \2/p" ;;
				'data: {"index":'*)
					n=$(printf '%s\n' "$line" | sed -n 's/^data: {"index":\([0-9]*\),.*/\1/p')
					of=$(printf '%s\n' "$line" | sed -n 's/.*"steps":\([0-9]*\).*/\1/p')
					sn=$(printf '%s\n' "$line" | sed -n 's/.*"name":"\([^"]*\)".*/\1/p')
					echo "[$board] step $((n + 1))/$of: $sn" ;;
				esac
			done >&2
	fi
	while :; do
		st=$(api GET "/api/v1/jobs/$j")
		[ "$st" = 200 ] || { log "job $j: HTTP $st: $(said)"; rc=1; continue 2; }
		state=$(field state)
		case $state in
		succeeded | failed | cancelled) break ;;
		esac
		# the stream ended early (-q, or a dropped connection): wait on it again
		curl -sSN -o /dev/null -H "Authorization: Bearer $token" "$url/api/v1/jobs/$j/events" || true
	done
	if [ "$state" != succeeded ]; then
		log "job $j ($board) $state: $(said)"
		api GET "/api/v1/jobs/$j/log" -H 'Range: bytes=-2000' > /dev/null
		tail -n 10 "$tmp/body" | sed "s/^/[$board log] /" >&2
		rc=1
		continue
	fi
	st=$(api GET "/api/v1/jobs/$j")
	bundle=$(field bundle)
	file=$out/$name-$board.tar.gz
	code=$(curl -sS -o "$file.part" -w '%{http_code}' -H "Authorization: Bearer $token" \
		"$url/api/v1/bundles/$bundle/archive") || code=000
	if [ "$code" != 200 ]; then
		rm -f "$file.part"
		log "job $j ($board): bundle $bundle download failed (HTTP $code)"
		rc=1
		continue
	fi
	mv "$file.part" "$file"
	log "job $j ($board) succeeded: $file"
done
exit $rc
