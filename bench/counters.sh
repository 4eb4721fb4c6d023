#!/bin/sh
#
# bench/counters.sh: what the live counters (moatctl stats, the metrics
# listener) cost, in one run: the reject scenario of bench/run.sh against
# moatd with its counters and without them (COUNTERS=0), alternating,
# ROUNDS times, then the mean of each and their ratio.
#
# Run from the top of the checkout as root: `make bench-counters`.

set -u

TOP=$(cd "$(dirname "$0")/.." && pwd)
cd "$TOP" || exit 1
. bench/common.sh

is_root || { log "run as root (moatd drops privileges)"; exit 1; }
ab_compare COUNTERS reject 3 "sessions/s refused"
