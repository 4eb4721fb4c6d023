#!/bin/sh
#
# bench/storm.sh: a spam storm against moatd's rate limits and block list
# (bench/README.md, "Storm").
#
# moatd runs with conn_rate and the block list on (bench config below).
# Two phases, in one run:
#   storm  HAMMERS addresses (127.1.0.0/16) open HAMMER_CONNS connections
#          each (the reject dialogue whenever they are served), paced at
#          HAMMER_RATE connections a second so the storm lasts as long as
#          the legitimate traffic, while
#          LEGIT other addresses (127.2.0.0/15), one session each, send a
#          message (the accept dialogue) at the same time.  The hammers go
#          over conn_rate, each refusal scores block_weight_rate, and at
#          block_threshold they are blocked.  Figures: how many hammers
#          are blocked at the end, and the legitimate sessions' latency.
#   cost   the blocked hammers connect for RUN_S seconds (CONC at once) to
#          moatd, which closes each at accept; then the same load against
#          bench/acceptclose, a server that accepts and closes and does
#          nothing else, with as many processes as moatd has workers.  The
#          CPU time each server's processes spent per connection, and the
#          connections per second, are compared.
#
# Run from the top of the checkout as root: `make bench-storm`.

set -u

: "${MOAT_PORT:=2645}"
: "${BARE_PORT:=2646}"
: "${HAMMERS:=50}"
: "${HAMMER_CONNS:=1000}"
: "${HAMMER_CONC:=50}"
: "${HAMMER_RATE:=6000}"
: "${LEGIT:=9950}"
: "${LEGIT_CONC:=10}"
: "${CONC:=50}"
: "${RUN_S:=10}"
: "${KEEP:=0}"

HOST=127.0.0.1
TOP=$(cd "$(dirname "$0")/.." && pwd)
cd "$TOP" || exit 1
: "${LOADGEN:=bench/loadgen}"
STAMP=$(date -u +%Y%m%d-%H%M%S)
OUT=bench/out/storm-$STAMP
T=""
MOAT_PID=""
BARE_PID=""
WORKERS=$(nproc)

. bench/common.sh

cleanup() {
	trap - EXIT INT TERM
	stop_pid "$MOAT_PID"
	stop_pid "$BARE_PID"
	tmp_clean
}
trap cleanup EXIT
trap 'log interrupted; exit 130' INT TERM

moat_start() {
	[ -x ./moatd ] && [ -x ./moatctl ] || { log "build moat first"; return 1; }
	M=$T/moat
	mkdir -p "$M/etc" "$M/empty" "$M/spool" "$M/mail" "$M/db" || return 1
	mkmaildirs "$M/mail" alice || return 1
	chown -R moatq: "$M/spool" "$M/mail" || return 1
	{
	moat_conf_base | sed "s/^workers = 0$/workers = $WORKERS/"
	printf '%s\n' 'conn_rate = 10/1m' \
	    'block_threshold = 10' 'block_weight_rate = 2' \
	    'block_action = drop'
	} >"$M/etc/moat.conf"
	printf 'example.test\tOK\n' >"$M/etc/domains"
	printf 'alice@example.test\tmaildir:alice/\n' >"$M/etc/recipients"
	./moatctl -f "$M/etc/moat.conf" makemap -a >/dev/null || return 1
	moat_launch "$M/etc/moat.conf" "$M/moatd.log"
}

bare_start() {
	cc_build bench/acceptclose bench/acceptclose.c || return 1
	port_free "$BARE_PORT" || { log "port $BARE_PORT busy"; return 1; }
	bench/acceptclose -h "$HOST" -p "$BARE_PORT" -w "$WORKERS" &
	BARE_PID=$!
	port_wait "$BARE_PORT" 10 && kill -0 "$BARE_PID" 2>/dev/null
}

# cpu_ticks PID: user + system clock ticks of PID and its children now.
cpu_ticks() {
	for p in "$1" $(cat "/proc/$1/task/$1/children" 2>/dev/null); do
		# the fields after the command's closing parenthesis
		sed 's/.*) //' "/proc/$p/stat" 2>/dev/null
	done | awk '{ t += $12 + $13 } END { print t + 0 }'
}

# cost PORT LABEL: the closed scenario from the hammers' addresses; the
# loadgen line, then " cpu_ticks=N".
cost() {
	pid=$MOAT_PID
	[ "$2" = bare ] && pid=$BARE_PID
	t0=$(cpu_ticks "$pid")
	line=$("$LOADGEN" -s closed -h "$HOST" -p "$1" -c "$CONC" -t "$RUN_S" \
	    -B 127.1.0.1 -N "$HAMMERS" -l "$2" -x $((RUN_S + 60))) || return 1
	t1=$(cpu_ticks "$pid")
	echo "$line cpu_ticks=$((t1 - t0))"
}

