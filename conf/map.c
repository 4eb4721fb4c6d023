/*
 * map: read-only lookups in a compiled cdb map (see map.h).
 *
 * A cdb is untrusted input even though we wrote it: a disk error, a
 * half-copied file or a hand-made cdb must give "not found" or an error,
 * never a read out of bounds.  map_open_fd therefore walks the whole
 * index once (every hash table inside the file, every record's key and
 * value inside the data) before the map is used, and tinycdb checks the
 * bounds again on every cdb_find.  A value with a NUL byte in it cannot
 * come from the compiler and is treated as corruption.
 *
 * Hazard: tinycdb mmaps the file.  An installed cdb must never be
 * rewritten or truncated in place (that would SIGBUS every reader); it is
 * only ever replaced by rename, which is what the compiler does.  A
 * reader notices the replacement with map_replaced(): the inode it holds
 * has no name left.
 *
 * Lookups do no case folding except map_get_domain (domains are case
 * insensitive everywhere); map_get compares bytes as given.
 */
#include <sys/types.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <netinet/in.h>
#include <arpa/inet.h>

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <cdb.h>

#include "map.h"
#include "../smtpd/buf.h"

#define CDB_TOC_SIZE	2048

/* Bytes at pos..pos+len of the cdb, or NULL when outside the file. */
static const unsigned char *
cdb_bytes(const struct cdb *cdb, uint64_t pos, uint64_t len)
{
	if (pos > UINT32_MAX || len > UINT32_MAX)
		return NULL;
	return cdb_get(cdb, (unsigned)len, (unsigned)pos);
}

/*
 * Check one hash table and every record it points to; add the records
 * to *count.  Positions are 32-bit in the format, sums are done in 64.
 */
static int
map_check_table(const struct cdb *cdb, unsigned pos, unsigned slots,
    unsigned *count)
{
	const unsigned char *tab, *rec;
	unsigned i, rpos, klen, vlen;

	if (slots == 0)
		return 0;
	if (pos < CDB_TOC_SIZE ||
	    (tab = cdb_bytes(cdb, pos, (uint64_t)slots * 8)) == NULL)
		return -1;
	for (i = 0; i < slots; i++) {
		if ((rpos = cdb_unpack(tab + 8 * (size_t)i + 4)) == 0)
			continue;
		if (rpos < CDB_TOC_SIZE || (rec = cdb_bytes(cdb, rpos, 8)) == NULL)
			return -1;
		klen = cdb_unpack(rec);
		vlen = cdb_unpack(rec + 4);
		if (cdb_bytes(cdb, (uint64_t)rpos + 8,
		    (uint64_t)klen + vlen) == NULL)
			return -1;
		if (*count == UINT32_MAX)
			return -1;
		(*count)++;
	}
	return 0;
}

/* Validate the index and count the records it holds. */
static int
map_check(const struct cdb *cdb, unsigned *count)
{
	const unsigned char *toc;
	unsigned t;

	*count = 0;
	if ((toc = cdb_bytes(cdb, 0, CDB_TOC_SIZE)) == NULL)
		return -1;
	for (t = 0; t < 256; t++) {
		if (map_check_table(cdb, cdb_unpack(toc + 8 * t),
		    cdb_unpack(toc + 8 * t + 4), count) == -1)
			return -1;
	}
	return 0;
}

int
map_open_fd(struct map *m, int fd)
{
	struct stat st;
	unsigned count;
	int saved;

	memset(m, 0, sizeof(*m));
	m->fd = -1;
	if (fstat(fd, &st) == -1)
		goto fail;
	if (!S_ISREG(st.st_mode)) {
		errno = EINVAL;
		goto fail;
	}
	if ((uint64_t)st.st_size > UINT32_MAX) {
		errno = EFBIG;
		goto fail;
	}
	/* cdb_init refuses a file shorter than the table of contents */
	if (cdb_init(&m->cdb, fd) == -1)
		goto fail;
	if (map_check(&m->cdb, &count) == -1) {
		cdb_free(&m->cdb);
		errno = EPROTO;
		goto fail;
	}
	m->open = 1;
	m->fd = fd;
	m->nrecords = count;
	return 0;
fail:
	saved = errno;
	(void)close(fd);
	errno = saved;
	return -1;
}

int
map_open_path(struct map *m, const char *cdbpath)
{
	int fd;

	if ((fd = open(cdbpath, O_RDONLY | O_CLOEXEC | O_NOCTTY)) == -1) {
		memset(m, 0, sizeof(*m));
		m->fd = -1;
		return -1;
	}
	return map_open_fd(m, fd);
}

void
map_close(struct map *m)
{
	if (m->open) {
		cdb_free(&m->cdb);
		(void)close(m->fd);
	}
	memset(m, 0, sizeof(*m));
	m->fd = -1;
}

int
map_replaced(const struct map *m)
{
	struct stat st;

	if (!m->open)
		return 0;
	if (fstat(m->fd, &st) == -1)
		return -1;
	return st.st_nlink == 0;
}

int
map_get(struct map *m, const char *key, char *val, size_t valsize)
{
	size_t klen = strlen(key);
	unsigned vlen;
	int r;

	if (!m->open || klen == 0 || klen >= MAP_KEY_MAX)
		return 0;
	if ((r = cdb_find(&m->cdb, key, (unsigned)klen)) <= 0)
		return r;
	if (val == NULL)
		return 1;
	vlen = cdb_datalen(&m->cdb);
	if (vlen >= valsize) {
		errno = EMSGSIZE;
		return -1;
	}
	if (cdb_read(&m->cdb, val, vlen, cdb_datapos(&m->cdb)) == -1)
		return -1;
	val[vlen] = '\0';
	if (memchr(val, '\0', vlen) != NULL) {
		errno = EPROTO;
		return -1;
	}
	return 1;
}

