/*
 * map_compile: turn a text map into FILE.cdb (see map.h for the format).
 *
 * The compiler is strict because a map that compiles is trusted by the
 * daemon: a duplicate key (which entry wins?), a line it cannot parse, an
 * access-map network with host bits set (did the admin mean /24 or the
 * host?), a value with control bytes (it may end up in an SMTP reply) or
 * a value the map's kind does not accept (the caller's map_value_check:
 * moatctl knows that an access map says OK or REJECT) stops the compile
 * with "file:line: message" and leaves the installed cdb alone.
 *
 * Installing is two steps so that a caller can look at the result before
 * it goes live (moatctl's guard against a recipient map that lost most of
 * its entries): map_compile_tmp writes and fsyncs FILE.cdb.tmp (created
 * with O_EXCL after removing a stale one), then map_install renames it
 * over FILE.cdb and fsyncs the folder, so a crash leaves either the old
 * map or the new one, never a torn file.  map_compile does both.
 *
 * Duplicates are caught by tinycdb (CDB_PUT_INSERT); the first line of
 * the duplicated key is found by reading the file again, which only
 * happens on that error.
 */
#include <sys/types.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <netinet/in.h>
#include <arpa/inet.h>

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cdb.h>

#include "map.h"
#include "../smtpd/buf.h"

#define MAP_LINE_MAX	(MAP_KEY_MAX + MAP_VALUE_MAX + 64)
#define MAP_PATHBUF	4096

struct mapc {
	const char	*path;		/* the text file */
	int		 keep_case;
	int		 cidr;
	map_value_check	 check;
	unsigned	 line;
	char		*err;
	size_t		 errsize;
};

/* One parsed line: key normalised, value pointing into the line. */
struct mapc_entry {
	char		 key[MAP_KEY_MAX];
	const char	*val;
	size_t		 vlen;
};

static int
mapc_error(struct mapc *c, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static int
mapc_error(struct mapc *c, const char *fmt, ...)
{
	char msg[MAP_KEY_MAX + 256];
	va_list ap;

	va_start(ap, fmt);
	(void)vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (c->line > 0)
		(void)snprintf(c->err, c->errsize, "%s:%u: %s", c->path,
		    c->line, msg);
	else
		(void)snprintf(c->err, c->errsize, "%s: %s", c->path, msg);
	return -1;
}

static void
lower(char *s)
{
	for (; *s != '\0'; s++)
		if (*s >= 'A' && *s <= 'Z')
			*s = (char)(*s - 'A' + 'a');
}

static int
is_space(char c)
{
	return c == ' ' || c == '\t';
}

/*
 * An access-map key: an address, or a network "ADDR/LEN" whose host bits
 * are zero.  Stored as map_addr_key writes it, which is what lookups ask.
 */
static int
mapc_cidr(struct mapc *c, char *key, size_t keysize)
{
	struct sockaddr_storage ss;
	struct sockaddr_in *sin = (struct sockaddr_in *)&ss;
	struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&ss;
	char given[MAP_KEY_MAX], exact[MAP_KEY_MAX], *slash, *end;
	unsigned long len;
	unsigned max;

	(void)strlcpy_ok(given, key, sizeof(given));
	memset(&ss, 0, sizeof(ss));
	if ((slash = strchr(key, '/')) != NULL)
		*slash++ = '\0';
	if (inet_pton(AF_INET, key, &sin->sin_addr) == 1) {
		ss.ss_family = AF_INET;
		max = 32;
	} else if (inet_pton(AF_INET6, key, &sin6->sin6_addr) == 1) {
		ss.ss_family = AF_INET6;
		max = 128;
	} else {
		return mapc_error(c, "\"%s\" is not an IP address or network",
		    given);
	}
	len = max;
	if (slash != NULL) {
		errno = 0;
		len = strtoul(slash, &end, 10);
		if (*slash < '0' || *slash > '9' || *end != '\0' ||
		    errno != 0 || len > max)
			return mapc_error(c, "bad prefix length in \"%s\"",
			    given);
	}
	/* the key without the host bits, and the key with all the bits */
	if (map_addr_key((struct sockaddr *)&ss, (unsigned)len, key,
	    keysize) == -1 || map_addr_key((struct sockaddr *)&ss, max, exact,
	    sizeof(exact)) == -1)
		return mapc_error(c, "cannot store \"%s\"", given);
	/* host bits set: the network address differs from the one given */
	if (len < max) {
		char net[MAP_KEY_MAX];

		(void)strlcpy_ok(net, key, sizeof(net));
		if ((slash = strchr(net, '/')) != NULL)
			*slash = '\0';
		if (strcmp(net, exact) != 0)
			return mapc_error(c, "host bits set in \"%s\" (the "
			    "network is %s)", given, key);
	}
	return 0;
}

/*
 * Case: keys are lower case, except that a recipients map with
 * case-sensitive local parts keeps the part before the last '@'.
 */
static void
mapc_fold(const struct mapc *c, char *key)
{
	char *at;

	if (!c->keep_case)
		lower(key);
	else if ((at = strrchr(key, '@')) != NULL)
		lower(at + 1);
}

static int
mapc_check_bytes(struct mapc *c, const char *what, const char *s, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		unsigned char ch = (unsigned char)s[i];

		if ((ch < 0x20 && ch != '\t') || ch == 0x7f)
			return mapc_error(c, "control character 0x%02x in %s",
			    ch, what);
	}
	return 0;
}