# us_per_conn LINE: server CPU microseconds per closed connection.
us_per_conn() {
	awk -v t="$(kv cpu_ticks "$1")" -v n="$(kv ok "$1")" \
	    -v hz="$(getconf CLK_TCK)" 'BEGIN {
		if (n > 0) printf "%.1f\n", t * 1e6 / hz / n; else print "-" }'
}

is_root || { log "run as root (moatd drops privileges)"; exit 1; }
build_loadgen || { log "cannot build $LOADGEN"; exit 1; }
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
mkdir -p "$OUT" || exit 1
T=$(mktemp -d "${TMPDIR:-/tmp}/moat-bench-storm.XXXXXX") || exit 1
chmod 755 "$T"
bench_users || exit 1
moat_start || { log "moatd did not start"; tail -n 5 "$T/moat/moatd.log"; exit 1; }
bare_start || { log "acceptclose did not start"; exit 1; }
LOAD0=$(cut -d' ' -f1-3 /proc/loadavg)

log "storm: $HAMMERS hammers x $HAMMER_CONNS connections, $LEGIT legitimate senders"
"$LOADGEN" -s reject -h "$HOST" -p "$MOAT_PORT" -c "$HAMMER_CONC" \
    -n $((HAMMERS * HAMMER_CONNS)) -P "$HAMMER_RATE" -B 127.1.0.1 \
    -N "$HAMMERS" -l hammers \
    -x 600 >"$OUT/hammers.txt" &
HAMMER_PID=$!
legit=$("$LOADGEN" -s accept -h "$HOST" -p "$MOAT_PORT" -c "$LEGIT_CONC" \
    -n "$LEGIT" -B 127.2.0.1 -l legit -W "$T/moat/mail/alice" -w 120 -x 600)
wait "$HAMMER_PID"
hammers=$(cat "$OUT/hammers.txt")
./moatctl -f "$T/moat/etc/moat.conf" blocks >"$OUT/blocks.txt" 2>&1
blocked=$(grep -c '^127\.1\.' "$OUT/blocks.txt")
legit_blocked=$(grep -c '^127\.[23]\.' "$OUT/blocks.txt")

log "cost: $RUN_S s of connections from the blocked addresses, moatd then acceptclose"
m=$(cost "$MOAT_PORT" moat) || exit 1
sleep 2
b=$(cost "$BARE_PORT" bare) || exit 1
printf '%s\n' "$hammers" "$legit" "$m" "$b" >"$OUT/raw.txt"

mus=$(us_per_conn "$m")
bus=$(us_per_conn "$b")
{
echo "moat storm benchmark, $(date -u '+%Y-%m-%d %H:%M UTC')"
echo "machine: $(nproc) cores, Linux $(uname -r); load average at the start: $LOAD0"
echo "command: sh bench/storm.sh (HAMMERS=$HAMMERS HAMMER_CONNS=$HAMMER_CONNS HAMMER_CONC=$HAMMER_CONC HAMMER_RATE=$HAMMER_RATE LEGIT=$LEGIT LEGIT_CONC=$LEGIT_CONC CONC=$CONC RUN_S=$RUN_S; moatd and acceptclose with $WORKERS processes)"
echo
echo "storm: hammers attempted $(kv attempted "$hammers") in $(kv elapsed_s "$hammers") s: served to the 5xx $(kv ok "$hammers"), closed unserved $(kv f_eof "$hammers"), 4xx replies $(kv r4xx "$hammers")"
echo "  hammers blocked at the end: $blocked of $HAMMERS; legitimate senders blocked: $legit_blocked"
echo "legit: $(kv ok "$legit") of $LEGIT sessions delivered in $(kv elapsed_s "$legit") s (verified $(kv verified "$legit"), missing $(kv missing "$legit")), p50 $(kv lat_p50_ms "$legit") ms, p99 $(kv lat_p99_ms "$legit") ms (target: p50 < 50 ms)"
echo
echo "cost of a connection closed at accept ($CONC at once, $RUN_S s):"
echo "  moatd (blocked):  $(kv sessions_per_s "$m") conn/s, p50 $(kv lat_p50_ms "$m") ms, server CPU $mus us/conn (ok $(kv ok "$m"), served $(kv f_served "$m"), failed $(kv failed "$m"))"
echo "  acceptclose:      $(kv sessions_per_s "$b") conn/s, p50 $(kv lat_p50_ms "$b") ms, server CPU $bus us/conn (ok $(kv ok "$b"), failed $(kv failed "$b"))"
echo "  moatd / acceptclose, CPU per connection: $(ratio "$mus" "$bus") (target <= 1.50); connections/s: $(ratio "$(kv sessions_per_s "$m")" "$(kv sessions_per_s "$b")")"
} >"$OUT/results.txt"
cat "$OUT/results.txt"
cp "$T/moat/moatd.log" "$OUT/moatd.log" 2>/dev/null
exit 0
