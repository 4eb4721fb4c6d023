/*
 * conf_value: the value syntax of moat.conf (sizes, durations, booleans,
 * listen addresses, user names) and the readable forms conf_print writes.
 * The public parsers are declared in conf.h; these are conf.c's own.
 */
#ifndef MOAT_CONF_VALUE_H
#define MOAT_CONF_VALUE_H

#include <stddef.h>
#include <stdint.h>

#define KB		(UINT64_C(1) << 10)
#define MB		(UINT64_C(1) << 20)
#define GB		(UINT64_C(1) << 30)
#define DAY		(24u * 3600u)

/* Unsigned decimal, digits only, overflow-checked; *end after it. */
int	conf_parse_u64(const char *, const char **end, uint64_t *);
int	conf_valid_hostname(const char *);
int	conf_valid_username(const char *);
/* "maildir:PATH", "lmtp:unix:/PATH", "lmtp:HOST:PORT": the shape only. */
int	conf_valid_target(const char *);
void	conf_fmt_size(uint64_t, char *, size_t);
void	conf_fmt_duration(uint64_t, char *, size_t);

#endif
