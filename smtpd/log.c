/*
 * log: key=value event lines (see log.h).
 */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include "buf.h"
#include "log.h"

/* Room kept at the end of a line for the " truncated=1" marker. */
#define KV_RESERVE	sizeof(" truncated=1")

static int	 log_fg = 1;
static const char *log_ident = "moatd";
static const char *log_proc = NULL;

void
log_init(const char *ident, int foreground)
{
	log_ident = ident;
	log_fg = foreground;
	tzset();
	if (!foreground)
		openlog(ident, LOG_PID | LOG_NDELAY, LOG_MAIL);
}

void
log_setproc(const char *proc)
{
	log_proc = proc;
}

int
log_foreground(void)
{
	return log_fg;
}

size_t
log_escape(char *dst, size_t dstsize, const char *src, size_t n)
{
	static const char hex[] = "0123456789abcdef";
	size_t o = 0, i;
	unsigned char c;

	if (dstsize == 0)
		return 0;
	for (i = 0; i < n; i++) {
		char esc[5];
		size_t el;

		c = (unsigned char)src[i];
		if (c == '"' || c == '\\') {
			esc[0] = '\\'; esc[1] = (char)c; el = 2;
		} else if (c == '\n') {
			esc[0] = '\\'; esc[1] = 'n'; el = 2;
		} else if (c == '\r') {
			esc[0] = '\\'; esc[1] = 'r'; el = 2;
		} else if (c == '\t') {
			esc[0] = '\\'; esc[1] = 't'; el = 2;
		} else if (c < 0x20 || c >= 0x7f) {
			esc[0] = '\\'; esc[1] = 'x';
			esc[2] = hex[c >> 4]; esc[3] = hex[c & 15]; el = 4;
		} else {
			esc[0] = (char)c; el = 1;
		}
		if (o + el >= dstsize)
			break;
		memcpy(dst + o, esc, el);
		o += el;
	}
	dst[o] = '\0';
	return o;
}

/* How long log_escape's output for val[0..n) is. */
static size_t
escaped_len(const char *val, size_t n)
{
	size_t i, len = 0;

	for (i = 0; i < n; i++) {
		unsigned char c = (unsigned char)val[i];

		if (c == '"' || c == '\\' || c == '\n' || c == '\r' || c == '\t')
			len += 2;
		else if (c < 0x20 || c >= 0x7f)
			len += 4;
		else
			len += 1;
	}
	return len;
}

static void
kv_raw(struct kv *k, const char *s, size_t n)
{
	size_t room = sizeof(k->line) - KV_RESERVE - k->len;

	if (k->len + KV_RESERVE > sizeof(k->line))
		room = 0;
	if (n > room) {
		k->truncated = 1;
		n = room;
	}
	memcpy(k->line + k->len, s, n);
	k->len += n;
	k->line[k->len] = '\0';
}

void
kv_begin(struct kv *k, const char *event)
{
	k->len = 0;
	k->truncated = 0;
	k->line[0] = '\0';
	kv_raw(k, event, strlen(event));
}

static int
needs_quotes(const char *v, size_t n)
{
	size_t i;

	if (n == 0)
		return 1;
	for (i = 0; i < n; i++) {
		unsigned char c = (unsigned char)v[i];
		if (c <= ' ' || c >= 0x7f || c == '"' || c == '\\' || c == '=')
			return 1;
	}
	return 0;
}

/*
 * A value that does not fit is cut between whole escapes and its quotes
 * are closed, so even a truncated line parses; kv_emit marks it.
 */
void
kv_strn(struct kv *k, const char *key, const char *val, size_t n)
{
	char esc[LOG_LINE_MAX];
	size_t el, klen = strlen(key), used, room;
	int q;

	if (val == NULL) {
		val = "";
		n = 0;
	}
	q = needs_quotes(val, n);
	used = k->len + 1 + klen + 1 + 2 + KV_RESERVE;	/* " key=" "" */
	if (used >= sizeof(k->line)) {
		k->truncated = 1;
		return;
	}
	room = sizeof(k->line) - used;
	if (escaped_len(val, n) > room) {
		el = log_escape(esc, room + 1, val, n);
		k->truncated = 1;
		q = 1;
	} else {
		el = log_escape(esc, sizeof(esc), val, n);
	}
	kv_raw(k, " ", 1);
	kv_raw(k, key, klen);
	kv_raw(k, q ? "=\"" : "=", q ? 2 : 1);
	kv_raw(k, esc, el);
	if (q)
		kv_raw(k, "\"", 1);
}

void
kv_str(struct kv *k, const char *key, const char *val)
{
	kv_strn(k, key, val, val ? strlen(val) : 0);
}

void
kv_int(struct kv *k, const char *key, long long val)
{
	char tmp[32];

	snprintf(tmp, sizeof(tmp), "%lld", val);
	kv_str(k, key, tmp);
}

