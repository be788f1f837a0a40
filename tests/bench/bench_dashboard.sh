#!/usr/bin/env bash
# bench_dashboard: the dashboard in a real browser (Playwright's core driving
# Debian's chromium), measured with the browser's Performance API: first
# load of / (navigation timing loadEventEnd, best of 5, a fresh browser
# context - cold cache - each time), the bytes of JS+CSS it transfers, and
# the jobs page rendering a list of 1 000 jobs.  Peer: nginx serving the
# same static files (a copy of webui/), first load of its index.html.
# Targets (issue 9): first load <= 300 ms on loopback; all JS+CSS <= 200 KB;
# 1 000 jobs render in <= 200 ms.
set -eu
cd "$(dirname "$0")/../.."
. tests/bench/lib.sh
BUILD=${BUILD:-build}
JOBS=${BENCH_JOBS:-1000}
work=$(mktemp -d)
trap 'kill ${kpid:-} ${npid:-} 2>/dev/null; wait 2>/dev/null; rm -rf "$work"' EXIT

[ -d node_modules/playwright-core ] || { echo "node_modules/playwright-core missing: run npm ci at the repo top"; exit 1; }

printf '[server]\naccess_log = off\n' > "$work/kiln.ini"
start_kilnd() {
	rm -f "$work/ready"
	mkfifo "$work/ready"
	"$BUILD/kilnd" --config "$work/kiln.ini" --listen 127.0.0.1:0 --data-dir "$work/var" \
		--ready-fd 3 3>"$work/ready" 2>>"$work/kilnd.log" &
	kpid=$!
	kaddr=
	read -r kaddr < "$work/ready" || true
	[ -n "$kaddr" ] || { echo "kilnd did not start:"; cat "$work/kilnd.log"; exit 1; }
}

# First start creates kiln.db (migrations) and admin.token; then, with
# kilnd stopped, the jobs go straight into the jobs table.  Finished states
# only, so no worker picks any of them up and the page does not poll.
start_kilnd
kill "$kpid"; wait "$kpid" 2>/dev/null || true; kpid=
/usr/bin/python3 - "$work/var/kiln.db" "$JOBS" <<'PY'
import sqlite3, sys, json, datetime
db, n = sys.argv[1], int(sys.argv[2])
c = sqlite3.connect(db)
states = ['succeeded', 'failed', 'cancelled']
targets = ['maixcam', 'recamera', 'axera-pi']
t0 = datetime.datetime(2025, 1, 1, tzinfo=datetime.timezone.utc)
rows = []
for i in range(n):
    st = states[i % 3]
    ts = (t0 + datetime.timedelta(minutes=i)).strftime('%Y-%m-%dT%H:%M:%S.000Z')
    tgt = targets[i % 3]
    rows.append((str(1 + i % 7), tgt, json.dumps({'model': str(1 + i % 7), 'target': tgt}), st,
                 'package', 1.0 if st == 'succeeded' else 0.5,
                 'step_failed' if st == 'failed' else None,
                 'bench row' if st == 'failed' else None, ts, ts, ts))
with c:
    c.executemany("INSERT INTO jobs (model, target, spec, state, step, progress, error_code,"
                  " error_message, created_at, started_at, finished_at)"
                  " VALUES (?,?,?,?,?,?,?,?,?,?,?)", rows)
print(f"# inserted {n} jobs into {db}", file=sys.stderr)
PY
start_kilnd
token=$(cat "$work/var/admin.token")

# nginx serving a copy of webui/: / is index.html, /ui/... the files.
mkdir -p "$work/www/ui" "$work/nginx"
cp -r webui/. "$work/www/ui/"
cp webui/index.html "$work/www/index.html"
# mktemp -d is 0700: nginx's workers (another user when run as root) must read it.
chmod -R a+rX "$work"
nport=$(/usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
cat > "$work/nginx/nginx.conf" <<CONF
worker_processes 1;
error_log $work/nginx/error.log;
pid $work/nginx/nginx.pid;
events { worker_connections 1024; }
http {
  include /etc/nginx/mime.types;
  types { text/javascript mjs; }
  access_log off;
  client_body_temp_path $work/nginx/body;
  proxy_temp_path $work/nginx/proxy;
  fastcgi_temp_path $work/nginx/fastcgi;
  uwsgi_temp_path $work/nginx/uwsgi;
  scgi_temp_path $work/nginx/scgi;
  server { listen 127.0.0.1:$nport; root $work/www; index index.html; }
}
CONF
nginx -c "$work/nginx/nginx.conf" -g 'daemon off;' &
npid=$!
curl -s --retry 50 --retry-connrefused --retry-delay 0 -o /dev/null "http://127.0.0.1:$nport/"

KILN_BASE="http://$kaddr" KILN_TOKEN="$token" NGINX_BASE="http://127.0.0.1:$nport" KILN_JOBS="$JOBS" \
	node tests/bench/dashboard_bench.mjs | tee "$work/out"
best() { grep -F "$1" "$work/out" | head -1 | awk '{ for (i = 1; i <= NF; i++) if ($(i + 1) == "ms" || $(i + 1) == "KB") { print $i; exit } }'; }
kin=$(best 'first load / kilnd, signed in')
ngx=$(best 'first load / nginx, same files')
jobs=$(best 'jobs list: #/jobs to last row')
summary_row "dashboard first load, signed in (chromium)" "$kin ms" "nginx, same files: $ngx ms" \
	"$(awk -v a="$kin" -v b="$ngx" 'BEGIN { printf "%.2f", a / b }') (time)" "<= 300 ms" "$(le "$kin" 300)"
summary_row "dashboard jobs page, $JOBS jobs" "$jobs ms to the last row" "-" "-" "<= 200 ms" "$(le "$jobs" 200)"
