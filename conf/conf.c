/*
 * conf: read moat.conf into struct conf.
 *
 * The set of keys is closed and typed: conf_keys[] below has one row per
 * key (name, type, where it lives in struct conf, default, bounds), and
 * every other part of this file is driven by that table: parsing,
 * defaults, range checks, printing.  Adding a key is adding a row (and a
 * paragraph in moat.conf.5.md).
 *
 * Syntax: "key = value" lines; '#' starts a comment at the beginning of a
 * line or after whitespace (so a value may contain '#' inside a word);
 * blank lines are ignored; list keys (listen) may repeat, every other key
 * may appear once.  Relative paths are relative to the folder of the
 * config file, made absolute when read, so nothing later depends on the
 * current directory (the daemon chdirs and chroots).
 *
 * conf_load works on a private copy and only overwrites the caller's
 * struct when the whole file is valid: a SIGHUP with a broken file keeps
 * the running settings.  conf_print writes every key in table order in
 * the same syntax, so its output ("moatd -n") reads back as a config.
 */
#include <sys/types.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <netinet/in.h>
#include <arpa/inet.h>

#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "conf.h"
#include "conf_keys.h"
#include "conf_value.h"
#include "../smtpd/buf.h"

#define CONF_LINE_MAX	4096

_Static_assert(sizeof(enum bare_lf_policy) == sizeof(int),
    "enum keys are stored as int");

#define F(field)	offsetof(struct conf, field), \
			sizeof(((struct conf *)0)->field)

static const struct conf_enum case_names[] = {
	{ "insensitive", 1 },
	{ "sensitive", 0 },
	{ NULL, 0 },
};

static const struct conf_enum rdns_names[] = {
	{ "off", RDNS_OFF },
	{ "require-ptr", RDNS_REQUIRE_PTR },
	{ "require-fcrdns", RDNS_REQUIRE_FCRDNS },
	{ NULL, 0 },
};

static const struct conf_enum miss_names[] = {
	{ "tempfail", DNS_MISS_TEMPFAIL },
	{ "reject", DNS_MISS_REJECT },
	{ NULL, 0 },
};

static const struct conf_enum sender_domain_names[] = {
	{ "off", SENDER_DOMAIN_OFF },
	{ "require-resolvable", SENDER_DOMAIN_RESOLVABLE },
	{ NULL, 0 },
};

static const struct conf_enum greylist_key_names[] = {
	{ "network", GREYLIST_KEY_NETWORK },
	{ "ptr-domain", GREYLIST_KEY_PTR_DOMAIN },
	{ NULL, 0 },
};

static const struct conf_enum rate_action_names[] = {
	{ "reject", RATE_REJECT },
	{ "drop", RATE_DROP },
	{ NULL, 0 },
};

static const struct conf_enum dns_action_names[] = {
	{ "enforce", DNS_ENFORCE },
	{ "log", DNS_LOG },
	{ NULL, 0 },
};

static const struct conf_enum filter_failure_names[] = {
	{ "tempfail", FILTER_FAIL_TEMPFAIL },
	{ "accept", FILTER_FAIL_ACCEPT },
	{ NULL, 0 },
};

static const struct conf_enum bare_lf_names[] = {
	{ "reject", BARE_LF_REJECT },
	{ "normalize", BARE_LF_NORMALIZE },
	{ NULL, 0 },
};

/*
 * The keys, in the order conf_print writes them.  hostname has no
 * textual default: conf_defaults takes gethostname().
 */
