/*
 * log: one line per event, key=value, to stderr (foreground) or syslog.
 *
 * Line shape: "EVENT key=value key=\"quoted value\" ...".  syslog (or the
 * stderr writer) adds "moatd[PID]: ".  Values are escaped so that each
 * event is exactly one line whatever the client sent: control bytes,
 * quotes and backslashes are escaped, bytes >= 0x7f are written as \xNN.
 * The keys are an interface (reports are computed from them).
 *
 * Errors: fatal()/fatalx() exit (start-up and broken invariants only);
 * log_warn()/log_warnx() log an "error" event; on the session path an
 * error becomes a verdict plus one log line, never an exit.
 */
#ifndef MOAT_LOG_H
#define MOAT_LOG_H

#include <stddef.h>
#include <stdint.h>

#define LOG_LINE_MAX	4096

struct kv {
	char	line[LOG_LINE_MAX];
	size_t	len;
	int	truncated;
};

void	log_init(const char *ident, int foreground);
void	log_setproc(const char *proc);	/* "parent", "smtp", "queue" */
int	log_foreground(void);

void	kv_begin(struct kv *, const char *event);
void	kv_str(struct kv *, const char *key, const char *val);
void	kv_strn(struct kv *, const char *key, const char *val, size_t n);
void	kv_int(struct kv *, const char *key, long long val);
void	kv_uint(struct kv *, const char *key, unsigned long long val);
void	kv_dur(struct kv *, const char *key, long long msec); /* "1.234" s */
void	kv_id(struct kv *, const char *key, uint64_t id); /* %016llx */
void	kv_emit(struct kv *);
void	kv_emit_warn(struct kv *);	/* the same, at syslog's warning */

void	log_info(const char *event, const char *fmt, ...)
	    __attribute__((format(printf, 2, 3)));
void	log_warn(const char *fmt, ...)
	    __attribute__((format(printf, 1, 2)));	/* appends errno */
void	log_warnx(const char *fmt, ...)
	    __attribute__((format(printf, 1, 2)));
void	log_debug(const char *fmt, ...)
	    __attribute__((format(printf, 1, 2)));
_Noreturn void fatal(const char *fmt, ...)
	    __attribute__((format(printf, 1, 2)));	/* appends errno */
_Noreturn void fatalx(const char *fmt, ...)
	    __attribute__((format(printf, 1, 2)));

/* Escape a value the way kv_str does, into dst (always terminated). */
size_t	log_escape(char *dst, size_t dstsize, const char *src, size_t n);

#endif
