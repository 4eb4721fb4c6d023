#!/bin/sh
#
# bench/run.sh: moatd against Debian's Postfix and Postfix's smtp-sink,
# on loopback, in one run, with the same load generator (bench/loadgen).
#
# Scenarios (see bench/README.md): reject, badhelo, accept, idle.  Every
# server runs from a private temporary folder: moatd with a bench config
# written here, Postfix as a private instance (its own config, queue and
# data folders; `postfix -c DIR`), smtp-sink restarted per scenario.  A
# server that is missing or does not start is reported as such and the
# others still run.  Everything this script starts is stopped by PID on
# exit, error or interrupt.
#
# Run from the top of the checkout: `make bench` or `sh bench/run.sh`.
# As root (needed for Postfix and for moatd's privilege drop) it creates
# the users moat/moatq and installs the postfix package when missing.
# Parameters below can be overridden from the environment.

set -u

# ---- parameters ----
: "${MOAT_PORT:=2625}"
: "${POSTFIX_PORT:=2626}"
: "${SINK_PORT:=2627}"
: "${SERVERS:=moat postfix sink}"
: "${SCENARIOS:=reject badhelo accept idle}"
: "${CONC:=50}"			# reject, badhelo: concurrent sessions
: "${RUN_S:=15}"		# reject, badhelo: seconds per server
: "${ACCEPT_N:=5000}"		# accept: sessions per server
: "${ACCEPT_MSGS:=1}"		# accept: messages per session
: "${ACCEPT_CONC:=50}"		# accept: concurrent sessions
: "${ACCEPT_SIZE:=4096}"	# accept: message size in bytes
: "${ACCEPT_WAIT:=180}"		# accept: seconds to wait for the maildirs
: "${IDLE_N:=10000}"		# idle: sessions held
: "${IDLE_HOLD:=30}"		# idle: seconds held after the ramp
: "${IDLE_RAMP:=20}"		# idle: seconds allowed to greet them all
: "${IDLE_RATE:=2000}"		# idle: new connections per second
: "${PAUSE:=2}"			# seconds between runs
: "${KEEP:=0}"			# 1: keep the temporary folder
: "${GREYLIST:=0}"		# 1: moatd greylists (accept: the cost of it)
: "${FILTER:=0}"		# 1: one filter, /bin/true (accept: its cost)
: "${COUNTERS:=1}"		# 0: moatd without its live counters (their cost)

HOST=127.0.0.1
TOP=$(cd "$(dirname "$0")/.." && pwd)
cd "$TOP" || exit 1
# LOADGEN: another build of it (with sanitizers, say) may be named.
: "${LOADGEN:=bench/loadgen}"
STAMP=$(date -u +%Y%m%d-%H%M%S)
OUT=bench/out/$STAMP
T=""
MOAT_PID=""
SINK_PID=""
PF_MASTER=""

. bench/common.sh

postfix_stop() {
	[ -n "$PF_MASTER" ] || return 0
	# The master stops its children on SIGTERM.
	stop_pid "$PF_MASTER"
	PF_MASTER=""
}

cleanup() {
	trap - EXIT INT TERM
	stop_pid "$SINK_PID"
	SINK_PID=""
	stop_pid "$MOAT_PID"
	MOAT_PID=""
	postfix_stop
	tmp_clean
}
trap cleanup EXIT
trap 'log interrupted; exit 130' INT TERM

# ---- moatd ----