const struct conf_key conf_keys[] = {
	{ "hostname",		CT_HOSTNAME,	F(hostname),	NULL, 0, 0, NULL },
	{ "listen",		CT_LISTEN,	F(listen),	"127.0.0.1:2525", 0, 0, NULL },
	{ "workers",		CT_COUNT,	F(workers),	"0", 0, 1024, NULL },
	{ "user",		CT_STRING,	F(user),	"moat", 0, 0, NULL },
	{ "queue_user",		CT_STRING,	F(queue_user),	"moatq", 0, 0, NULL },
	{ "chroot",		CT_PATH,	F(chroot),	"/var/lib/moat/empty", 0, 0, NULL },
	{ "spool",		CT_PATH,	F(spool),	"/var/spool/moat", 0, 0, NULL },
	{ "mail_root",		CT_PATH,	F(mail_root),	"/var/vmail", 0, 0, NULL },
	{ "pidfile",		CT_PATH,	F(pidfile),	"/run/moatd.pid", 0, 0, NULL },
	{ "control_socket",	CT_PATH,	F(control_socket), "/run/moatd.sock", 0, 0, NULL },
	{ "metrics_listen",	CT_ADDR,	F(metrics_listen), "", 0, 0, NULL },

	{ "domains",		CT_PATH,	F(maps[MAP_DOMAINS]),	 "", 0, 0, NULL },
	{ "recipients",		CT_PATH,	F(maps[MAP_RECIPIENTS]), "", 0, 0, NULL },
	{ "access",		CT_PATH,	F(maps[MAP_ACCESS]),	 "", 0, 0, NULL },
	{ "helo",		CT_PATH,	F(maps[MAP_HELO]),	 "", 0, 0, NULL },
	{ "senders",		CT_PATH,	F(maps[MAP_SENDERS]),	 "", 0, 0, NULL },
	{ "greylist_allow",	CT_PATH,	F(maps[MAP_GREYLIST_ALLOW]), "", 0, 0, NULL },

	{ "tls_cert",		CT_PATH,	F(tls_cert),	"", 0, 0, NULL },
	{ "tls_key",		CT_PATH,	F(tls_key),	"", 0, 0, NULL },

	{ "delay_reject",	CT_BOOL,	F(delay_reject), "yes", 0, 1, NULL },
	{ "local_part_case",	CT_ENUM,	F(local_part_fold), "insensitive", 0, 0, case_names },
	{ "bare_lf",		CT_ENUM,	F(bare_lf),	"reject", 0, 0, bare_lf_names },

	{ "max_line_length",	CT_SIZE,	F(max_line),	"1000", 512, 64 * KB, NULL },
	{ "max_message_size",	CT_SIZE,	F(max_message_size), "25M", KB, 1024 * GB, NULL },
	{ "max_recipients",	CT_COUNT,	F(max_recipients), "100", 1, 1000, NULL },
	{ "max_bad_commands",	CT_COUNT,	F(max_bad_commands), "10", 1, 10000, NULL },
	{ "max_commands",	CT_COUNT,	F(max_commands), "1000", 1, 10000000, NULL },
	{ "max_sessions",	CT_COUNT,	F(max_sessions), "1000", 1, 1000000, NULL },
	{ "max_sessions_per_ip", CT_COUNT,	F(max_sessions_per_ip), "20", 1, 1000000, NULL },
	{ "max_hops",		CT_COUNT,	F(max_hops),	"100", 1, 1000, NULL },
	{ "command_timeout",	CT_DURATION,	F(command_timeout), "5m", 1, DAY, NULL },
	{ "data_timeout",	CT_DURATION,	F(data_timeout), "10m", 1, DAY, NULL },
	{ "session_timeout",	CT_DURATION,	F(session_timeout), "30m", 1, 7 * DAY, NULL },
	{ "tls_timeout",	CT_DURATION,	F(tls_timeout),	"30s", 1, 3600, NULL },
	{ "shutdown_timeout",	CT_DURATION,	F(shutdown_timeout), "30s", 0, DAY, NULL },
	{ "min_free_space",	CT_SIZE,	F(min_free_space), "100M", 0, UINT64_MAX, NULL },

	{ "resolver",		CT_RESOLVER,	F(resolver),	NULL, 0, 0, NULL },
	{ "dnsbl",		CT_DNSBL,	F(zones),	NULL, 0, 0, NULL },
	{ "dnswl",		CT_DNSWL,	F(zones),	NULL, 0, 0, NULL },
	{ "rhsbl_sender",	CT_RHSBL,	F(zones),	NULL, 0, 0, NULL },
	{ "dnsbl_threshold",	CT_COUNT,	F(dnsbl_threshold), "1", 1, 1000, NULL },
	{ "dnsbl_timeout",	CT_DURATION,	F(dnsbl_timeout), "5s", 1, 60, NULL },
	{ "dnsbl_probe_interval", CT_DURATION,	F(dnsbl_probe_interval), "5m", 0, DAY, NULL },
	{ "reverse_dns",	CT_ENUM,	F(reverse_dns),	"off", 0, 0, rdns_names },
	{ "reverse_dns_action",	CT_ENUM,	F(reverse_dns_action), "tempfail", 0, 0, miss_names },
	{ "dynamic_ptr",	CT_PATH,	F(dynamic_ptr),	"", 0, 0, NULL },
	{ "sender_domain",	CT_ENUM,	F(sender_domain), "off", 0, 0, sender_domain_names },
	{ "dns_action",		CT_ENUM,	F(dns_action),	"enforce", 0, 0, dns_action_names },
	{ "dns_cache_min_ttl",	CT_DURATION,	F(dns_cache_min_ttl), "1m", 0, DAY, NULL },
	{ "dns_cache_max_ttl",	CT_DURATION,	F(dns_cache_max_ttl), "1h", 0, 7 * DAY, NULL },

	{ "greylist",		CT_BOOL,	F(greylist),	"no", 0, 1, NULL },
	{ "state_db",		CT_PATH,	F(state_db),	"/var/lib/moat/db", 0, 0, NULL },
	{ "state_db_size",	CT_SIZE,	F(state_db_size), "256M", 64 * KB, 64 * GB, NULL },
	{ "greylist_delay",	CT_DURATION,	F(greylist_delay), "5m", 0, DAY, NULL },
	{ "greylist_window",	CT_DURATION,	F(greylist_window), "2d", 1, 30 * DAY, NULL },
	{ "greylist_expire",	CT_DURATION,	F(greylist_expire), "35d", 1, 365 * DAY, NULL },
	{ "greylist_awl",	CT_COUNT,	F(greylist_awl), "5", 0, 1000000, NULL },
	{ "greylist_early_max",	CT_COUNT,	F(greylist_early_max), "3", 0, 1000000, NULL },
	{ "greylist_net4",	CT_COUNT,	F(greylist_net4), "24", 8, 32, NULL },
	{ "greylist_net6",	CT_COUNT,	F(greylist_net6), "64", 16, 128, NULL },
	{ "greylist_key",	CT_ENUM,	F(greylist_key), "network", 0, 0, greylist_key_names },

	{ "conn_rate",		CT_RATE,	F(conn_rate),	"0", 0, 0, NULL },
	{ "msg_rate",		CT_RATE,	F(msg_rate),	"0", 0, 0, NULL },
	{ "rcpt_rate",		CT_RATE,	F(rcpt_rate),	"0", 0, 0, NULL },
	{ "msgs_per_conn",	CT_COUNT,	F(msgs_per_conn), "0", 0, 1000000, NULL },
	{ "rcpt_errors_per_conn", CT_COUNT,	F(rcpt_errors_per_conn), "0", 0, 1000000, NULL },
	{ "rate_net6",		CT_COUNT,	F(rate_net6),	"64", 16, 128, NULL },
	{ "rate_action",	CT_ENUM,	F(rate_action),	"reject", 0, 0, rate_action_names },
	{ "greet_delay",	CT_DURATION,	F(greet_delay),	"0", 0, 60, NULL },

	{ "block_threshold",	CT_COUNT,	F(block_threshold), "0", 0, 1000000, NULL },
	{ "block_time",		CT_DURATION,	F(block_time),	"1d", 1, 365 * DAY, NULL },
	{ "block_time_max",	CT_DURATION,	F(block_time_max), "7d", 1, 365 * DAY, NULL },
	{ "block_action",	CT_ENUM,	F(block_action), "drop", 0, 0, rate_action_names },
	{ "block_weight_rate",	CT_COUNT,	F(block_weight[0]), "2", 0, 1000000, NULL },
	{ "block_weight_greylist", CT_COUNT,	F(block_weight[1]), "3", 0, 1000000, NULL },
	{ "block_weight_forged", CT_COUNT,	F(block_weight[2]), "5", 0, 1000000, NULL },
	{ "block_weight_dictionary", CT_COUNT,	F(block_weight[3]), "10", 0, 1000000, NULL },
	{ "block_weight_pregreet", CT_COUNT,	F(block_weight[4]), "10", 0, 1000000, NULL },
	{ "block_weight_filter", CT_COUNT,	F(block_weight[5]), "2", 0, 1000000, NULL },

	{ "filter",		CT_FILTER,	F(filters),	NULL, 0, 0, NULL },
	{ "filter_user",	CT_STRING,	F(filter_user),	"moatf", 0, 0, NULL },
	{ "filter_timeout",	CT_DURATION,	F(filter_timeout), "60s", 1, 3600, NULL },
	{ "filter_failure",	CT_ENUM,	F(filter_failure), "tempfail", 0, 0, filter_failure_names },
	{ "filter_max_procs",	CT_COUNT,	F(filter_max_procs), "16", 1, 1024, NULL },

	{ "delivery",		CT_TARGET,	F(delivery),	"", 0, 0, NULL },
	{ "lmtp_timeout",	CT_DURATION,	F(lmtp_timeout), "5m", 1, 3600, NULL },
	{ "retry_min",		CT_DURATION,	F(retry_min),	"1m", 1, 30 * DAY, NULL },
	{ "retry_max",		CT_DURATION,	F(retry_max),	"1h", 1, 30 * DAY, NULL },
	{ "queue_lifetime",	CT_DURATION,	F(queue_lifetime), "5d", 1, 365 * DAY, NULL },
};

