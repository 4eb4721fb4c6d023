# bench/common.sh: what the benchmark scripts share (sourced from the top
# of the checkout): logging, stopping by PID, reading loadgen's result
# lines, waiting for ports, and building the load generator.

log() { printf '%s\n' "bench: $*" >&2; }

# ---- stopping, always by PID ----

stop_pid() {
	[ -n "$1" ] || return 0
	kill -TERM "$1" 2>/dev/null || return 0
	i=0
	while kill -0 "$1" 2>/dev/null && [ $i -lt 100 ]; do
		sleep 0.1
		i=$((i + 1))
	done
	if kill -0 "$1" 2>/dev/null; then
		log "pid $1 ignored SIGTERM for 10 s; killing it"
		kill -KILL "$1" 2>/dev/null
	fi
	wait "$1" 2>/dev/null
	return 0
}

# ---- helpers ----

# kv KEY LINE: the value of KEY=value in a loadgen result line.
kv() {
	printf '%s\n' "$2" | tr ' ' '\n' | sed -n "s/^$1=//p" | head -n 1
}

# ratio A B: A/B with two decimals, or "-".
ratio() {
	awk -v a="$1" -v b="$2" 'BEGIN {
		num = "^[0-9]+([.][0-9]*)?$"
		if (a !~ num || b !~ num || b + 0 == 0)
			print "-"
		else
			printf "%.2f\n", a / b
	}'
}

# port_wait PORT SECONDS: until something listens on HOST:PORT.
port_wait() {
	i=0
	while [ $i -lt $(($2 * 10)) ]; do
		if command -v ss >/dev/null 2>&1; then
			[ -n "$(ss -Htln "sport = :$1" 2>/dev/null)" ] && return 0
		elif [ $i -ge 10 ]; then
			return 0	# no ss: a second is our best guess
		fi
		sleep 0.1
		i=$((i + 1))
	done
	return 1
}

# port_free PORT: nothing listens there yet.
port_free() {
	command -v ss >/dev/null 2>&1 || return 0
	[ -z "$(ss -Htln "sport = :$1" 2>/dev/null)" ]
}

is_root() { [ "$(id -u)" = 0 ]; }

# tmp_clean: the run's temporary folder $T goes, or stays with KEEP=1.
tmp_clean() {
	[ -n "$T" ] && [ -d "$T" ] || return 0
	if [ "$KEEP" = 1 ]; then log "kept $T"; else rm -rf "$T"; fi
}

mkmaildirs() {	# mkmaildirs ROOT USER...
	root=$1
	shift
	for u in "$@"; do
		mkdir -p "$root/$u/tmp" "$root/$u/new" "$root/$u/cur" || return 1
	done
}

# ---- the load generator ----

LOADGEN_SRC="bench/loadgen.c bench/lg_session.c bench/lg_check.c"

# cc_build OUT SRC...: compile OUT from SRC unless it is newer than them.
cc_build() {
	out=$1
	shift
	stale=0
	[ -x "$out" ] || stale=1
	for f in "$@" bench/loadgen.h; do
		[ "$f" -nt "$out" ] && stale=1
	done
	[ $stale = 1 ] || return 0
	${CC:-cc} -std=c17 -D_GNU_SOURCE -Wall -Wextra -Wshadow -Wformat=2 \
	    -Wstrict-prototypes -Wmissing-prototypes -Wno-unused-parameter \
	    -O2 -o "$out" "$@"
}

build_loadgen() {
	[ "$LOADGEN" = bench/loadgen ] || { [ -x "$LOADGEN" ]; return; }
	# shellcheck disable=SC2086
	cc_build "$LOADGEN" $LOADGEN_SRC
}


# ---- moatd ----

# bench_users: the users moatd drops privileges to (as root).
bench_users() {
	for u in moat moatq moatf; do
		id "$u" >/dev/null 2>&1 || useradd --system --no-create-home \
		    --home-dir /nonexistent --shell /usr/sbin/nologin "$u" ||
		    return 1
	done
}

# moat_conf_base: the lines every bench moat.conf has (example.test on
# $HOST:$MOAT_PORT, its folders beside etc/, room for many sessions).
moat_conf_base() {
	cat <<EOF
hostname = mx.bench.example
listen = $HOST:$MOAT_PORT
workers = 0
user = moat
queue_user = moatq
chroot = ../empty
spool = ../spool
mail_root = ../mail
state_db = ../db
control_socket = ../moatd.sock
domains = domains
recipients = recipients
max_sessions = 20000
max_sessions_per_ip = 20000
EOF
}

# moat_launch CONF LOG: moatd in the background (MOAT_PID), until it
# listens; 1 when it does not.
moat_launch() {
	port_free "$MOAT_PORT" || { echo "port $MOAT_PORT busy"; return 1; }
	./moatd -d -f "$1" </dev/null >/dev/null 2>"$2" &
	MOAT_PID=$!
	port_wait "$MOAT_PORT" 10 && kill -0 "$MOAT_PID" 2>/dev/null
}

# ab_compare VAR SCENARIO FIELD UNIT: the SCENARIO of bench/run.sh against
# moatd with VAR=1 and with VAR=0, alternating, ROUNDS times (default 3):
# each run's figure (the FIELDth word of the scenario's results row),
# then the mean of each and their ratio.  1 when a run fails.
ab_compare() {
	var=$1 sc=$2 field=$3 unit=$4
	figures=""
	i=1
	while [ $i -le "${ROUNDS:-3}" ]; do
		for v in 1 0; do
			r=$(env "$var=$v" SERVERS=moat SCENARIOS="$sc" \
			    sh bench/run.sh 2>/dev/null |
			    awk -v s="$sc" -v f="$field" \
			    '$1 == s { print $f; exit }')
			[ -n "$r" ] || { log "run $var=$v failed"; return 1; }
			echo "$var=$v  $r $unit"
			figures="$figures $v:$r"
		done
		i=$((i + 1))
	done
	printf '%s\n' $figures | awk -F: -v var="$var" -v unit="$unit" '
		{ sum[$1] += $2; n[$1]++ }
		END {
			a = sum[0] / n[0]; b = sum[1] / n[1]
			printf "mean %s=0 %.1f, %s=1 %.1f %s: %.3f of it\n",
			    var, a, var, b, unit, b / a
		}'
}