moat_setup() {
	if [ ! -x ./moatd ] || [ ! -x ./moatctl ]; then
		echo "./moatd or ./moatctl not built"
		return 1
	fi
	M=$T/moat
	mkdir -p "$M/etc" "$M/empty" "$M/spool" "$M/mail" || return 1
	mkmaildirs "$M/mail" alice bob postmaster || return 1
	# COUNTERS=0: a folder where the counters' file goes; moatd cannot
	# make the file, says so once and runs without counting anything
	if [ "$COUNTERS" = 0 ]; then
		mkdir "$M/spool/moat.stats" || return 1
	fi
	if is_root; then
		bench_users || return 1
		chown -R moatq: "$M/spool" "$M/mail" || return 1
	fi
	{
	moat_conf_base
	printf '%s\n' 'pidfile = ../moatd.pid' 'helo = helo' \
	    'senders = senders' 'access = access'
	} >"$M/etc/moat.conf"
	if [ "$GREYLIST" = 1 ]; then
		# every RCPT goes through the store (no auto-allowlist)
		printf '%s\n' 'greylist = yes' 'greylist_awl = 0' \
		    >>"$M/etc/moat.conf"
	fi
	# the cheapest filter there is: each message waits for a process
	[ "$FILTER" = 1 ] && printf '%s\n' 'filter = true /bin/true' \
	    'filter_max_procs = 64' >>"$M/etc/moat.conf"

	printf 'example.test\tOK\n' >"$M/etc/domains"
	printf '%s\tmaildir:%s/\n' alice@example.test alice \
	    bob@example.test bob postmaster@example.test postmaster \
	    >"$M/etc/recipients"
	printf '.invalid\tREJECT The .invalid domain does not exist\n' \
	    >"$M/etc/helo"
	printf '.invalid\tREJECT The .invalid domain does not exist\n' \
	    >"$M/etc/senders"
	printf '0.0.0.0/8\tREJECT Not a valid source address\n' \
	    >"$M/etc/access"
	./moatctl -f "$M/etc/moat.conf" makemap -a || return 1
	./moatd -n -f "$M/etc/moat.conf" >"$M/effective.conf" 2>&1 || {
		sed -n 1,5p "$M/effective.conf"
		return 1
	}
}

moat_start() {
	if ! moat_launch "$T/moat/etc/moat.conf" "$T/moat/moatd.log"; then
		tail -n 5 "$T/moat/moatd.log"
		stop_pid "$MOAT_PID"
		MOAT_PID=""
		return 1
	fi
	# GREYLIST=1: the load's one triplet has passed, as a regular
	# sender's would have: each RCPT reads and rewrites its record
	[ "$GREYLIST" = 1 ] && ./moatctl -f "$T/moat/etc/moat.conf" greylist \
	    allow "$HOST" someone@sender.example alice@example.test >/dev/null
	return 0
}

# ---- Postfix: a private instance ----

postfix_install() {
	command -v postfix >/dev/null 2>&1 && return 0
	is_root || { echo "postfix not installed (run as root)"; return 1; }
	log "installing postfix (no configuration)"
	echo "postfix postfix/main_mailer_type select No configuration" |
	    debconf-set-selections || return 1
	# A fresh machine may have no package lists yet: update once, retry.
	for try in 1 2; do
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
		    --no-install-recommends postfix >"$T/apt.log" 2>&1 &&
		    return 0
		[ $try = 1 ] && apt-get update -qq >>"$T/apt.log" 2>&1
	done
	tail -n 5 "$T/apt.log"
	return 1
}

