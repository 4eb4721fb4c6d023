/*
 * conf_keys: the table of configuration keys, shared by the reader
 * (conf.c) and the printer (conf_print.c); nothing outside conf/ uses it.
 */
#ifndef MOAT_CONF_KEYS_H
#define MOAT_CONF_KEYS_H

#include <stddef.h>
#include <stdint.h>

#include "conf.h"

enum conf_type {
	CT_STRING,	/* a word: user name */
	CT_HOSTNAME,	/* a domain name, stored lower case */
	CT_PATH,	/* resolved against the config folder; "" = unset */
	CT_BOOL,
	CT_COUNT,	/* unsigned decimal */
	CT_SIZE,	/* bytes, k/M/G suffixes */
	CT_DURATION,	/* seconds, s/m/h/d suffixes */
	CT_ENUM,	/* one of a few words, stored as an int */
	CT_LISTEN,	/* repeatable list of addresses */
	CT_RESOLVER,	/* repeatable: DNS servers */
	CT_DNSBL,	/* repeatable: zones, one kind each */
	CT_DNSWL,
	CT_RHSBL,
	CT_RATE,	/* N/PERIOD, or 0 */
	CT_FILTER,	/* repeatable: NAME PATH [ARG...] */
	CT_TARGET,	/* a delivery target: maildir:PATH or lmtp:... */
	CT_ADDR,	/* one address to listen on, or "" */
};

struct conf_enum {
	const char	*name;
	int		 value;
};

struct conf_key {
	const char	*name;
	enum conf_type	 type;
	size_t		 off;		/* offsetof(struct conf, field) */
	size_t		 size;		/* sizeof the field */
	const char	*def;		/* default, in config syntax */
	uint64_t	 min, max;	/* numbers: inclusive bounds */
	const struct conf_enum *names;	/* CT_ENUM: NULL-terminated */
};

extern const struct conf_key conf_keys[];
extern const size_t conf_nkeys;

/* A number key's value, whatever its width. */
uint64_t conf_field_load(const struct conf *, const struct conf_key *);

#endif
