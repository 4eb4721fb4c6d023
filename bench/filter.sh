#!/bin/sh
#
# bench/filter.sh: what one filter costs an accepted message, in one run
# (bench/README.md, "FILTER=1"): the accept scenario of bench/run.sh
# against moatd with `filter = true /bin/true` and without a filter,
# alternating, ROUNDS times (2), then the mean of each and their ratio.
#
# Run from the top of the checkout as root: `make bench-filter`.

set -u

: "${ROUNDS:=2}"

TOP=$(cd "$(dirname "$0")/.." && pwd)
cd "$TOP" || exit 1
. bench/common.sh

is_root || { log "run as root (moatd drops privileges)"; exit 1; }
ab_compare FILTER accept 6 "msgs/s end to end"