postfix_setup() {
	is_root || { echo "Postfix needs root"; return 1; }
	postfix_install || return 1
	P=$T/postfix
	mkdir -p "$P/etc" "$P/spool" "$P/data" "$P/mail" || return 1
	mkmaildirs "$P/mail" alice bob postmaster || return 1
	VUID=$(id -u nobody) && VGID=$(id -g nobody) || return 1
	chown -R "$VUID:$VGID" "$P/mail" || return 1
	chown postfix: "$P/data" || return 1
	cat >"$P/etc/main.cf" <<EOF
# main.cf for the benchmark: the equivalent of bench's moat.conf.
compatibility_level = 3.6
config_directory = $P/etc
queue_directory = $P/spool
data_directory = $P/data
mail_owner = postfix
setgid_group = postdrop
maillog_file = $P/maillog
maillog_file_prefixes = $T
myhostname = mx.bench.example
mydomain = bench.example
myorigin = \$myhostname
mydestination =
mynetworks = 127.0.0.0/8
inet_interfaces = loopback-only
inet_protocols = ipv4
biff = no
# No local domains: no aliases, no passwd lookups.
alias_maps =
alias_database =
local_recipient_maps =
append_dot_mydomain = no
smtpd_banner = \$myhostname ESMTP
# Mail for example.test goes to maildirs (a trailing / in the map).
virtual_mailbox_domains = example.test
virtual_mailbox_base = $P/mail
virtual_mailbox_maps = hash:$P/etc/vmailbox
virtual_uid_maps = static:$VUID
virtual_gid_maps = static:$VGID
# moat's checks: HELO required and sane, no forged local senders,
# unknown recipients refused, never relay.
smtpd_helo_required = yes
smtpd_helo_restrictions = reject_invalid_helo_hostname,
	reject_non_fqdn_helo_hostname,
	check_helo_access hash:$P/etc/helo_access
smtpd_sender_restrictions = reject_non_fqdn_sender, reject_unlisted_sender
smtpd_relay_restrictions = reject_unauth_destination
smtpd_recipient_restrictions = reject_non_fqdn_recipient,
	reject_unlisted_recipient
message_size_limit = 26214400
smtpd_recipient_limit = 100
EOF
	cat >"$P/etc/master.cf" <<EOF
# master.cf for the benchmark: one smtpd listener and the services it
# needs; process limits are Postfix's defaults (100).
$HOST:$POSTFIX_PORT inet n - n - - smtpd
cleanup   unix  n - n - 0 cleanup
qmgr      unix  n - n 300 1 qmgr
rewrite   unix  - - n - - trivial-rewrite
bounce    unix  - - n - 0 bounce
defer     unix  - - n - 0 bounce
trace     unix  - - n - 0 bounce
verify    unix  - - n - 1 verify
flush     unix  n - n 1000? 0 flush
proxymap  unix  - - n - - proxymap
showq     unix  n - n - - showq
error     unix  - - n - - error
retry     unix  - - n - - error
discard   unix  - - n - - discard
local     unix  - n n - - local
virtual   unix  - n n - - virtual
smtp      unix  - - n - - smtp
anvil     unix  - - n - 1 anvil
scache    unix  - - n - 1 scache
postlog   unix-dgram n - n - 1 postlogd
EOF
	printf '%s\t%s/\n' alice@example.test alice bob@example.test bob \
	    postmaster@example.test postmaster >"$P/etc/vmailbox"
	printf '%s\tREJECT\n' localhost localhost.localdomain \
	    mx.bench.example >"$P/etc/helo_access"
	postmap -c "$P/etc" "$P/etc/vmailbox" &&
	    postmap -c "$P/etc" "$P/etc/helo_access" ||
	    return 1
	postfix -c "$P/etc" check >"$P/check.log" 2>&1 || {
		tail -n 5 "$P/check.log"
		return 1
	}
}

postfix_start() {
	port_free "$POSTFIX_PORT" ||
	    { echo "port $POSTFIX_PORT busy"; return 1; }
	P=$T/postfix
	postfix -c "$P/etc" start >"$P/start.log" 2>&1 || {
		tail -n 5 "$P/start.log"
		return 1
	}
	i=0
	while [ ! -s "$P/spool/pid/master.pid" ] && [ $i -lt 100 ]; do
		sleep 0.1
		i=$((i + 1))
	done
	PF_MASTER=$(tr -d ' \n' <"$P/spool/pid/master.pid" 2>/dev/null)
	if [ -z "$PF_MASTER" ] || ! port_wait "$POSTFIX_PORT" 10; then
		tail -n 5 "$P/maillog" 2>/dev/null
		postfix_stop
		return 1
	fi
}

# ---- smtp-sink: restarted per scenario, with that scenario's refusals ----

sink_start() {	# sink_start SCENARIO
	command -v smtp-sink >/dev/null 2>&1 ||
	    { echo "smtp-sink not installed (package postfix)"; return 1; }
	port_free "$SINK_PORT" || { echo "port $SINK_PORT busy"; return 1; }
	case $1 in
	reject)		flags="-f RCPT" ;;
	badhelo)	flags="-f HELO" ;;
	*)		flags="" ;;
	esac
	userflag=""
	is_root && userflag="-u nobody"
	# -m: sessions served at once (the rest wait in the listen queue).
	# shellcheck disable=SC2086
	smtp-sink $userflag $flags -m $((IDLE_N + 1000)) \
	    "$HOST:$SINK_PORT" 4096 </dev/null >"$T/sink.log" 2>&1 &
	SINK_PID=$!
	port_wait "$SINK_PORT" 10 || {
		tail -n 5 "$T/sink.log"
		stop_pid "$SINK_PID"
		SINK_PID=""
		return 1
	}
}

sink_stop() {
	stop_pid "$SINK_PID"
	SINK_PID=""
}

# ---- one run ----

port_of() {
	case $1 in
	moat) echo "$MOAT_PORT" ;;
	postfix) echo "$POSTFIX_PORT" ;;
	sink) echo "$SINK_PORT" ;;
	esac
}

