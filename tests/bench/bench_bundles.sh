#!/usr/bin/env bash
# bench_bundles: GET /api/v1/bundles/{id}/archive of a 10 MB bundle with 256
# connections, and If-None-Match revalidation (304) with 1000 connections,
# kilnd against nginx serving the same file (with its own ETag) in the same
# run.  Targets (issue 8): >= 0.9x nginx for downloads, >= 0.7x for 304s.
set -eu
cd "$(dirname "$0")/../.."
BUILD=${BUILD:-build}
DUR=${BENCH_DURATION:-10s}
work=$(mktemp -d)
trap 'kill ${kpid:-} ${npid:-} 2>/dev/null; wait 2>/dev/null; rm -rf "$work"' EXIT
ulimit -n 65536 2>/dev/null || ulimit -n 4096

printf '[server]\naccess_log = off\nper_ip_connection_limit = 0\nconnection_limit = 4096\nthreads = %s\n' \
	"${KILN_THREADS:-0}" > "$work/kiln.ini"
mkfifo "$work/ready"
"$BUILD/kilnd" --config "$work/kiln.ini" --listen 127.0.0.1:0 --data-dir "$work/var" \
	--ready-fd 3 3>"$work/ready" 2>"$work/kilnd.log" &
kpid=$!
read -r kaddr < "$work/ready" || true
[ -n "$kaddr" ] || { echo "kilnd did not start:"; cat "$work/kilnd.log"; exit 1; }
token=$(cat "$work/var/admin.token")

# A real 10 MB bundle (incompressible payload) through the job packer.
mkdir -p "$work/b"
head -c 10485760 /dev/urandom > "$work/b/m_int8.cvimodel"
printf '[basic]\ntype = cvimodel\nmodel = m_int8.cvimodel\n' > "$work/b/m.mud"
bundle=$("$BUILD/tools/bundle_add" "$work/var" "$work/b" m maixcam)
id=$(echo "$bundle" | sed 's/.*"id": \([0-9]*\).*/\1/')
sha=$(echo "$bundle" | sed 's/.*"sha256": "\([0-9a-f]*\)".*/\1/')
mkdir -p "$work/www"
# nginx's workers run as www-data: let them reach the file.
chmod 755 "$work" "$work/www"
curl -sf -H "Authorization: Bearer $token" -o "$work/www/m.tar.gz" \
	"http://$kaddr/api/v1/bundles/$id/archive"
chmod 644 "$work/www/m.tar.gz"
nport=$(/usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
mkdir -p "$work/nginx"
cat > "$work/nginx/nginx.conf" <<CONF
worker_processes auto;
error_log $work/nginx/error.log;
pid $work/nginx/nginx.pid;
events { worker_connections 4096; }
http {
  access_log off;
  sendfile on;
  tcp_nopush on;
  default_type application/gzip;
  client_body_temp_path $work/nginx/body;
  proxy_temp_path $work/nginx/proxy;
  fastcgi_temp_path $work/nginx/fastcgi;
  uwsgi_temp_path $work/nginx/uwsgi;
  scgi_temp_path $work/nginx/scgi;
  server { listen 127.0.0.1:$nport backlog=4096; root $work/www; }
}
CONF
nginx -c "$work/nginx/nginx.conf" -g 'daemon off;' &
npid=$!
curl -s --retry 50 --retry-connrefused --retry-delay 0 -o /dev/null "http://127.0.0.1:$nport/m.tar.gz"
netag=$(curl -sI "http://127.0.0.1:$nport/m.tar.gz" | tr -d '\r' | sed -n 's/^[Ee][Tt]ag: //p')

measure() { # url conns header...
	local url=$1 conns=$2; shift 2
	local args=()
	for h in "$@"; do args+=(-H "$h"); done
	local out rps p99 xfer non2xx
	# A 10 MB reply shared by 256 connections takes seconds: wrk's default
	# 2 s timeout would count slow-but-fine downloads as errors.
	out=$(wrk -t4 -c"$conns" -d"$DUR" --timeout 30s --latency "${args[@]}" "$url")
	rps=$(echo "$out" | awk '/Requests\/sec:/ {print $2}')
	p99=$(echo "$out" | awk '$1=="99%" {print $2}')
	xfer=$(echo "$out" | awk '/Transfer\/sec:/ {print $2}')
	non2xx=$(echo "$out" | awk '/Non-2xx/ {print $NF}')
	echo "$rps $p99 $xfer ${non2xx:-0}"
}

printf '%-18s %6s %10s %9s %9s %10s %9s %9s %6s\n' case conns kilnd_rps k_p99 k_xfer \
	nginx_rps n_p99 n_xfer ratio
read -r krps kp99 kx knon <<<"$(measure "http://$kaddr/api/v1/bundles/$id/archive" 256 \
	"Authorization: Bearer $token")"
read -r nrps np99 nx nnon <<<"$(measure "http://127.0.0.1:$nport/m.tar.gz" 256)"
dl=$(echo "$krps / $nrps" | bc -l)
printf '%-18s %6s %10s %9s %9s %10s %9s %9s %6.2f\n' "download 10 MB" 256 "$krps" "$kp99" \
	"$kx" "$nrps" "$np99" "$nx" "$dl"
[ "$knon" = 0 ] || echo "   kilnd non-2xx on download: $knon"
read -r krps kp99 kx knon <<<"$(measure "http://$kaddr/api/v1/bundles/$id/archive" 1000 \
	"Authorization: Bearer $token" "If-None-Match: \"$sha\"")"
read -r nrps np99 nx nnon <<<"$(measure "http://127.0.0.1:$nport/m.tar.gz" 1000 \
	"If-None-Match: $netag")"
rv=$(echo "$krps / $nrps" | bc -l)
printf '%-18s %6s %10s %9s %9s %10s %9s %9s %6.2f\n' "304 revalidation" 1000 "$krps" "$kp99" \
	"$kx" "$nrps" "$np99" "$nx" "$rv"
[ "$knon" = 0 ] || echo "   kilnd error replies on revalidation: $knon"
printf 'ratio kilnd/nginx: download %.2f (target 0.90), revalidation %.2f (target 0.70)\n' "$dl" "$rv"
