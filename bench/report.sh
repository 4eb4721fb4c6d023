#!/bin/sh
#
# bench/report.sh: how fast `moatctl report` reads a big log, and in how
# much memory (bench/README.md, "Report").  It writes LINES lines of a
# storm-like log (one day; HOSTS client addresses; sessions that connect,
# are refused at RCPT or accepted and delivered, and disconnect with
# their PTR name; blocked clients refused at accept) and times the report
# on it.
#
# Run from the top of the checkout: `make bench-report`.

set -u

: "${LINES:=1000000}"
: "${HOSTS:=50000}"
: "${KEEP:=0}"

TOP=$(cd "$(dirname "$0")/.." && pwd)
cd "$TOP" || exit 1
. bench/common.sh

T=$(mktemp -d "${TMPDIR:-/tmp}/moat-bench-report.XXXXXX") || exit 1
trap 'tmp_clean' EXIT
[ -x ./moatctl ] || { log "build moat first"; exit 1; }

log "writing $LINES log lines"
awk -v n="$LINES" -v hosts="$HOSTS" 'BEGIN {
	srand(7)
	for (i = 0; i < n; ) {
		h = int(rand() * hosts)
		ip = sprintf("10.%d.%d.%d", int(h / 65536) % 256, int(h / 256) % 256, h % 256)
		t = sprintf("2026-11-23T%02d:%02d:%02d.%03d", int(i * 24 / n), int(rand() * 60), int(rand() * 60), i % 1000)
		s = sprintf("%016x", i)
		r = rand()
		if (r < 0.5) {
			print t " moatd[10]: reject stage=connect class=blocked ip=" ip " reply=\"\""; i++
			continue
		}
		print t " moatd[10]: connect session=" s " ip=" ip " port=40000"; i++
		if (r < 0.8) {
			print t " moatd[10]: reject session=" s " stage=rcpt class=dnsbl:zen.example ip=" ip " from=a@b.example to=c@example.test reply=\"554 5.7.1 listed\""; i++
		} else {
			print t " moatd[10]: accept session=" s " qid=6B047F ip=" ip " from=a@b.example nrcpt=1 size=4096"; i++
			print t " moatd[11]: deliver qid=6B047F rcpt=c@example.test to=maildir:c/ result=ok delay=0"; i++
		}
		ptr = ip; gsub(/\./, "-", ptr)
		print t " moatd[10]: disconnect session=" s " ip=" ip " duration=0.012 commands=4 messages=0 rcpt_ok=0 rcpt_bad=1 bad=0 ptr=h-" ptr ".pool.example.net reason=quit"; i++
	}
}' >"$T/mail.log" || exit 1
size=$(du -m "$T/mail.log" | cut -f1)
log "reading it"
/usr/bin/time -f "%e %M" -o "$T/time" ./moatctl report "$T/mail.log" >"$T/report" || exit 1
read -r secs kib <"$T/time"
echo "moat report benchmark, $(date -u '+%Y-%m-%d %H:%M UTC')"
echo "machine: $(nproc) cores, Linux $(uname -r)"
echo "command: sh bench/report.sh (LINES=$LINES HOSTS=$HOSTS); a ${size} MiB log"
echo "moatctl report: $secs s, $kib KiB at most resident (target: 1 million lines under 10 s, memory bounded)"
sed -n '1p' "$T/report"
