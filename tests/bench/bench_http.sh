#!/usr/bin/env bash
# bench_http: kilnd's GET /healthz and authenticated GET /api/v1/tokens
# (with a bearer token, and with the dashboard's session cookie) against
# nginx serving a static file of the same bytes, under wrk with 64 and 512
# connections, in the same run on the same machine, BENCH_ROUNDS rounds in
# turns (medians).  Both servers run with access logging off, so neither
# pays for disk writes.
# Targets: kilnd >= 0.7x nginx on /healthz (issue 3); an authenticated GET
# >= 0.8x kilnd's own /healthz and >= 0.7x nginx, p99 <= 2x nginx's (issue 19).
set -eu
cd "$(dirname "$0")/../.."
. tests/bench/lib.sh
BUILD=${BUILD:-build}
DUR=${BENCH_DURATION:-4s}
work=$(mktemp -d)
trap 'kill ${kpid:-} ${npid:-} 2>/dev/null; wait 2>/dev/null; rm -rf "$work"' EXIT
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)"

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
# The dashboard's cookie: sign in once with the token.
cookie=$(curl -s -D - -o /dev/null -H 'Content-Type: application/json' \
	-d "{\"token\": \"$token\"}" "http://$kaddr/api/v1/session" |
	tr -d '\r' | sed -n 's/^[Ss]et-[Cc]ookie: \([^;]*\).*/\1/p')
[ -n "$cookie" ] || { echo "sign-in gave no cookie"; exit 1; }

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

printf '%-30s %6s %12s %10s %12s %10s %7s\n' route conns kilnd_rps kilnd_p99 nginx_rps nginx_p99 ratio
row() { # label conns krps kp99 nrps np99 kerr
	printf '%-30s %6s %12s %10s %12s %10s %7.2f\n' "$1" "$2" "$3" "$4" "$5" "$6" \
		"$(echo "$3 / $5" | bc -l)"
	[ "$7" = 0 ] || echo "   kilnd non-2xx: $7"
}
# Each series is measured ROUNDS times (lib.sh), the five of a round in
# turns (kilnd first in odd rounds, the peer first in even ones); the rows
# give the medians, and each ratio is the ratio of the medians.
for conns in 64 512; do
	declare -A rps=() p99=() err=()
	for ((r = 1; r <= ROUNDS; r++)); do
		read -r first second <<<"$(turn_order "$r")"
		for side in $first $second; do
			if [ "$side" = peer ]; then
				series=(nginx_healthz nginx_tokens)
			else
				series=(kilnd_healthz kilnd_bearer kilnd_cookie)
			fi
			for s in "${series[@]}"; do
				case $s in
				nginx_healthz) out=$(measure "http://127.0.0.1:$nport/healthz" "$conns") ;;
				nginx_tokens) out=$(measure "http://127.0.0.1:$nport/api/v1/tokens" "$conns") ;;
				kilnd_healthz) out=$(measure "http://$kaddr/healthz" "$conns") ;;
				kilnd_bearer) out=$(measure "http://$kaddr/api/v1/tokens" "$conns" \
					"Authorization: Bearer $token") ;;
				kilnd_cookie) out=$(measure "http://$kaddr/api/v1/tokens" "$conns" \
					"Cookie: $cookie") ;;
				esac
				read -r a b c <<<"$out"
				rps[$s]+="$a " p99[$s]+="$(ms "$b") " err[$s]=$(( ${err[$s]:-0} + c ))
				echo "   round $r, $conns conns, $s: $a req/s, p99 $b"
			done
		done
	done
	med() { median ${rps[$1]}; }
	medp() { printf '%.2fms' "$(median ${p99[$1]})"; }
	nrps=$(med nginx_healthz) hrps=$(med kilnd_healthz) srps=$(med nginx_tokens)
	row "GET /healthz" "$conns" "$hrps" "$(medp kilnd_healthz)" "$nrps" "$(medp nginx_healthz)" \
		"${err[kilnd_healthz]}"
	r=$(echo "$hrps / $nrps" | bc -l)
	summary_row "GET /healthz, $conns conns" "$hrps req/s, p99 $(medp kilnd_healthz)" \
		"nginx $nrps, p99 $(medp nginx_healthz) (medians of $ROUNDS)" \
		"$(printf '%.2f' "$r")" ">= 0.70x nginx" "$(ge "$r" 0.70)"
	for how in bearer cookie; do
		krps=$(med "kilnd_$how") kp99=$(medp "kilnd_$how") sp99=$(medp nginx_tokens)
		kerr=${err[kilnd_$how]}
		row "GET /api/v1/tokens ($how)" "$conns" "$krps" "$kp99" "$srps" "$sp99" "$kerr"
		rn=$(echo "$krps / $srps" | bc -l)
		rh=$(echo "$krps / $hrps" | bc -l)
		p99x=$(echo "$(ms "$kp99") / $(ms "$sp99")" | bc -l)
		met=$(both "$(both "$(ge "$rn" 0.70)" "$(ge "$rh" 0.80)")" "$(le "$p99x" 2)")
		[ "$kerr" = 0 ] || met=no
		summary_row "GET /api/v1/tokens, $how, $conns conns" "$krps req/s, p99 $kp99" \
			"nginx static $srps, p99 $sp99; kilnd /healthz $hrps (medians of $ROUNDS)" \
			"$(printf '%.2f nginx, %.2f healthz, p99 %.1fx' "$rn" "$rh" "$p99x")" \
			">= 0.70x nginx, >= 0.80x healthz, p99 <= 2x" "$met"
	done
	unset rps p99 err
done
