#!/bin/sh
#
# bench/lmtp.sh: moatd's delivery to a maildir against its delivery over
# LMTP to Dovecot (bench/README.md, "LMTP"), in one run.
#
# One moatd, one Dovecot (dovecot-lmtpd, started here with a config of
# its own: LMTP on a loopback port, a passwd-file user, maildirs in the
# temporary folder).  alice@example.test is delivered to a maildir by
# moatd itself, bob@example.test over LMTP to Dovecot.  The accept
# scenario runs for each, alternating, ROUNDS times: N messages end to
# end, from the first connect until each is a file in the right maildir
# (moat's for alice, Dovecot's for bob), each checked there once.
#
# Run from the top of the checkout as root: `make bench-lmtp`.

set -u

: "${MOAT_PORT:=2655}"
: "${LMTP_PORT:=2656}"
: "${N:=5000}"
: "${CONC:=50}"
: "${ROUNDS:=2}"
: "${KEEP:=0}"

HOST=127.0.0.1
TOP=$(cd "$(dirname "$0")/.." && pwd)
cd "$TOP" || exit 1
: "${LOADGEN:=bench/loadgen}"
STAMP=$(date -u +%Y%m%d-%H%M%S)
OUT=bench/out/lmtp-$STAMP
T=""
MOAT_PID=""
DV_PID=""

. bench/common.sh

cleanup() {
	trap - EXIT INT TERM
	stop_pid "$MOAT_PID"
	stop_pid "$DV_PID"
	tmp_clean
}
trap cleanup EXIT
trap 'log interrupted; exit 130' INT TERM

dovecot_start() {
	D=$T/dovecot
	mkmaildirs "$D/home/bob" Maildir || return 1
	chown -R nobody:nogroup "$D/home/bob" || return 1
	printf 'bob:{PLAIN}x:%s:%s::%s/home/bob::\n' "$(id -u nobody)" \
	    "$(id -g nobody)" "$D" >"$D/passwd"
	cat >"$D/dovecot.conf" <<EOF
base_dir = $D/run
state_dir = $D/state
log_path = $D/dovecot.log
protocols = lmtp
ssl = no
listen = 127.0.0.1
default_internal_user = dovecot
default_login_user = dovenull
auth_username_format = %Ln
first_valid_uid = 1
passdb {
  driver = passwd-file
  args = $D/passwd
}
userdb {
  driver = passwd-file
  args = $D/passwd
}
mail_location = maildir:~/Maildir
mail_fsync = always
service lmtp {
  process_min_avail = 4
  inet_listener lmtp {
    address = 127.0.0.1
    port = $LMTP_PORT
  }
}
EOF
	port_free "$LMTP_PORT" || { log "port $LMTP_PORT busy"; return 1; }
	dovecot -F -c "$D/dovecot.conf" </dev/null >/dev/null 2>&1 &
	DV_PID=$!
	port_wait "$LMTP_PORT" 10 && kill -0 "$DV_PID" 2>/dev/null
}

moat_start() {
	[ -x ./moatd ] && [ -x ./moatctl ] || { log "build moat first"; return 1; }
	M=$T/moat
	mkdir -p "$M/etc" "$M/empty" "$M/spool" "$M/mail" "$M/db" || return 1
	mkmaildirs "$M/mail" alice || return 1
	chown -R moatq: "$M/spool" "$M/mail" || return 1
	moat_conf_base >"$M/etc/moat.conf"
	printf 'example.test\tOK\n' >"$M/etc/domains"
	printf '%s\n' 'alice@example.test maildir:alice/' \
	    "bob@example.test lmtp:127.0.0.1:$LMTP_PORT" >"$M/etc/recipients"
	./moatctl -f "$M/etc/moat.conf" makemap -a >/dev/null || return 1
	moat_launch "$M/etc/moat.conf" "$M/moatd.log"
}

# accept RCPT MAILDIR LABEL: one accept run, the loadgen line.
accept() {
	sync
	echo 3 >/proc/sys/vm/drop_caches 2>/dev/null
	"$LOADGEN" -s accept -h "$HOST" -p "$MOAT_PORT" -c "$CONC" -n "$N" \
	    -r "$1" -W "$2" -w 180 -l "$3" -x 600
}

is_root || { log "run as root (moatd and dovecot drop privileges)"; exit 1; }
command -v dovecot >/dev/null || { log "dovecot is not installed (make deps)"; exit 1; }
build_loadgen || { log "cannot build $LOADGEN"; exit 1; }
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
mkdir -p "$OUT" || exit 1
T=$(mktemp -d "${TMPDIR:-/tmp}/moat-bench-lmtp.XXXXXX") || exit 1
chmod 755 "$T"
bench_users || exit 1
dovecot_start || { log "dovecot did not start"; exit 1; }
moat_start || { log "moatd did not start"; tail -n 5 "$T/moat/moatd.log"; exit 1; }
LOAD0=$(cut -d' ' -f1-3 /proc/loadavg)

: >"$OUT/raw.txt"
i=1
while [ $i -le "$ROUNDS" ]; do
	accept alice@example.test "$T/moat/mail/alice" maildir >>"$OUT/raw.txt" || exit 1
	sleep 2
	accept bob@example.test "$T/dovecot/home/bob/Maildir" lmtp >>"$OUT/raw.txt" || exit 1
	sleep 2
	i=$((i + 1))
done

{
echo "moat LMTP benchmark, $(date -u '+%Y-%m-%d %H:%M UTC')"
echo "machine: $(nproc) cores, Linux $(uname -r); load average at the start: $LOAD0"
echo "command: sh bench/lmtp.sh (N=$N CONC=$CONC ROUNDS=$ROUNDS); dovecot $(dovecot --version | cut -d' ' -f1)"
echo
while read -r line; do
	echo "$(kv server "$line"): $(kv e2e_msgs_per_s "$line") msgs/s end to end (verified $(kv verified "$line"), missing $(kv missing "$line"), dup $(kv dup "$line"), failed $(kv failed "$line"))"
done <"$OUT/raw.txt"
} >"$OUT/results.txt"
cat "$OUT/results.txt"
cp "$T/moat/moatd.log" "$OUT/moatd.log" 2>/dev/null
exit 0