#define NKEYS	(sizeof(conf_keys) / sizeof(conf_keys[0]))
const size_t conf_nkeys = NKEYS;

static const char *const map_names[MAP_COUNT] = {
	[MAP_DOMAINS] = "domains",
	[MAP_RECIPIENTS] = "recipients",
	[MAP_ACCESS] = "access",
	[MAP_HELO] = "helo",
	[MAP_SENDERS] = "senders",
	[MAP_GREYLIST_ALLOW] = "greylist_allow",
};

/* ---- fields ---- */

static void
field_store(struct conf *c, const struct conf_key *k, uint64_t v)
{
	char *p = (char *)c + k->off;

	if (k->size == sizeof(uint64_t)) {
		uint64_t u = v;

		memcpy(p, &u, sizeof(u));
	} else {
		uint32_t u = (uint32_t)v;

		memcpy(p, &u, sizeof(u));
	}
}

uint64_t
conf_field_load(const struct conf *c, const struct conf_key *k)
{
	const char *p = (const char *)c + k->off;

	if (k->size == sizeof(uint64_t)) {
		uint64_t u;

		memcpy(&u, p, sizeof(u));
		return u;
	} else {
		uint32_t u;

		memcpy(&u, p, sizeof(u));
		return u;
	}
}

/*
 * Resolve a relative path against dir (absolute, no symlinks: it came
 * from realpath).  Leading "./" and "../" are folded here, which is exact
 * because dir has no symbolic links; any later ".." is left to the kernel.
 */
