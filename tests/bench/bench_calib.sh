#!/usr/bin/env bash
# bench_calib: calibration preprocessing, kiln vs PIL, same photos, same run.
#
# 500 photographs made from python3-skimage's sample photos (half 1920x1080,
# half 4000x3000; tests/bench/make_photos.py, cached in $BUILD/bench-photos)
# are each decoded and letterboxed to 640x640 RGB:
#   - kiln: calib_preprocess_files() through build/tools/calib, all cores;
#   - peer: the same work in Python with PIL as a preprocessing script does it
#     (Image.draft to the letterbox size, BILINEAR resize, paste on a grey
#     canvas), one process — plus, for reference, one PIL process per core;
#   - ceiling: libjpeg-turbo decoding alone, all cores, at full size and at
#     the same DCT scale kiln picks: no pipeline that decodes can beat it.
#     kiln and the scaled decode, the row's ratio, run ROUNDS times in turns
#     (BENCH_ROUNDS, tests/bench/lib.sh); the row is the ratio of the medians.
# Prints images/s for each and the kiln / PIL ratio last.  Needs
# /usr/bin/python3 with python3-pil and python3-skimage (make test-deps).
set -eu
cd "$(dirname "$0")/../.."
. tests/bench/lib.sh
BUILD=${BUILD:-build}
PY=/usr/bin/python3
N=${CALIB_BENCH_N:-500}
if ! $PY -c 'import PIL, skimage' 2>/dev/null; then
	echo "SKIP bench_calib: python3-pil and python3-skimage are needed (make test-deps)"
	exit 0
fi
make -s "$BUILD/tools/calib" >/dev/null
TOOL=$BUILD/tools/calib
PHOTOS=$BUILD/bench-photos
if [ "$(ls "$PHOTOS" 2>/dev/null | grep -c '\.jpg$')" != "$N" ]; then
	rm -rf "$PHOTOS"
	echo "making $N photographs in $PHOTOS (once; takes a minute)"
	$PY tests/bench/make_photos.py "$PHOTOS" "$N" >/dev/null
fi
cat "$PHOTOS"/*.jpg >/dev/null   # page cache warm for every contestant
CORES=$(nproc)
rate() { sed -n 's/.* rate \([0-9.]*\).*/\1/p'; }

full=$($TOOL rawdecode "$PHOTOS" | rate)
$TOOL letterbox 640 640 "$PHOTOS" >/dev/null   # warm-up
# The row's ratio, kiln against the decode ceiling: ROUNDS rounds taken in
# turns (lib.sh), the median of each and the ratio of the medians.
kall=() sall=()
for r in $(seq "$ROUNDS"); do
	read -r first second <<<"$(turn_order "$r")"
	for side in "$first" "$second"; do
		if [ "$side" = kilnd ]; then
			kiln=$($TOOL letterbox 640 640 "$PHOTOS" | rate)
		else
			scaled=$($TOOL rawdecode "$PHOTOS" --fit 640 640 | rate)
		fi
	done
	kall+=("$kiln") sall+=("$scaled")
	printf 'round %d (%s first): kiln letterbox %.1f images/s, scaled decode %.1f images/s, %.2f of the ceiling\n' \
		"$r" "$(echo "$first" | sed "s/kilnd/kiln/; s/peer/decode/")" "$kiln" "$scaled" "$(echo "$kiln / $scaled" | bc -l)"
done
kiln=$(median "${kall[@]}") scaled=$(median "${sall[@]}")
kiln1=$($TOOL letterbox 640 640 "$PHOTOS" --threads 1 | rate)

pil_out=$($PY - "$PHOTOS" "$CORES" <<'EOF'
import glob, os, sys, time
from multiprocessing import Pool
from PIL import Image

def letterbox(path, size=640, pad=(114, 114, 114)):
    im = Image.open(path)
    w, h = im.size
    s = min(size / w, size / h)
    nw, nh = round(w * s), round(h * s)
    im.draft("RGB", (nw, nh))          # DCT-scaled decode, as kiln does
    im = im.convert("RGB").resize((nw, nh), Image.BILINEAR)
    canvas = Image.new("RGB", (size, size), pad)
    canvas.paste(im, ((size - nw) // 2, (size - nh) // 2))
    return len(canvas.tobytes())

paths = sorted(glob.glob(os.path.join(sys.argv[1], "*.jpg")))
letterbox(paths[0])
t = time.monotonic()
for p in paths:
    letterbox(p)
one = len(paths) / (time.monotonic() - t)
t = time.monotonic()
with Pool(int(sys.argv[2])) as pool:
    pool.map(letterbox, paths, chunksize=8)
many = len(paths) / (time.monotonic() - t)
print("%.2f %.2f" % (one, many))
EOF
)
pil=${pil_out% *}
pilmp=${pil_out#* }

awk -v n="$N" -v c="$CORES" -v full="$full" -v scaled="$scaled" -v kiln="$kiln" \
    -v kiln1="$kiln1" -v pil="$pil" -v pilmp="$pilmp" -v rounds="$ROUNDS" 'BEGIN {
	printf "photos: %d (half 1920x1080, half 4000x3000) -> letterboxed 640x640 RGB, %d cores\n", n, c
	printf "libjpeg-turbo raw decode, full size          %8.1f images/s\n", full
	printf "libjpeg-turbo raw decode, kiln'"'"'s DCT scale     %8.1f images/s  (the ceiling, median of %d)\n", scaled, rounds
	printf "kiln, 1 thread                               %8.1f images/s\n", kiln1
	printf "PIL, %d processes (reference)                 %8.1f images/s\n", c, pilmp
	printf "kiln reaches %.0f%% of the scaled-decode ceiling and %.1fx full-size decoding\n", 100 * kiln / scaled, kiln / full
	printf "kiln, %d threads (median of %d)                %8.1f images/s\n", c, rounds, kiln
	printf "PIL (draft + resize + paste), 1 process      %8.1f images/s\n", pil
	printf "ratio kiln / PIL: %.2fx (target 8x; per core %.2fx)\n", kiln / pil, kiln1 / pil
}'
ceil=$(awk -v k="$kiln" -v s="$scaled" 'BEGIN { printf "%.2f", k / s }')
summary_row "calibration: $N photos to 640x640 letterbox, $CORES threads, median of $ROUNDS rounds in turns" \
	"$kiln img/s (rounds $(span "${kall[@]}"))" \
	"libjpeg-turbo DCT-scaled decode alone $scaled img/s (rounds $(span "${sall[@]}")); PIL x$CORES $pilmp" \
	"$ceil of the ceiling" ">= 0.95 of the decode ceiling" "$(ge "$ceil" 0.95)"
