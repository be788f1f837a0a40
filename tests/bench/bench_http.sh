#!/usr/bin/env bash
# bench_http: kilnd's GET /healthz and authenticated GET /api/v1/tokens
# against nginx serving a static file of the same size, under wrk with 64
# and 512 connections, in the same run on the same machine.  Both servers
# run with access logging off, so neither pays for disk writes.
# Targets (issue 3): kilnd >= 0.7x nginx on /healthz; p99 < 20 ms at 512.
set -eu
cd "$(dirname "$0")/../.."
BUILD=${BUILD:-build}
DUR=${BENCH_DURATION:-5s}
work=$(mktemp -d)
trap 'kill ${kpid:-} ${npid:-} 2>/dev/null; wait 2>/dev/null; rm -rf "$work"' EXIT
ulimit -n 65536 2>/dev/null || ulimit -n 4096

# KILN_THREADS and KILN_CONN_MEM try other settings than kilnd's defaults.
printf '[server]\naccess_log = off\nper_ip_connection_limit = 0\nthreads = %s\n%s' \
	"${KILN_THREADS:-0}" "${KILN_CONN_MEM:+connection_memory_limit = $KILN_CONN_MEM
}" > "$work/kiln.ini"
# kilnd writes its address to the FIFO once it accepts connections; if it
# dies first, the read sees end-of-file instead of hanging.
mkfifo "$work/ready"
"$BUILD/kilnd" --config "$work/kiln.ini" --listen 127.0.0.1:0 --data-dir "$work/var" \
	--ready-fd 3 3>"$work/ready" 2>"$work/kilnd.log" &
kpid=$!
read -r kaddr < "$work/ready" || true
[ -n "$kaddr" ] || { echo "kilnd did not start:"; cat "$work/kilnd.log"; exit 1; }
token=$(cat "$work/var/admin.token")

# nginx serving the same bytes kilnd answers, from a file.
mkdir -p "$work/www/api/v1" "$work/nginx"
curl -s "http://$kaddr/healthz" > "$work/www/healthz"
curl -s -H "Authorization: Bearer $token" "http://$kaddr/api/v1/tokens" > "$work/www/api/v1/tokens"
nport=$(/usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
cat > "$work/nginx/nginx.conf" <<CONF
worker_processes auto;
error_log $work/nginx/error.log;
pid $work/nginx/nginx.pid;
events { worker_connections 4096; }
http {
  access_log off;
  default_type application/json;
  client_body_temp_path $work/nginx/body;
  proxy_temp_path $work/nginx/proxy;
  fastcgi_temp_path $work/nginx/fastcgi;
  uwsgi_temp_path $work/nginx/uwsgi;
  scgi_temp_path $work/nginx/scgi;
  server { listen 127.0.0.1:$nport; root $work/www; }
}
CONF
nginx -c "$work/nginx/nginx.conf" -g 'daemon off;' &
npid=$!
# Ready when it answers (curl retries on refused connections by itself).
curl -s --retry 50 --retry-connrefused --retry-delay 0 -o /dev/null "http://127.0.0.1:$nport/healthz"

# wrk --latency prints "Requests/sec:" and a "99%" line.
measure() { # url conns [header]
	local out
	if [ $# -gt 2 ]; then
		out=$(wrk -t2 -c"$2" -d"$DUR" --latency -H "$3" "$1")
	else
		out=$(wrk -t2 -c"$2" -d"$DUR" --latency "$1")
	fi
	local rps p99 non2xx
	rps=$(echo "$out" | awk '/Requests\/sec:/ {print $2}')
	p99=$(echo "$out" | awk '$1=="99%" {print $2}')
	non2xx=$(echo "$out" | awk '/Non-2xx/ {print $NF}')
	echo "$rps $p99 ${non2xx:-0}"
}

printf '%-28s %6s %12s %10s %12s %10s %7s\n' route conns kilnd_rps kilnd_p99 nginx_rps nginx_p99 ratio
for conns in 64 512; do
	read -r krps kp99 kerr <<<"$(measure "http://$kaddr/healthz" "$conns")"
	read -r nrps np99 nerr <<<"$(measure "http://127.0.0.1:$nport/healthz" "$conns")"
	printf '%-28s %6s %12s %10s %12s %10s %7.2f\n' "GET /healthz" "$conns" "$krps" "$kp99" \
		"$nrps" "$np99" "$(echo "$krps / $nrps" | bc -l)"
	[ "$kerr" = 0 ] || echo "   kilnd non-2xx: $kerr"
	read -r krps kp99 kerr <<<"$(measure "http://$kaddr/api/v1/tokens" "$conns" "Authorization: Bearer $token")"
	read -r nrps np99 nerr <<<"$(measure "http://127.0.0.1:$nport/api/v1/tokens" "$conns")"
	printf '%-28s %6s %12s %10s %12s %10s %7.2f\n' "GET /api/v1/tokens (auth)" "$conns" \
		"$krps" "$kp99" "$nrps" "$np99" "$(echo "$krps / $nrps" | bc -l)"
	[ "$kerr" = 0 ] || echo "   kilnd non-2xx: $kerr"
done
