#!/bin/sh
#
# bench/dns.sh: moatd's DNS policy under load (bench/README.md, "DNS").
#
# moatd checks every client against DNSBL_ZONES DNS lists and requires
# a PTR (reverse_dns = require-ptr; the forward lookup of the PTR name
# runs too, for the Received: header), against bench/dnsdelay, which
# answers every query DNS_DELAY_MS after it came.  Every connection comes
# from a new 127.64.0.0/10 address, so no answer is ever cached.  Two
# runs of the reject scenario (EHLO, MAIL, RCPT to an unknown user, which
# waits for the DNS verdict):
#   latency     LAT_CONC clients: the median session time, against one
#               DNS round trip (DNS_DELAY_MS);
#   throughput  CONC clients: sessions/s, against the bound the latency
#               allows (CONC / median session time of this run).
#
# Run from the top of the checkout as root: `make bench-dns`.

set -u

: "${MOAT_PORT:=2635}"
: "${DNS_PORT:=5390}"
: "${DNS_DELAY_MS:=100}"
: "${DNSBL_ZONES:=5}"
: "${LAT_CONC:=50}"
: "${CONC:=500}"
: "${RUN_S:=15}"
: "${KEEP:=0}"

HOST=127.0.0.1
TOP=$(cd "$(dirname "$0")/.." && pwd)
cd "$TOP" || exit 1
: "${LOADGEN:=bench/loadgen}"
LOADGEN_SRC="bench/loadgen.c bench/lg_session.c bench/lg_check.c"
STAMP=$(date -u +%Y%m%d-%H%M%S)
OUT=bench/out/dns-$STAMP
T=""
MOAT_PID=""
DNS_PID=""

. bench/common.sh

cleanup() {
	trap - EXIT INT TERM
	stop_pid "$MOAT_PID"
	stop_pid "$DNS_PID"
	tmp_clean
}
trap cleanup EXIT
trap 'log interrupted; exit 130' INT TERM

zones() {	# the zone names, one per line
	i=1
	while [ $i -le "$DNSBL_ZONES" ]; do
		echo "bl$i.bench.example"
		i=$((i + 1))
	done
}

dns_start() {
	cc_build bench/dnsdelay bench/dnsdelay.c || return 1
	set --
	for z in $(zones); do set -- "$@" -z "$z"; done
	bench/dnsdelay -p "$DNS_PORT" -d "$DNS_DELAY_MS" -s bench.example \
	    "$@" &
	DNS_PID=$!
	sleep 0.3
	kill -0 "$DNS_PID" 2>/dev/null
}

moat_start() {
	[ -x ./moatd ] && [ -x ./moatctl ] || { log "build moat first"; return 1; }
	M=$T/moat
	mkdir -p "$M/etc" "$M/empty" "$M/spool" "$M/mail/alice" || return 1
	chown -R moatq: "$M/spool" "$M/mail" || return 1
	{
	moat_conf_base
	printf '%s\n' "resolver = 127.0.0.1:$DNS_PORT" \
	    'reverse_dns = require-ptr' 'dnsbl_timeout = 5s'
	for z in $(zones); do echo "dnsbl = $z"; done
	} >"$M/etc/moat.conf"
	printf 'example.test\tOK\n' >"$M/etc/domains"
	printf 'alice@example.test\tmaildir:alice/\n' >"$M/etc/recipients"
	./moatctl -f "$M/etc/moat.conf" makemap -a >/dev/null || return 1
	moat_launch "$M/etc/moat.conf" "$M/moatd.log"
}

# run CONC BASE: one reject run from BASE upwards; prints the result line.
run() {
	"$LOADGEN" -s reject -h "$HOST" -p "$MOAT_PORT" -c "$1" -t "$RUN_S" \
	    -B "$2" -l "moat-dns-c$1" -x $((RUN_S + 60))
}

is_root || { log "run as root (moatd drops privileges)"; exit 1; }
build_loadgen || { log "cannot build $LOADGEN"; exit 1; }
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
mkdir -p "$OUT" || exit 1
T=$(mktemp -d "${TMPDIR:-/tmp}/moat-bench-dns.XXXXXX") || exit 1
chmod 755 "$T"
bench_users || exit 1
dns_start || { log "dnsdelay did not start"; exit 1; }
moat_start || { log "moatd did not start"; tail -n 5 "$T/moat/moatd.log"; exit 1; }
sleep 1			# the zones' health probes answer
LOAD0=$(cut -d' ' -f1-3 /proc/loadavg)
lat=$(run "$LAT_CONC" 127.64.0.1) || exit 1
sleep 2
thr=$(run "$CONC" 127.96.0.1) || exit 1
printf '%s\n%s\n' "$lat" "$thr" >"$OUT/raw.txt"
./moatctl -f "$T/moat/etc/moat.conf" dnsbl >"$OUT/zones.txt" 2>&1

{
echo "moat DNS benchmark, $(date -u '+%Y-%m-%d %H:%M UTC')"
echo "machine: $(nproc) cores, Linux $(uname -r); load average at the start: $LOAD0"
echo "command: sh bench/dns.sh (DNSBL_ZONES=$DNSBL_ZONES DNS_DELAY_MS=$DNS_DELAY_MS LAT_CONC=$LAT_CONC CONC=$CONC RUN_S=$RUN_S)"
echo "lookups per session: PTR, A of the PTR name, $DNSBL_ZONES zones; each answered ${DNS_DELAY_MS} ms late, none cached"
echo
p50=$(kv lat_p50_ms "$lat")
echo "latency ($LAT_CONC clients): sessions/s $(kv sessions_per_s "$lat"), p50 $p50 ms, p99 $(kv lat_p99_ms "$lat") ms, ok $(kv ok "$lat") failed $(kv failed "$lat")"
echo "  target: p50 < 1.5 DNS round trips = $((DNS_DELAY_MS * 3 / 2)) ms"
tp50=$(kv lat_p50_ms "$thr")
rate=$(kv sessions_per_s "$thr")
bound=$(awk -v c="$CONC" -v l="$tp50" 'BEGIN { if (l > 0) printf "%.1f", c * 1000 / l; else print "-" }')
echo "throughput ($CONC clients): sessions/s $rate, p50 $tp50 ms, p99 $(kv lat_p99_ms "$thr") ms, ok $(kv ok "$thr") failed $(kv failed "$thr")"
echo "  bound $CONC / p50 = $bound sessions/s; reached $(ratio "$rate" "$bound") (target >= 0.70)"
echo
cat "$OUT/zones.txt"
} >"$OUT/results.txt"
cat "$OUT/results.txt"
cp "$T/moat/moatd.log" "$OUT/moatd.log" 2>/dev/null
exit 0
