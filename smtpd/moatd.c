/*
 * moatd: the moat SMTP daemon.
 *
 *	moatd [-d] [-n] [-f file]
 *
 * -f names the config (default /etc/moat/moat.conf), -d keeps moatd in
 * the foreground logging to stderr, -n checks the config (and what it
 * names: maps, TLS files, users), prints the effective settings and exits
 * non-zero on any error.
 */
#include <sys/stat.h>

#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../dnsbl/dynptr.h"
#include "../conf/conf.h"
#include "../conf/map.h"
#include "log.h"
#include "parent.h"
#include "privdrop.h"
#include "smtp.h"

#define DEFAULT_CONF	"/etc/moat/moat.conf"

static void
usage(void)
{
	fprintf(stderr, "usage: moatd [-d] [-n] [-f file]\n");
	exit(2);
}

/* What -n checks beyond the syntax: 0 fine, else the number of problems. */
static int
check_setup(const struct conf *conf)
{
	char path[CONF_PATH_MAX + 8], err[256];
	struct priv_id id;
	struct map m;
	SSL_CTX *ctx;
	int i, bad = 0;

	for (i = 0; i < MAP_COUNT; i++) {
		if (conf->maps[i][0] == '\0')
			continue;
		if (map_cdb_path(conf->maps[i], path, sizeof(path)) == -1)
			continue;
		memset(&m, 0, sizeof(m));
		if (map_open_path(&m, path) == -1) {
			fprintf(stderr, "%s:%u: map %s: cannot read %s (run "
			    "moatctl makemap %s)\n", conf->file,
			    conf->map_line[i], map_name(i), path, map_name(i));
			bad++;
		}
		map_close(&m);
	}
	ctx = tls_server_ctx(conf, err, sizeof(err));
	if (ctx == NULL && err[0] != '\0') {
		fprintf(stderr, "%s:%u: %s\n", conf->file, conf->tls_line, err);
		bad++;
	}
	if (ctx != NULL)
		SSL_CTX_free(ctx);
	if (conf->dynamic_ptr[0] != '\0') {
		if (dynptr_load(conf->dynamic_ptr, err, sizeof(err)) == -1) {
			fprintf(stderr, "%s: dynamic_ptr: %s\n", conf->file,
			    err);
			bad++;
		}
		dynptr_free();
	}
	if (priv_lookup(conf->user, &id, err, sizeof(err)) == -1 ||
	    priv_lookup(conf->queue_user, &id, err, sizeof(err)) == -1) {
		fprintf(stderr, "%s: %s\n", conf->file, err);
		bad++;
	}
	return bad;
}

static void
daemonize(void)
{
	int fd;

	if (daemon(0, 0) == -1)
		fatal("daemon");
	if ((fd = open("/dev/null", O_RDWR)) != -1 && fd > 2)
		close(fd);
}

int
main(int argc, char *argv[])
{
	static struct conf conf;
	static char abspath[CONF_PATH_MAX];
	const char *path = DEFAULT_CONF;
	char err[512];
	int ch, fg = 0, check = 0;

	while ((ch = getopt(argc, argv, "df:n")) != -1) {
		switch (ch) {
		case 'd':
			fg = 1;
			break;
		case 'f':
			path = optarg;
			break;
		case 'n':
			check = 1;
			break;
		default:
			usage();
		}
	}
	if (optind != argc)
		usage();
	umask(077);
	if (realpath(path, abspath) != NULL)
		path = abspath;		/* SIGHUP re-reads it after chdir("/") */
	if (conf_load(&conf, path, err, sizeof(err)) == -1) {
		fprintf(stderr, "moatd: %s\n", err);
		return 1;
	}
	if (check) {
		conf_print(&conf, stdout);
		return check_setup(&conf) ? 1 : 0;
	}
	log_init("moatd", fg);
	if (!fg)
		daemonize();
	parent_run(&conf, path);
}