/* Parse one line.  1: an entry; 0: blank or comment; -1: error. */
static int
mapc_parse(struct mapc *c, char *line, size_t n, struct mapc_entry *e)
{
	char why[256], *p, *k, *v, *end;
	size_t klen;

	if (n > MAP_LINE_MAX)
		return mapc_error(c, "line longer than %d bytes",
		    MAP_LINE_MAX);
	if (memchr(line, '\0', n) != NULL)
		return mapc_error(c, "NUL byte");
	end = line + n;
	while (end > line && (end[-1] == '\n' || end[-1] == '\r' ||
	    is_space(end[-1])))
		*--end = '\0';
	for (p = line; is_space(*p); p++)
		;
	if (*p == '\0' || *p == '#')
		return 0;
	for (k = p; *p != '\0' && !is_space(*p); p++)
		;
	klen = (size_t)(p - k);
	for (v = p; is_space(*v); v++)
		;
	if (klen >= MAP_KEY_MAX)
		return mapc_error(c, "key longer than %d bytes",
		    MAP_KEY_MAX - 1);
	if ((e->vlen = (size_t)(end - v)) >= MAP_VALUE_MAX)
		return mapc_error(c, "value longer than %d bytes",
		    MAP_VALUE_MAX - 1);
	memcpy(e->key, k, klen);
	e->key[klen] = '\0';
	e->val = v;
	if (mapc_check_bytes(c, "key", e->key, klen) == -1 ||
	    mapc_check_bytes(c, "value", e->val, e->vlen) == -1)
		return -1;
	if (c->check != NULL && c->check(e->val, why, sizeof(why)) == -1)
		return mapc_error(c, "%s: bad value \"%s\": %s", e->key,
		    e->val, why);
	if (c->cidr)
		return mapc_cidr(c, e->key, sizeof(e->key)) == -1 ? -1 : 1;
	mapc_fold(c, e->key);
	return 1;
}

/* The line where key first appears (it is there: tinycdb said so). */
static unsigned
mapc_first_line(const struct mapc *orig, const char *key)
{
	struct mapc c = *orig;
	struct mapc_entry e;
	char *line = NULL, scratch[16];
	size_t cap = 0;
	ssize_t n;
	unsigned found = 0;
	FILE *fp;

	c.err = scratch;
	c.errsize = sizeof(scratch);
	c.line = 0;
	if ((fp = fopen(c.path, "re")) == NULL)
		return 0;
	while (found == 0 && (n = getline(&line, &cap, fp)) != -1) {
		c.line++;
		if (mapc_parse(&c, line, (size_t)n, &e) == 1 &&
		    strcmp(e.key, key) == 0)
			found = c.line;
	}
	free(line);
	(void)fclose(fp);
	return found;
}

static int
mapc_put(struct mapc *c, struct cdb_make *cm, const struct mapc_entry *e)
{
	unsigned first;
	int r;

	r = cdb_make_put(cm, e->key, (unsigned)strlen(e->key), e->val,
	    (unsigned)e->vlen, CDB_PUT_INSERT);
	if (r == -1)
		return mapc_error(c, "cannot add the entry: %s",
		    strerror(errno));
	if (r == 1) {
		if ((first = mapc_first_line(c, e->key)) != 0 &&
		    first != c->line)
			return mapc_error(c, "duplicate key %s (first at line "
			    "%u)", e->key, first);
		return mapc_error(c, "duplicate key %s", e->key);
	}
	return 0;
}

/* Read every line of fp into cm. */
static int
mapc_read(struct mapc *c, FILE *fp, struct cdb_make *cm, unsigned *count)
{
	struct mapc_entry e;
	char *line = NULL;
	size_t cap = 0;
	ssize_t n;
	int rc = 0, r;

	*count = 0;
	while ((n = getline(&line, &cap, fp)) != -1) {
		c->line++;
		if ((r = mapc_parse(c, line, (size_t)n, &e)) == 0)
			continue;
		if (r == -1 || (rc = mapc_put(c, cm, &e)) == -1) {
			rc = -1;
			break;
		}
		(*count)++;
	}
	if (rc == 0 && ferror(fp)) {
		c->line = 0;
		rc = mapc_error(c, "read error: %s", strerror(errno));
	}
	free(line);
	return rc;
}