static int
path_resolve(const char *dir, const char *val, char *out, size_t outsize)
{
	char base[CONF_PATH_MAX];
	char *slash;
	int n;

	if (dir == NULL || val[0] == '/' || val[0] == '\0')
		return strlcpy_ok(out, val, outsize);
	if (strlcpy_ok(base, dir, sizeof(base)) == -1)
		return -1;
	for (;;) {
		if (strcmp(val, ".") == 0) {
			val += 1;
		} else if (strncmp(val, "./", 2) == 0) {
			val += 2;
		} else if (strcmp(val, "..") == 0 ||
		    strncmp(val, "../", 3) == 0) {
			val += val[2] == '/' ? 3 : 2;
			if ((slash = strrchr(base, '/')) != NULL)
				slash[slash == base ? 1 : 0] = '\0';
		} else {
			break;
		}
	}
	if (*val == '\0')
		return strlcpy_ok(out, base, outsize);
	n = snprintf(out, outsize, "%s%s%s", base,
	    strcmp(base, "/") == 0 ? "" : "/", val);
	return n < 0 || (size_t)n >= outsize ? -1 : 0;
}

static int
set_enum(struct conf *c, const struct conf_key *k, const char *val,
    char *msg, size_t msgsize)
{
	const struct conf_enum *e;
	int v;

	for (e = k->names; e->name != NULL; e++) {
		if (strcmp(val, e->name) == 0) {
			v = e->value;
			memcpy((char *)c + k->off, &v, sizeof(v));
			return 0;
		}
	}
	(void)snprintf(msg, msgsize, "\"%s\" is not one of:", val);
	for (e = k->names; e->name != NULL; e++) {
		size_t l = strlen(msg);

		(void)snprintf(msg + l, msgsize - l, " %s", e->name);
	}
	return -1;
}

static int
set_listen(struct conf *c, const char *val, char *msg, size_t msgsize)
{
	struct listen_addr la[2];
	int n;

	if ((n = conf_parse_listen(val, la)) == -1) {
		(void)snprintf(msg, msgsize, "bad address \"%s\" (expected "
		    "IPV4:PORT, [IPV6]:PORT or *:PORT)", val);
		return -1;
	}
	if (c->nlisten + (size_t)n > CONF_LISTEN_MAX) {
		(void)snprintf(msg, msgsize, "more than %d addresses",
		    CONF_LISTEN_MAX);
		return -1;
	}
	memcpy(&c->listen[c->nlisten], la, (size_t)n * sizeof(la[0]));
	c->nlisten += (size_t)n;
	return 0;
}

static int
set_resolver(struct conf *c, const char *val, char *msg, size_t msgsize)
{
	if (c->nresolver == CONF_RESOLVER_MAX) {
		(void)snprintf(msg, msgsize, "more than %d resolvers",
		    CONF_RESOLVER_MAX);
		return -1;
	}
	if (conf_parse_resolver(val, &c->resolver[c->nresolver]) == -1) {
		(void)snprintf(msg, msgsize, "bad address \"%s\" (expected "
		    "IPV4[:PORT] or [IPV6]:PORT)", val);
		return -1;
	}
	c->nresolver++;
	return 0;
}

