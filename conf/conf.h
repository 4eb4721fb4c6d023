/*
 * conf: moat.conf, a closed, typed set of "key = value" settings.
 *
 * Each key has one type (string, path, bool, count, size, duration, enum,
 * listen address, or a repeatable list of those), a default and a
 * documented meaning (conf/moat.conf.5.md).  Paths are resolved relative
 * to the folder of the file that names them.  An unknown key, a bad value
 * or a repeated non-list key is an error naming the file and line.
 */
#ifndef MOAT_CONF_H
#define MOAT_CONF_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/socket.h>

#define CONF_PATH_MAX		1024
#define CONF_NAME_MAX		256
#define CONF_LISTEN_MAX		16
#define CONF_RESOLVER_MAX	8
#define CONF_ZONE_MAX		32
#define DNS_CODES_MAX		16
#define DNS_TEXT_MAX		200
#define CONF_FILTER_MAX		16
#define CONF_FILTER_ARGS	16
#define CONF_FILTER_NAME_MAX	32

enum bare_lf_policy { BARE_LF_REJECT, BARE_LF_NORMALIZE };

struct listen_addr {
	struct sockaddr_storage	ss;
	socklen_t		sslen;
	char			text[64];	/* as written, for logs */
};

/* DNS policy (conf_dns.c, dnsbl/). */
enum dns_zone_kind { ZONE_DNSBL, ZONE_DNSWL, ZONE_RHSBL };
enum reverse_dns_policy { RDNS_OFF, RDNS_REQUIRE_PTR, RDNS_REQUIRE_FCRDNS };
enum dns_miss_action { DNS_MISS_TEMPFAIL, DNS_MISS_REJECT };
enum sender_domain_policy { SENDER_DOMAIN_OFF, SENDER_DOMAIN_RESOLVABLE };
enum greylist_key { GREYLIST_KEY_NETWORK, GREYLIST_KEY_PTR_DOMAIN };
enum rate_action { RATE_REJECT, RATE_DROP };
enum filter_failure { FILTER_FAIL_TEMPFAIL, FILTER_FAIL_ACCEPT };

/* filter = NAME PATH [ARG...] (conf_filter.c) */
struct conf_filter {
	char	name[CONF_FILTER_NAME_MAX];
	char	path[CONF_PATH_MAX];
	char	args[1024];		/* each NUL-terminated, in order */
	size_t	argslen;
	unsigned nargs;
};

/* "N/PERIOD": at most n events per period seconds; n 0: no limit. */
struct conf_rate {
	unsigned	n;
	unsigned	period;
};
enum dns_action { DNS_ENFORCE, DNS_LOG };

struct dns_code {
	uint32_t	lo, hi;		/* 127.x.y.z, host byte order */
};

struct dns_zone {
	enum dns_zone_kind kind;
	char		zone[256];
	struct dns_code	codes[DNS_CODES_MAX];	/* none: any listing */
	size_t		ncodes;
	int		weight;			/* dnswl: negative */
	char		text[DNS_TEXT_MAX];	/* reply text, "" default */
};

/* Maps the daemon reads; each is FILE, read as FILE.cdb. */
enum map_id {
	MAP_DOMAINS,
	MAP_RECIPIENTS,
	MAP_ACCESS,
	MAP_HELO,
	MAP_SENDERS,
	MAP_GREYLIST_ALLOW,
	MAP_COUNT
};

struct conf {
	char	file[CONF_PATH_MAX];		/* the file read */
	char	hostname[CONF_NAME_MAX];	/* our name: banner, Received */
	struct listen_addr listen[CONF_LISTEN_MAX];
	size_t	nlisten;
	struct listen_addr metrics_listen;	/* sslen 0: none */
	unsigned workers;			/* 0: number of CPUs */

	char	user[64];			/* smtp workers */
	char	queue_user[64];			/* queue process */
	char	chroot[CONF_PATH_MAX];		/* workers' jail (empty dir) */
	char	spool[CONF_PATH_MAX];
	char	mail_root[CONF_PATH_MAX];	/* relative maildir targets */
	char	pidfile[CONF_PATH_MAX];		/* "" = none */
	char	control_socket[CONF_PATH_MAX];	/* moatctl's socket, "" = none */

	char	maps[MAP_COUNT][CONF_PATH_MAX];	/* "" = map not used */
	unsigned map_line[MAP_COUNT];		/* where each was set, 0 */

	char	tls_cert[CONF_PATH_MAX];	/* "" = no STARTTLS */
	char	tls_key[CONF_PATH_MAX];
	unsigned tls_line;			/* line of tls_cert, 0 */

	int	delay_reject;			/* bool, default yes */
	int	local_part_fold;		/* bool: case-insensitive */
	enum bare_lf_policy bare_lf;

	/* limits: each tested at the limit and one past it */
	size_t	max_line;			/* command line, with CRLF */
	uint64_t max_message_size;
	unsigned max_recipients;
	unsigned max_bad_commands;
	unsigned max_commands;			/* per session */
	unsigned max_sessions;			/* in total, all workers */
	unsigned max_sessions_per_ip;
	unsigned max_hops;			/* Received: headers */
	unsigned command_timeout;		/* seconds */
	unsigned data_timeout;			/* seconds between DATA reads */
	unsigned session_timeout;		/* whole session, seconds */
	unsigned tls_timeout;			/* handshake, seconds */
	unsigned shutdown_timeout;		/* drain on SIGTERM, seconds */
	uint64_t min_free_space;		/* spool floor, bytes */