static int
tmp_path(const char *textfile, char *out, size_t outsize)
{
	int n = snprintf(out, outsize, "%s.cdb.tmp", textfile);

	if (n < 0 || (size_t)n >= outsize) {
		errno = ENAMETOOLONG;
		return -1;
	}
	return 0;
}

/* Create FILE.cdb.tmp afresh: a stale one from a crash is removed. */
static int
mapc_create(struct mapc *c, const char *tmp)
{
	int fd;

	if (unlink(tmp) == -1 && errno != ENOENT)
		return mapc_error(c, "%s: %s", tmp, strerror(errno));
	/* O_RDWR: tinycdb reads keys back to detect duplicates */
	fd = open(tmp, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW,
	    0644);
	if (fd == -1)
		return mapc_error(c, "%s: %s", tmp, strerror(errno));
	/* readable by the daemon's users whatever the umask */
	if (fchmod(fd, 0644) == -1) {
		(void)mapc_error(c, "%s: %s", tmp, strerror(errno));
		(void)close(fd);
		(void)unlink(tmp);
		return -1;
	}
	return fd;
}

int
map_compile_tmp(const char *textfile, int keep_case, int cidr,
    map_value_check check, unsigned *nrecords, char *err, size_t errsize)
{
	struct mapc c = { textfile, keep_case, cidr, check, 0, err, errsize };
	struct cdb_make cm;
	char tmp[MAP_PATHBUF];
	unsigned count = 0;
	FILE *fp;
	int fd, rc;

	if (tmp_path(textfile, tmp, sizeof(tmp)) == -1)
		return mapc_error(&c, "%s", strerror(errno));
	if ((fp = fopen(textfile, "re")) == NULL)
		return mapc_error(&c, "%s", strerror(errno));
	if ((fd = mapc_create(&c, tmp)) == -1) {
		(void)fclose(fp);
		return -1;
	}
	(void)cdb_make_start(&cm, fd);
	rc = mapc_read(&c, fp, &cm, &count);
	(void)fclose(fp);
	/* finish even after an error: it frees tinycdb's record lists */
	if (cdb_make_finish(&cm) == -1 && rc == 0)
		rc = mapc_error(&c, "%s: %s", tmp, strerror(errno));
	if (rc == 0 && fsync(fd) == -1)
		rc = mapc_error(&c, "%s: fsync: %s", tmp, strerror(errno));
	if (close(fd) == -1 && rc == 0)
		rc = mapc_error(&c, "%s: %s", tmp, strerror(errno));
	if (rc == -1) {
		(void)unlink(tmp);
		return -1;
	}
	if (nrecords != NULL)
		*nrecords = count;
	return 0;
}

/* fsync the folder holding path, so a rename in it is durable. */
static int
fsync_folder(const char *path)
{
	char dir[MAP_PATHBUF];
	char *slash;
	int fd, rc, saved;

	if (strlcpy_ok(dir, path, sizeof(dir)) == -1) {
		errno = ENAMETOOLONG;
		return -1;
	}
	if ((slash = strrchr(dir, '/')) == NULL)
		(void)strlcpy_ok(dir, ".", sizeof(dir));
	else
		slash[slash == dir ? 1 : 0] = '\0';
	if ((fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) == -1)
		return -1;
	rc = fsync(fd);
	saved = errno;
	(void)close(fd);
	errno = saved;
	return rc;
}

int
map_install(const char *textfile, char *err, size_t errsize)
{
	struct mapc c = { textfile, 0, 0, NULL, 0, err, errsize };
	char tmp[MAP_PATHBUF], cdb[MAP_PATHBUF];

	if (tmp_path(textfile, tmp, sizeof(tmp)) == -1 ||
	    map_cdb_path(textfile, cdb, sizeof(cdb)) == -1)
		return mapc_error(&c, "%s", strerror(errno));
	if (rename(tmp, cdb) == -1)
		return mapc_error(&c, "rename %s to %s: %s", tmp, cdb,
		    strerror(errno));
	if (fsync_folder(cdb) == -1)
		return mapc_error(&c, "fsync of the folder of %s: %s", cdb,
		    strerror(errno));
	return 0;
}

void
map_discard(const char *textfile)
{
	char tmp[MAP_PATHBUF];

	if (tmp_path(textfile, tmp, sizeof(tmp)) == 0)
		(void)unlink(tmp);
}

int
map_compile(const char *textfile, int keep_case, int cidr,
    unsigned *nrecords, char *err, size_t errsize)
{
	if (map_compile_tmp(textfile, keep_case, cidr, NULL, nrecords, err,
	    errsize) == -1)
		return -1;
	if (map_install(textfile, err, errsize) == -1) {
		map_discard(textfile);
		return -1;
	}
	return 0;
}