pid_of() {
	case $1 in
	moat) echo "$MOAT_PID" ;;
	postfix) echo "$PF_MASTER" ;;
	sink) echo "$SINK_PID" ;;
	esac
}

maildir_of() {
	case $1 in
	moat) echo "$T/moat/mail/alice" ;;
	postfix) echo "$T/postfix/mail/alice" ;;
	esac
}

# run_one SCENARIO SERVER: one loadgen run; its line goes to $OUT/raw.txt.
# Before an accept run: write back everything and drop the page cache,
# so that no server pays for the files others deleted before it (on ext4
# without a journal an inode allocation skips every recently freed inode
# whose table block is still cached; bench/README.md).
settle_disk() {
	sync
	[ "$(id -u)" -eq 0 ] && [ -w /proc/sys/vm/drop_caches ] &&
	    echo 3 >/proc/sys/vm/drop_caches
	return 0
}

run_one() {
	sc=$1
	srv=$2
	port=$(port_of "$srv")
	set -- -s "$sc" -h "$HOST" -p "$port" -l "$srv"
	case $sc in
	reject|badhelo)
		set -- "$@" -c "$CONC" -t "$RUN_S"
		;;
	accept)
		set -- "$@" -c "$ACCEPT_CONC" -n "$ACCEPT_N" \
		    -m "$ACCEPT_MSGS" -S "$ACCEPT_SIZE" -w "$ACCEPT_WAIT"
		md=$(maildir_of "$srv")
		[ -n "$md" ] && set -- "$@" -W "$md"
		settle_disk
		;;
	idle)
		set -- "$@" -c "$IDLE_N" -t "$IDLE_HOLD" -u "$IDLE_RAMP" \
		    -a "$IDLE_RATE" -M "$(pid_of "$srv")"
		;;
	esac
	log "$sc on $srv: $LOADGEN $*"
	line=$("$LOADGEN" "$@" 2>>"$OUT/loadgen.err")
	rc=$?
	if [ $rc -ne 0 ] || [ -z "$line" ]; then
		log "$sc on $srv: loadgen failed (exit $rc)"
		echo "scenario=$sc server=$srv error=loadgen-exit-$rc" \
		    >>"$OUT/raw.txt"
		return 1
	fi
	printf '%s\n' "$line" >>"$OUT/raw.txt"
	printf '%s\n' "$line" >&2
}

# ---- the report ----

# figure SCENARIO SERVER NAME: one figure from raw.txt, or "-".
figure() {
	l=$(grep "^scenario=$1 server=$2 " "$OUT/raw.txt" | tail -n 1)
	[ -n "$l" ] || { echo "-"; return; }
	case $3 in
	rate)
		v=$(kv sessions_per_s "$l") ;;
	msgs)
		v=$(kv e2e_msgs_per_s "$l")
		[ -n "$v" ] || v=$(kv msgs_per_s "$l") ;;
	held)
		v=$(kv alive "$l") ;;
	pss)
		v=$(kv pss_kib "$l")
		if [ -n "$v" ] && [ "$v" -ge 0 ] 2>/dev/null; then
			v=$(awk -v k="$v" 'BEGIN { printf "%.1f\n", k / 1024 }')
		else
			v=""
		fi ;;
	probes)
		v=$(kv probe_ok "$l")/$(kv probes "$l") ;;
	probe_p50)
		v=$(kv probe_p50_ms "$l") ;;
	probe_max)
		v=$(kv probe_max_ms "$l") ;;
	esac
	echo "${v:--}"
}

row() {	# row SCENARIO FIGURE-LABEL FIGURE TARGET
	m=$(figure "$1" moat "$3")
	p=$(figure "$1" postfix "$3")
	s=$(figure "$1" sink "$3")
	printf '%-8s %-22s %10s %10s %10s %8s %8s  %s\n' "$1" "$2" "$m" \
	    "$p" "$s" "$(ratio "$m" "$p")" "$(ratio "$m" "$s")" "$4"
}

