#!/bin/sh
#
# bench/counters.sh: what the live counters (moatctl stats, the metrics
# listener) cost, in one run: the reject scenario of bench/run.sh against
# moatd with its counters and without them (COUNTERS=0), alternating,
# ROUNDS times, then the mean of each and their ratio.
#
# Run from the top of the checkout as root: `make bench-counters`.

set -u

: "${ROUNDS:=3}"

TOP=$(cd "$(dirname "$0")/.." && pwd)
cd "$TOP" || exit 1
. bench/common.sh

is_root || { log "run as root (moatd drops privileges)"; exit 1; }
figures=""
i=1
while [ $i -le "$ROUNDS" ]; do
	for c in 1 0; do
		r=$(COUNTERS=$c SERVERS=moat SCENARIOS=reject sh bench/run.sh \
		    2>/dev/null | awk '$1 == "reject" { print $3; exit }')
		[ -n "$r" ] || { log "run COUNTERS=$c failed"; exit 1; }
		echo "COUNTERS=$c  $r sessions/s refused"
		figures="$figures $c:$r"
	done
	i=$((i + 1))
done
printf '%s\n' $figures | awk -F: '
	{ sum[$1] += $2; n[$1]++ }
	END {
		a = sum[0] / n[0]; b = sum[1] / n[1]
		printf "mean without counters %.1f, with %.1f sessions/s: %.3f of it\n", a, b, b / a
	}'