static int
set_zone(struct conf *c, enum dns_zone_kind kind, const char *val,
    char *msg, size_t msgsize)
{
	size_t i;

	if (c->nzones == CONF_ZONE_MAX) {
		(void)snprintf(msg, msgsize, "more than %d DNS zones in all",
		    CONF_ZONE_MAX);
		return -1;
	}
	if (conf_parse_zone(val, kind, &c->zones[c->nzones], msg, msgsize)
	    == -1)
		return -1;
	for (i = 0; i < c->nzones; i++)
		if (c->zones[i].kind == kind && strcmp(c->zones[i].zone,
		    c->zones[c->nzones].zone) == 0) {
			(void)snprintf(msg, msgsize, "%s given twice",
			    c->zones[i].zone);
			return -1;
		}
	c->nzones++;
	return 0;
}

static int
set_filter(struct conf *c, const char *dir, const char *val, char *msg,
    size_t msgsize)
{
	struct conf_filter *f = &c->filters[c->nfilters];
	char path[CONF_PATH_MAX];
	size_t i;

	if (c->nfilters == CONF_FILTER_MAX) {
		(void)snprintf(msg, msgsize, "more than %d filters",
		    CONF_FILTER_MAX);
		return -1;
	}
	if (conf_parse_filter(val, f, msg, msgsize) == -1)
		return -1;
	if (path_resolve(dir, f->path, path, sizeof(path)) == -1 ||
	    strlcpy_ok(f->path, path, sizeof(f->path)) == -1) {
		(void)snprintf(msg, msgsize, "path too long");
		return -1;
	}
	for (i = 0; i < c->nfilters; i++)
		if (strcmp(c->filters[i].name, f->name) == 0) {
			(void)snprintf(msg, msgsize, "filter %s given twice",
			    f->name);
			return -1;
		}
	c->nfilters++;
	return 0;
}

/* "N/PERIOD" (30/1m), or "0" for no limit. */
static int
set_rate(struct conf_rate *r, const char *val, char *msg, size_t msgsize)
{
	const char *end;
	uint64_t n;
	unsigned period;

	if (strcmp(val, "0") == 0) {
		r->n = r->period = 0;
		return 0;
	}
	if (conf_parse_u64(val, &end, &n) == -1 || *end != '/' || n == 0 ||
	    n > 1000000 || conf_parse_duration(end + 1, &period) == -1 ||
	    period == 0 || period > 7 * DAY) {
		(void)snprintf(msg, msgsize, "\"%s\" is not N/PERIOD (1 to "
		    "1000000 per 1s to 7d, as in 30/1m) or 0", val);
		return -1;
	}
	r->n = (unsigned)n;
	r->period = period;
	return 0;
}

static int
set_number(struct conf *c, const struct conf_key *k, const char *val,
    char *msg, size_t msgsize)
{
	const char *what = "a number", *end;
	uint64_t v;
	unsigned d;
	int b;

	switch (k->type) {
	case CT_BOOL:
		if (conf_parse_bool(val, &b) == -1) {
			(void)snprintf(msg, msgsize, "\"%s\" is not yes or no",
			    val);
			return -1;
		}
		v = (uint64_t)b;
		break;
	case CT_SIZE:
		what = "a size (bytes, or with a K, M or G suffix)";
		if (conf_parse_size(val, &v) == -1)
			goto bad;
		break;
	case CT_DURATION:
		what = "a duration (seconds, or with an s, m, h or d suffix)";
		if (conf_parse_duration(val, &d) == -1)
			goto bad;
		v = d;
		break;
	default:
		if (conf_parse_u64(val, &end, &v) == -1 || *end != '\0')
			goto bad;
		break;
	}
	if (k->type != CT_BOOL && (v < k->min || v > k->max)) {
		(void)snprintf(msg, msgsize, "%s is out of range "
		    "(%llu to %llu)", val, (unsigned long long)k->min,
		    (unsigned long long)k->max);
		return -1;
	}
	field_store(c, k, v);
	return 0;
bad:
	(void)snprintf(msg, msgsize, "\"%s\" is not %s", val, what);
	return -1;
}

