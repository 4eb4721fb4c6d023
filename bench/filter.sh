#!/bin/sh
#
# bench/filter.sh: what one filter costs an accepted message, in one run
# (bench/README.md, "FILTER=1"): the accept scenario of bench/run.sh
# against moatd without a filter and with `filter = true /bin/true`,
# alternating, ROUNDS times, then the mean of each and their ratio.
#
# Run from the top of the checkout as root: `make bench-filter`.

set -u

: "${ROUNDS:=2}"

TOP=$(cd "$(dirname "$0")/.." && pwd)
cd "$TOP" || exit 1
. bench/common.sh

is_root || { log "run as root (moatd drops privileges)"; exit 1; }
figures=""
i=1
while [ $i -le "$ROUNDS" ]; do
	for f in 0 1; do
		r=$(FILTER=$f SERVERS=moat SCENARIOS=accept sh bench/run.sh \
		    2>/dev/null | awk '$1 == "accept" { print $6; exit }')
		[ -n "$r" ] || { log "run FILTER=$f failed"; exit 1; }
		echo "FILTER=$f  $r msgs/s end to end"
		figures="$figures $f:$r"
	done
	i=$((i + 1))
done
printf '%s\n' $figures | awk -F: '
	{ sum[$1] += $2; n[$1]++ }
	END {
		a = sum[0] / n[0]; b = sum[1] / n[1]
		printf "mean without a filter %.1f, with /bin/true %.1f msgs/s: %.2f of it\n", a, b, b / a
	}'