/* Copy the key that matched for the caller, when it wants it. */
static void
map_matched(char *matched, size_t matchedsize, const char *key)
{
	if (matched != NULL && matchedsize > 0)
		(void)strlcpy_ok(matched, key, matchedsize);
}

int
map_addr_key(const struct sockaddr *sa, unsigned prefixlen, char *key,
    size_t keysize)
{
	unsigned char a[16];
	char text[INET6_ADDRSTRLEN];
	unsigned i, alen, bits;
	int af, n;

	if (sa->sa_family == AF_INET) {
		af = AF_INET;
		alen = 4;
		memcpy(a, &((const struct sockaddr_in *)sa)->sin_addr, 4);
	} else if (sa->sa_family == AF_INET6) {
		const struct in6_addr *a6 =
		    &((const struct sockaddr_in6 *)sa)->sin6_addr;

		af = AF_INET6;
		alen = 16;
		memcpy(a, a6, 16);
		/* an IPv4 client seen through an IPv6 socket is IPv4 */
		if (IN6_IS_ADDR_V4MAPPED(a6) && prefixlen >= 96) {
			af = AF_INET;
			alen = 4;
			memmove(a, a + 12, 4);
			prefixlen -= 96;
		}
	} else {
		errno = EAFNOSUPPORT;
		return -1;
	}
	bits = alen * 8;
	if (prefixlen > bits) {
		errno = EINVAL;
		return -1;
	}
	for (i = 0; i < alen; i++) {
		if (i * 8 >= prefixlen)
			a[i] = 0;
		else if (i * 8 + 8 > prefixlen)
			a[i] &= (unsigned char)(0xff << (8 - (prefixlen - i * 8)));
	}
	if (inet_ntop(af, a, text, sizeof(text)) == NULL)
		return -1;
	if (prefixlen == bits)
		n = snprintf(key, keysize, "%s", text);
	else
		n = snprintf(key, keysize, "%s/%u", text, prefixlen);
	if (n < 0 || (size_t)n >= keysize) {
		errno = ENAMETOOLONG;
		return -1;
	}
	return 0;
}

int
map_get_addr(struct map *m, const struct sockaddr *sa, char *val,
    size_t valsize, char *matched, size_t matchedsize)
{
	struct sockaddr_in sin;
	char key[INET6_ADDRSTRLEN + 8];
	int len, r;

	if (sa->sa_family == AF_INET6 && IN6_IS_ADDR_V4MAPPED(
	    &((const struct sockaddr_in6 *)sa)->sin6_addr)) {
		memset(&sin, 0, sizeof(sin));
		sin.sin_family = AF_INET;
		memcpy(&sin.sin_addr,
		    (const unsigned char *)&((const struct sockaddr_in6 *)sa)->
		    sin6_addr + 12, 4);
		sa = (const struct sockaddr *)&sin;
	}
	if (sa->sa_family != AF_INET && sa->sa_family != AF_INET6)
		return 0;
	for (len = sa->sa_family == AF_INET ? 32 : 128; len >= 0; len--) {
		if (map_addr_key(sa, (unsigned)len, key, sizeof(key)) == -1)
			return -1;
		if ((r = map_get(m, key, val, valsize)) != 0) {
			if (r == 1)
				map_matched(matched, matchedsize, key);
			return r;
		}
	}
	return 0;
}

int
map_get_domain(struct map *m, const char *domain, char *val,
    size_t valsize, char *matched, size_t matchedsize)
{
	char key[MAP_KEY_MAX];
	size_t len, i;
	int r;

	if ((len = strlen(domain)) >= sizeof(key))
		return 0;
	for (i = 0; i < len; i++) {
		char c = domain[i];

		key[i] = c >= 'A' && c <= 'Z' ? (char)(c - 'A' + 'a') : c;
	}
	if (len > 1 && key[len - 1] == '.')	/* the root is implied */
		len--;
	key[len] = '\0';
	if (len == 0)
		return 0;
	if ((r = map_get(m, key, val, valsize)) != 0)
		goto done;
	if (key[0] == '[')	/* an address literal has no parents */
		return 0;
	for (i = 1; i < len; i++) {
		if (key[i] != '.' || i + 1 == len)
			continue;
		if ((r = map_get(m, key + i, val, valsize)) != 0) {
			if (r == 1)
				map_matched(matched, matchedsize, key + i);
			return r;
		}
	}
	return 0;
done:
	if (r == 1)
		map_matched(matched, matchedsize, key);
	return r;
}

long
map_count_path(const char *cdbpath)
{
	struct map m;
	long n;

	if (map_open_path(&m, cdbpath) == -1)
		return -1;
	n = (long)m.nrecords;
	map_close(&m);
	return n;
}

int
map_cdb_path(const char *textfile, char *out, size_t outsize)
{
	int n = snprintf(out, outsize, "%s.cdb", textfile);

	if (n < 0 || (size_t)n >= outsize) {
		errno = ENAMETOOLONG;
		return -1;
	}
	return 0;
}

int
map_text_newer(const char *textfile)
{
	char cdbpath[4096];
	struct stat ts, cs;

	if (map_cdb_path(textfile, cdbpath, sizeof(cdbpath)) == -1 ||
	    stat(textfile, &ts) == -1)
		return -1;
	if (stat(cdbpath, &cs) == -1)
		return errno == ENOENT ? 1 : -1;
	if (ts.st_mtim.tv_sec != cs.st_mtim.tv_sec)
		return ts.st_mtim.tv_sec > cs.st_mtim.tv_sec;
	return ts.st_mtim.tv_nsec > cs.st_mtim.tv_nsec;
}