	/* DNS policy */
	struct listen_addr resolver[CONF_RESOLVER_MAX];	/* none: resolv.conf */
	size_t	nresolver;
	struct dns_zone zones[CONF_ZONE_MAX];	/* every kind, in file order */
	size_t	nzones;
	unsigned dnsbl_threshold;
	unsigned dnsbl_timeout;			/* seconds, per connection */
	unsigned dnsbl_probe_interval;		/* seconds */
	int	reverse_dns;			/* enum reverse_dns_policy */
	int	reverse_dns_action;		/* enum dns_miss_action */
	char	dynamic_ptr[CONF_PATH_MAX];	/* pattern file, "" = off */
	int	sender_domain;			/* enum sender_domain_policy */
	int	dns_action;			/* enum dns_action */
	unsigned dns_cache_min_ttl;		/* seconds */
	unsigned dns_cache_max_ttl;

	/* greylisting (greylist/) */
	int	greylist;			/* on/off */
	char	state_db[CONF_PATH_MAX];	/* the LMDB folder */
	uint64_t state_db_size;			/* its map size, bytes */
	unsigned greylist_delay;		/* seconds */
	unsigned greylist_window;
	unsigned greylist_expire;
	unsigned greylist_awl;			/* passes; 0: no AWL */
	unsigned greylist_early_max;
	unsigned greylist_net4;			/* prefix lengths */
	unsigned greylist_net6;
	int	greylist_key;			/* enum greylist_key */

	/* rate limits, per client address (IPv6: per rate_net6 prefix) */
	struct conf_rate conn_rate;
	struct conf_rate msg_rate;
	struct conf_rate rcpt_rate;
	unsigned msgs_per_conn;			/* 0: no limit */
	unsigned rcpt_errors_per_conn;
	unsigned rate_net6;
	int	rate_action;			/* enum rate_action */
	unsigned greet_delay;			/* seconds before the full banner */

	/* the block list (greylist/blocks.c) */
	unsigned block_threshold;		/* 0: never block */
	unsigned block_time;			/* seconds */
	unsigned block_time_max;
	int	block_action;			/* enum rate_action */
	unsigned block_weight[6];		/* per enum block_event */

	/* filters (filters/), run in order on each message */
	struct conf_filter filters[CONF_FILTER_MAX];
	size_t	nfilters;
	char	filter_user[64];
	unsigned filter_timeout;		/* seconds, per filter */
	int	filter_failure;			/* enum filter_failure */
	unsigned filter_max_procs;		/* filters running at once */

	/* queue */
	char	delivery[CONF_PATH_MAX];	/* default target, "" none */
	unsigned lmtp_timeout;			/* seconds, per LMTP step */
	unsigned retry_min;			/* seconds */
	unsigned retry_max;			/* seconds */
	unsigned queue_lifetime;		/* seconds */
};

/* Fill defaults (every key's documented default). */
void	conf_defaults(struct conf *);
/*
 * Read a config file over the defaults (conf_load starts from
 * conf_defaults itself) and validate the result.  0 on success.  On error
 * returns -1, puts "FILE:LINE: message" in err and leaves *conf untouched,
 * so a reload can keep the settings it runs with.
 */
int	conf_load(struct conf *, const char *path, char *err, size_t errsize);
/* Print the effective settings, one "key = value" a line. */
void	conf_print(const struct conf *, FILE *);

/* Value parsers, exposed for unit tests. */
int	conf_parse_size(const char *, uint64_t *);	/* 25M, 100k, 123 */
int	conf_parse_duration(const char *, unsigned *);	/* 30s 5m 1h 2d */
int	conf_parse_bool(const char *, int *);		/* yes/no/on/off/true/false/1/0 */
/*
 * "1.2.3.4:25", "[::1]:25", or "*:25" for both wildcards.  Returns the
 * number of addresses written to out (1, or 2 for "*": 0.0.0.0 then ::),
 * or -1.  out must have room for 2.
 */
int	conf_parse_listen(const char *, struct listen_addr *out);
/* metrics_listen: "" (none), PORT (on 127.0.0.1), or one ADDR:PORT.
 * 0 or -1. */
int	conf_parse_metrics_listen(const char *, struct listen_addr *out);
/* conf_dns.c: "ZONE[=CODES][*WEIGHT] [TEXT]"; 0, or -1 with msg. */
int	conf_parse_zone(const char *, enum dns_zone_kind, struct dns_zone *,
	    char *msg, size_t msgsize);
void	conf_fmt_zone(const struct dns_zone *, char *out, size_t outsize);
/* conf_filter.c: "NAME PATH [ARG...]"; 0, or -1 with msg. */
int	conf_parse_filter(const char *, struct conf_filter *, char *msg,
	    size_t msgsize);
void	conf_fmt_filter(const struct conf_filter *, char *out, size_t outsize);
/* "ADDR", "ADDR:PORT" or "[ADDR6]:PORT"; text becomes "ADDR:PORT". */
int	conf_parse_resolver(const char *, struct listen_addr *out);

/* The config key naming a map ("domains", ...); map_byname: -1 if none. */
const char *map_name(enum map_id);
int	map_byname(const char *);

#endif