/* Set one key from its text value; msg gets the reason on error. */
static int
conf_set(struct conf *c, const struct conf_key *k, const char *val,
    const char *dir, char *msg, size_t msgsize)
{
	char *field = (char *)c + k->off;
	char *p;

	switch (k->type) {
	case CT_TARGET:
		if (val[0] != '\0' && !conf_valid_target(val)) {
			(void)snprintf(msg, msgsize, "\"%s\" is not a delivery "
			    "target (maildir:PATH, lmtp:unix:/PATH or "
			    "lmtp:HOST:PORT)", val);
			return -1;
		}
		return strlcpy_ok(field, val, k->size);
	case CT_STRING:
		if (!conf_valid_username(val)) {
			(void)snprintf(msg, msgsize, "\"%s\" is not a valid "
			    "user name", val);
			return -1;
		}
		return strlcpy_ok(field, val, k->size);
	case CT_HOSTNAME:
		if (!conf_valid_hostname(val) ||
		    strlcpy_ok(field, val, k->size) == -1) {
			(void)snprintf(msg, msgsize, "\"%s\" is not a valid "
			    "host name", val);
			return -1;
		}
		for (p = field; *p != '\0'; p++)
			if (*p >= 'A' && *p <= 'Z')
				*p = (char)(*p - 'A' + 'a');
		return 0;
	case CT_PATH:
		if (path_resolve(dir, val, field, k->size) == -1) {
			(void)snprintf(msg, msgsize, "path too long");
			return -1;
		}
		return 0;
	case CT_ENUM:
		return set_enum(c, k, val, msg, msgsize);
	case CT_LISTEN:
		return set_listen(c, val, msg, msgsize);
	case CT_ADDR:
		if (conf_parse_metrics_listen(val, (void *)field) == -1) {
			(void)snprintf(msg, msgsize, "bad address \"%s\" "
			    "(expected PORT, IPV4:PORT or [IPV6]:PORT)", val);
			return -1;
		}
		return 0;
	case CT_RESOLVER:
		return set_resolver(c, val, msg, msgsize);
	case CT_DNSBL:
		return set_zone(c, ZONE_DNSBL, val, msg, msgsize);
	case CT_DNSWL:
		return set_zone(c, ZONE_DNSWL, val, msg, msgsize);
	case CT_RHSBL:
		return set_zone(c, ZONE_RHSBL, val, msg, msgsize);
	case CT_RATE:
		return set_rate((struct conf_rate *)(void *)field, val, msg,
		    msgsize);
	case CT_FILTER:
		return set_filter(c, dir, val, msg, msgsize);
	default:
		return set_number(c, k, val, msg, msgsize);
	}
}

/* ---- defaults ---- */

void
conf_defaults(struct conf *c)
{
	char msg[256];
	size_t i;

	memset(c, 0, sizeof(*c));
	for (i = 0; i < NKEYS; i++) {
		const struct conf_key *k = &conf_keys[i];

		if (k->def == NULL)
			continue;
		/* the table's defaults are valid: a failure is a bug here */
		if (conf_set(c, k, k->def, NULL, msg, sizeof(msg)) == -1)
			abort();
	}
	if (gethostname(c->hostname, sizeof(c->hostname)) == -1)
		c->hostname[0] = '\0';
	c->hostname[sizeof(c->hostname) - 1] = '\0';
}

/* ---- reading a file ---- */

struct conf_reader {
	struct conf	*c;
	const char	*path;		/* as given, for messages */
	char		 dir[CONF_PATH_MAX];
	unsigned	 line;
	unsigned	 seen[NKEYS];	/* line where each key was set, 0 */
	char		*err;
	size_t		 errsize;
};