void
kv_uint(struct kv *k, const char *key, unsigned long long val)
{
	char tmp[32];

	snprintf(tmp, sizeof(tmp), "%llu", val);
	kv_str(k, key, tmp);
}

void
kv_dur(struct kv *k, const char *key, long long msec)
{
	char tmp[48];

	if (msec < 0)
		msec = 0;
	snprintf(tmp, sizeof(tmp), "%lld.%03lld", msec / 1000, msec % 1000);
	kv_str(k, key, tmp);
}

void
kv_id(struct kv *k, const char *key, uint64_t id)
{
	char tmp[24];

	snprintf(tmp, sizeof(tmp), "%016" PRIx64, id);
	kv_str(k, key, tmp);
}

/*
 * Foreground lines: "TIME.mmm moatd[PID]: LINE\n" in one write(2), so
 * lines of several processes sharing stderr never interleave.  The time
 * prefix is formatted once a second.
 */
static void
log_write_stderr(const char *line)
{
	static time_t cached_sec = -1;
	static char ts[32];
	static size_t tslen;
	char out[LOG_LINE_MAX + 128];
	struct timespec now;
	struct tm tm;
	size_t n, len;
	int h;

	clock_gettime(CLOCK_REALTIME, &now);
	if (now.tv_sec != cached_sec) {
		cached_sec = now.tv_sec;
		localtime_r(&now.tv_sec, &tm);
		tslen = strftime(ts, sizeof(ts), "%Y-%m-%dT%H:%M:%S", &tm);
	}
	h = snprintf(out, sizeof(out), "%.*s.%03ld %s[%ld]: ", (int)tslen, ts,
	    now.tv_nsec / 1000000, log_ident, (long)getpid());
	if (h < 0 || (size_t)h >= sizeof(out))
		return;
	len = strlen(line);
	n = sizeof(out) - (size_t)h - 1;
	if (len > n)
		len = n;
	memcpy(out + h, line, len);
	out[(size_t)h + len] = '\n';
	(void)fd_write_all(STDERR_FILENO, out, (size_t)h + len + 1);
}

static void
log_write(int prio, const char *line)
{
	if (log_fg)
		log_write_stderr(line);
	else
		syslog(prio, "%s", line);
}

static void
kv_emit_prio(struct kv *k, int prio)
{
	if (k->truncated) {
		memcpy(k->line + k->len, " truncated=1", KV_RESERVE);
		k->len += KV_RESERVE - 1;
	}
	log_write(prio, k->line);
}

void
kv_emit(struct kv *k)
{
	kv_emit_prio(k, LOG_INFO);
}

void
kv_emit_warn(struct kv *k)
{
	kv_emit_prio(k, LOG_WARNING);
}

static void
log_vmsg(int prio, const char *event, int errnum, const char *fmt, va_list ap)
    __attribute__((format(printf, 4, 0)));

static void
log_vmsg(int prio, const char *event, int errnum, const char *fmt, va_list ap)
{
	char msg[1024];
	struct kv k;
	size_t n;

	vsnprintf(msg, sizeof(msg), fmt, ap);
	n = strlen(msg);
	if (errnum && n + 2 < sizeof(msg))
		snprintf(msg + n, sizeof(msg) - n, ": %s", strerror(errnum));
	kv_begin(&k, event);
	if (log_proc)
		kv_str(&k, "proc", log_proc);
	kv_str(&k, "msg", msg);
	if (k.truncated) {
		memcpy(k.line + k.len, " truncated=1", KV_RESERVE);
		k.len += KV_RESERVE - 1;
	}
	log_write(prio, k.line);
}

void
log_info(const char *event, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_vmsg(LOG_INFO, event, 0, fmt, ap);
	va_end(ap);
}

void
log_warn(const char *fmt, ...)
{
	int saved = errno;
	va_list ap;

	va_start(ap, fmt);
	log_vmsg(LOG_ERR, "error", saved, fmt, ap);
	va_end(ap);
	errno = saved;
}

void
log_warnx(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_vmsg(LOG_ERR, "error", 0, fmt, ap);
	va_end(ap);
}

void
log_debug(const char *fmt, ...)
{
	va_list ap;

	if (getenv("MOAT_DEBUG") == NULL)
		return;
	va_start(ap, fmt);
	log_vmsg(LOG_DEBUG, "debug", 0, fmt, ap);
	va_end(ap);
}

void
fatal(const char *fmt, ...)
{
	int saved = errno;
	va_list ap;

	va_start(ap, fmt);
	log_vmsg(LOG_CRIT, "fatal", saved, fmt, ap);
	va_end(ap);
	exit(1);
}

void
fatalx(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_vmsg(LOG_CRIT, "fatal", 0, fmt, ap);
	va_end(ap);
	exit(1);
}