report() {
	{
	echo "moat benchmark, $(date -u '+%Y-%m-%d %H:%M UTC')"
	echo "machine: $(nproc) cores, $(sed -n 's/^model name[^:]*: //p' \
	    /proc/cpuinfo | head -n 1), Linux $(uname -r)," \
	    "$(awk '/MemTotal/ { printf "%d MiB", $2 / 1024 }' /proc/meminfo)"
	echo "postfix: $(dpkg-query -W -f='${Version}' postfix 2>/dev/null)"
	echo "load average at the start: $LOAD0"
	echo "command: sh bench/run.sh (CONC=$CONC RUN_S=$RUN_S" \
	    "ACCEPT_N=$ACCEPT_N ACCEPT_CONC=$ACCEPT_CONC" \
	    "ACCEPT_MSGS=$ACCEPT_MSGS IDLE_N=$IDLE_N IDLE_HOLD=$IDLE_HOLD)"
	for s in $MISSING; do
		echo "not measured: $s"
	done
	echo
	printf '%-8s %-22s %10s %10s %10s %8s %8s  %s\n' scenario figure \
	    moat postfix smtp-sink m/pf m/sink target
	for sc in $SCENARIOS; do
		case $sc in
		reject|badhelo)
			row "$sc" "sessions/s" rate \
			    "m/pf >= 2, m/sink >= 0.7" ;;
		accept)
			row "$sc" "msgs/s end to end" msgs \
			    "m/pf >= 2 (sink: SMTP only)" ;;
		idle)
			row "$sc" "sessions held" held "$IDLE_N"
			row "$sc" "PSS MiB, all procs" pss "moat < 64"
			row "$sc" "probes answered" probes "all"
			row "$sc" "probe p50 ms" probe_p50 ""
			row "$sc" "probe max ms" probe_max "moat < 1000" ;;
		esac
	done
	} >"$OUT/results.txt"
	cat "$OUT/results.txt"
	echo
	echo "raw figures: $OUT/raw.txt"
}

# ---- main ----

LOAD0=$(cut -d' ' -f1-3 /proc/loadavg)
mkdir -p "$OUT" || exit 1
: >"$OUT/raw.txt"
build_loadgen || { log "cannot build $LOADGEN"; exit 1; }
# Held sessions need descriptors: the load generator and the servers
# inherit this limit (the load generator raises its own if it can).
hard=$(ulimit -Hn)
if [ "$hard" != unlimited ] && [ "$hard" -lt $((IDLE_N + 200)) ]; then
	log "open files hard limit $hard < $((IDLE_N + 200)): idle will fall short"
fi
ulimit -n "$hard" 2>/dev/null || true

T=$(mktemp -d "${TMPDIR:-/tmp}/moat-bench.XXXXXX") || exit 1
chmod 755 "$T"	# the unprivileged users walk through it

MISSING=""
AVAIL=""
for srv in $SERVERS; do
	why=$T/why.$srv
	ok=1
	case $srv in
	moat)
		{ moat_setup && moat_start; } >"$why" 2>&1 || ok=0 ;;
	postfix)
		{ postfix_setup && postfix_start; } >"$why" 2>&1 || ok=0 ;;
	sink)
		{ command -v smtp-sink || postfix_install; } >"$why" 2>&1 ||
		    ok=0 ;;
	*)
		echo "unknown server" >"$why"
		ok=0 ;;
	esac
	if [ $ok = 1 ]; then
		AVAIL="$AVAIL $srv"
	else
		log "$srv: not measured: $(tr '\n' ' ' <"$why")"
		MISSING="$MISSING $srv"
	fi
done
[ -n "$AVAIL" ] || { log "no server to measure"; exit 1; }
log "measuring:$AVAIL; missing:${MISSING:- none}"

for sc in $SCENARIOS; do
	for srv in $AVAIL; do
		if [ "$srv" = sink ]; then
			sink_start "$sc" >"$T/why.sink" 2>&1 || {
				log "sink: $sc: not measured:" \
				    "$(tr '\n' ' ' <"$T/why.sink")"
				continue
			}
		fi
		if [ "$srv" = moat ] && ! kill -0 "$MOAT_PID" 2>/dev/null; then
			log "moatd (pid $MOAT_PID) is gone: see below"
			tail -n 5 "$T/moat/moatd.log" >&2
			continue
		fi
		run_one "$sc" "$srv"
		[ "$srv" = sink ] && sink_stop
		sleep "$PAUSE"
	done
done

report
# The servers' logs, for a look at what they said.
for f in moat/moatd.log postfix/maillog; do
	[ -f "$T/$f" ] && cp "$T/$f" "$OUT/$(echo "$f" | tr / -)"
done
exit 0