static int
conf_error(struct conf_reader *r, unsigned line, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int
conf_error(struct conf_reader *r, unsigned line, const char *fmt, ...)
{
	char msg[512];
	va_list ap;

	va_start(ap, fmt);
	(void)vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (line > 0)
		(void)snprintf(r->err, r->errsize, "%s:%u: %s", r->path, line,
		    msg);
	else
		(void)snprintf(r->err, r->errsize, "%s: %s", r->path, msg);
	return -1;
}

static int
key_repeats(const struct conf_key *k)
{
	return k->type == CT_LISTEN || k->type == CT_RESOLVER ||
	    k->type == CT_DNSBL || k->type == CT_DNSWL || k->type == CT_RHSBL ||
	    k->type == CT_FILTER;
}

/* Other names of a key: the name the rate limits give it. */
static const struct {
	const char	*alias, *name;
} conf_aliases[] = {
	{ "conn_max_per_ip", "max_sessions_per_ip" },
};

static const struct conf_key *
conf_key_find(const char *name)
{
	size_t i;

	for (i = 0; i < sizeof(conf_aliases) / sizeof(conf_aliases[0]); i++)
		if (strcmp(conf_aliases[i].alias, name) == 0)
			name = conf_aliases[i].name;
	for (i = 0; i < NKEYS; i++)
		if (strcmp(conf_keys[i].name, name) == 0)
			return &conf_keys[i];
	return NULL;
}

static char *
trim(char *s)
{
	char *e;

	while (*s == ' ' || *s == '\t')
		s++;
	e = s + strlen(s);
	while (e > s && (e[-1] == ' ' || e[-1] == '\t' || e[-1] == '\r' ||
	    e[-1] == '\n'))
		*--e = '\0';
	return s;
}

/* Cut a comment: '#' at the start or after a space or tab. */
static void
cut_comment(char *s)
{
	char *p;

	for (p = s; *p != '\0'; p++) {
		if (*p == '#' && (p == s || p[-1] == ' ' || p[-1] == '\t')) {
			*p = '\0';
			return;
		}
	}
}

static int
conf_line(struct conf_reader *r, char *line)
{
	const struct conf_key *k;
	char msg[384];
	char *eq, *key, *val;
	size_t idx;

	cut_comment(line);
	line = trim(line);
	if (*line == '\0')
		return 0;
	if ((eq = strchr(line, '=')) == NULL)
		return conf_error(r, r->line, "expected \"key = value\"");
	*eq = '\0';
	key = trim(line);
	val = trim(eq + 1);
	if (*key == '\0')
		return conf_error(r, r->line, "missing key before '='");
	if ((k = conf_key_find(key)) == NULL)
		return conf_error(r, r->line, "unknown key \"%.64s\"", key);
	idx = (size_t)(k - conf_keys);
	if (r->seen[idx] != 0 && !key_repeats(k))
		return conf_error(r, r->line, "%s is set twice (first at "
		    "line %u)", k->name, r->seen[idx]);
	/* the first "listen" in the file replaces the default address */
	if (k->type == CT_LISTEN && r->seen[idx] == 0)
		r->c->nlisten = 0;
	if (r->seen[idx] == 0)
		r->seen[idx] = r->line;
	if (map_byname(k->name) >= 0)		/* for later messages */
		r->c->map_line[map_byname(k->name)] = r->line;
	if (strcmp(k->name, "tls_cert") == 0)
		r->c->tls_line = r->line;
	if (conf_set(r->c, k, val, r->dir, msg, sizeof(msg)) == -1)
		return conf_error(r, r->line, "%s: %s", k->name, msg);
	return 0;
}

/* Folder of the file as named (not of its link target), made absolute. */
static int
conf_folder(const char *path, char *dir, size_t dirsize, char *file,
    size_t filesize)
{
	char tmp[CONF_PATH_MAX], real[PATH_MAX];
	const char *base;
	char *slash;
	int n;

	if (strlcpy_ok(tmp, path, sizeof(tmp)) == -1) {
		errno = ENAMETOOLONG;
		return -1;
	}
	if ((slash = strrchr(tmp, '/')) == NULL) {
		base = path;
		(void)strlcpy_ok(tmp, ".", sizeof(tmp));
	} else {
		base = path + (slash - tmp) + 1;
		slash[slash == tmp ? 1 : 0] = '\0';
	}
	if (realpath(tmp, real) == NULL)
		return -1;
	if (strlcpy_ok(dir, real, dirsize) == -1) {
		errno = ENAMETOOLONG;
		return -1;
	}
	n = snprintf(file, filesize, "%s%s%s", real,
	    strcmp(real, "/") == 0 ? "" : "/", base);
	if (n < 0 || (size_t)n >= filesize) {
		errno = ENAMETOOLONG;
		return -1;
	}
	return 0;
}

static int
conf_read(struct conf_reader *r, FILE *fp)
{
	char *line = NULL;
	size_t cap = 0;
	ssize_t n;
	int rc = 0;

	while ((n = getline(&line, &cap, fp)) != -1) {
		r->line++;
		if (n > CONF_LINE_MAX) {
			rc = conf_error(r, r->line, "line longer than %d bytes",
			    CONF_LINE_MAX);
			break;
		}
		if (memchr(line, '\0', (size_t)n) != NULL) {
			rc = conf_error(r, r->line, "NUL byte");
			break;
		}
		if ((rc = conf_line(r, line)) == -1)
			break;
	}
	if (rc == 0 && ferror(fp))
		rc = conf_error(r, 0, "read error: %s", strerror(errno));
	free(line);
	return rc;
}

static unsigned
seen_line(const struct conf_reader *r, const char *name)
{
	const struct conf_key *k = conf_key_find(name);

	return k == NULL ? 0 : r->seen[k - conf_keys];
}

/* Relative defaults are relative to the config folder too. */
static int
conf_resolve_defaults(struct conf_reader *r)
{
	char tmp[CONF_PATH_MAX];
	size_t i;

	for (i = 0; i < NKEYS; i++) {
		const struct conf_key *k = &conf_keys[i];
		char *field = (char *)r->c + k->off;

		if (k->type != CT_PATH || r->seen[i] != 0 || field[0] == '/')
			continue;
		if (path_resolve(r->dir, field, tmp, sizeof(tmp)) == -1 ||
		    strlcpy_ok(field, tmp, k->size) == -1)
			return conf_error(r, 0, "%s: path too long", k->name);
	}
	return 0;
}

/* Checks across keys, once the whole file is read. */
static int
conf_validate(struct conf_reader *r)
{
	struct conf *c = r->c;
	size_t i, j;

	if (!conf_valid_hostname(c->hostname))
		return conf_error(r, seen_line(r, "hostname"), "hostname: "
		    "\"%s\" (from gethostname) is not a valid host name; set "
		    "hostname", c->hostname);
	if ((c->tls_cert[0] == '\0') != (c->tls_key[0] == '\0'))
		return conf_error(r, c->tls_cert[0] != '\0' ?
		    seen_line(r, "tls_cert") : seen_line(r, "tls_key"),
		    "tls_cert and tls_key go together: set both or neither");
	if (strcmp(c->user, c->queue_user) == 0)
		return conf_error(r, seen_line(r, "queue_user"), "user and "
		    "queue_user must differ (workers must not write the "
		    "spool)");
	if (c->dns_cache_min_ttl > c->dns_cache_max_ttl)
		return conf_error(r, seen_line(r, "dns_cache_min_ttl"),
		    "dns_cache_min_ttl is longer than dns_cache_max_ttl");
	if (c->retry_min > c->retry_max)
		return conf_error(r, seen_line(r, "retry_min"), "retry_min is "
		    "longer than retry_max");
	if (c->greylist_window <= c->greylist_delay)
		return conf_error(r, seen_line(r, "greylist_window"),
		    "greylist_window must be longer than greylist_delay (or "
		    "no retry could ever pass)");
	if (c->block_time > c->block_time_max)
		return conf_error(r, seen_line(r, "block_time"), "block_time "
		    "is longer than block_time_max");
	if (strlen(c->control_socket) >=
	    sizeof(((struct sockaddr_un *)0)->sun_path))
		return conf_error(r, seen_line(r, "control_socket"),
		    "control_socket: %s is longer than a socket path may "
		    "be (%zu bytes)", c->control_socket,
		    sizeof(((struct sockaddr_un *)0)->sun_path) - 1);
	if (c->chroot[0] == '\0' || c->spool[0] == '\0' ||
	    c->mail_root[0] == '\0')
		return conf_error(r, 0, "chroot, spool and mail_root may not "
		    "be empty");
	for (i = 0; i < c->nlisten; i++)
		for (j = i + 1; j < c->nlisten; j++)
			if (strcmp(c->listen[i].text, c->listen[j].text) == 0)
				return conf_error(r, seen_line(r, "listen"),
				    "listen: %s given twice",
				    c->listen[i].text);
	return 0;
}

int
conf_load(struct conf *out, const char *path, char *err, size_t errsize)
{
	struct conf_reader r;
	FILE *fp;
	int rc;

	memset(&r, 0, sizeof(r));
	r.path = path;
	r.err = err;
	r.errsize = errsize;
	if ((r.c = malloc(sizeof(*r.c))) == NULL)
		return conf_error(&r, 0, "%s", strerror(errno));
	conf_defaults(r.c);
	if (conf_folder(path, r.dir, sizeof(r.dir), r.c->file,
	    sizeof(r.c->file)) == -1 || (fp = fopen(path, "re")) == NULL) {
		rc = conf_error(&r, 0, "%s", strerror(errno));
		free(r.c);
		return rc;
	}
	rc = conf_read(&r, fp);
	(void)fclose(fp);
	if (rc == 0)
		rc = conf_resolve_defaults(&r);
	if (rc == 0)
		rc = conf_validate(&r);
	if (rc == 0)
		*out = *r.c;
	free(r.c);
	return rc;
}

/* ---- map names ---- */

const char *
map_name(enum map_id id)
{
	if ((unsigned)id >= MAP_COUNT)
		return "?";
	return map_names[id];
}

int
map_byname(const char *name)
{
	int i;

	for (i = 0; i < MAP_COUNT; i++)
		if (strcmp(map_names[i], name) == 0)
			return i;
	return -1;
}
