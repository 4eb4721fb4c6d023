/*
 * map: read-only lookups in a compiled cdb map, and the compiler.
 *
 * Text format (one entry a line): "KEY VALUE...", '#' comments, blank
 * lines ignored, KEY has no whitespace, VALUE is the rest of the line with
 * surrounding whitespace removed (may be empty).  Keys are stored lower
 * case, except in the recipients map when local parts are case-sensitive
 * (the caller says so).  CIDR keys in the access map ("192.0.2.0/24",
 * "2001:db8::/32") are normalised when compiled: host bits must be zero,
 * and the key is stored in canonical text; a plain address is stored as
 * an address.
 *
 * The daemon never reads text maps: only FILE.cdb, which it receives as an
 * open descriptor.  A cdb is untrusted input: every read is bounds-checked
 * (tinycdb does this for cdb_find/cdb_read).
 */
#ifndef MOAT_MAP_H
#define MOAT_MAP_H

#include <stddef.h>
#include <sys/socket.h>
#include <cdb.h>

#define MAP_VALUE_MAX	1024
#define MAP_KEY_MAX	512

struct map {
	int		open;
	struct cdb	cdb;
	int		fd;
	unsigned	nrecords;
};

/* Take ownership of fd (a cdb file).  0, or -1 if not a valid cdb. */
int	map_open_fd(struct map *, int fd);
int	map_open_path(struct map *, const char *cdbpath);
void	map_close(struct map *);

/*
 * Exact lookup.  1: found, value copied (NUL-terminated; *vlen its
 * length); 0: not found; -1: read error or value too long.  A closed map
 * finds nothing.
 */
int	map_get(struct map *, const char *key, char *val, size_t valsize);

/* Longest-prefix lookup of an address in an access-style map. */
int	map_get_addr(struct map *, const struct sockaddr *, char *val,
	    size_t valsize, char *matched, size_t matchedsize);

/*
 * Domain lookup: the name, then each parent suffix as ".suffix"
 * ("a.b.example.com", ".b.example.com", ".example.com", ".com").
 */
int	map_get_domain(struct map *, const char *domain, char *val,
	    size_t valsize, char *matched, size_t matchedsize);

/*
 * Compile TEXTFILE into TEXTFILE.cdb: lower-case keys unless keep_case,
 * normalise CIDR keys when cidr, refuse duplicate keys and bad lines with
 * "file:line: message" in err.  Writes TEXTFILE.cdb.tmp, fsyncs, renames,
 * fsyncs the folder.  *nrecords gets the count.
 */
int	map_compile(const char *textfile, int keep_case, int cidr,
	    unsigned *nrecords, char *err, size_t errsize);

/* Count the records of an installed cdb; -1 if it cannot be read. */
long	map_count_path(const char *cdbpath);

/* Canonical key for an address or network (what the compiler stores). */
int	map_addr_key(const struct sockaddr *, unsigned prefixlen,
	    char *key, size_t keysize);

#endif
