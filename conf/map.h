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

/*
 * Take ownership of fd (a cdb file): 0, or -1 (fd closed, errno set) if
 * it is not a regular file or not a valid cdb.  The whole index is
 * checked here, and nrecords counted.  Open into a closed or zeroed map.
 */
int	map_open_fd(struct map *, int fd);
int	map_open_path(struct map *, const char *cdbpath);
void	map_close(struct map *);
/* 1 if the open cdb was replaced (its inode has no name left), else 0. */
int	map_replaced(const struct map *);

/*
 * Exact lookup of the key as given (no case folding).  1: found, value
 * copied NUL-terminated (val may be NULL to test presence only); 0: not
 * found; -1: corrupt cdb or value too long for valsize.  A closed map
 * finds nothing.
 */
int	map_get(struct map *, const char *key, char *val, size_t valsize);

/*
 * Longest-prefix lookup of an address in an access-style map: /32 .. /0
 * for IPv4, /128 .. /0 for IPv6; a v4-mapped IPv6 address is looked up
 * as IPv4.  matched (may be NULL) gets the key that matched.
 */
int	map_get_addr(struct map *, const struct sockaddr *, char *val,
	    size_t valsize, char *matched, size_t matchedsize);

/*
 * Domain lookup, case-insensitive: the name, then each parent suffix as
 * ".suffix" ("a.b.example.com", ".b.example.com", ".example.com",
 * ".com").  A trailing dot is ignored; an address literal has no parents.
 */
int	map_get_domain(struct map *, const char *domain, char *val,
	    size_t valsize, char *matched, size_t matchedsize);

/*
 * Compile TEXTFILE into TEXTFILE.cdb: lower-case keys unless keep_case
 * (then only the part after the last '@' is lowered: recipients with
 * case-sensitive local parts), normalise CIDR keys when cidr, refuse
 * duplicate keys and bad lines with "file:line: message" in err.  Writes
 * TEXTFILE.cdb.tmp, fsyncs, renames, fsyncs the folder.  *nrecords gets
 * the count.  A '#' starts a comment only at the start of a line.
 */
int	map_compile(const char *textfile, int keep_case, int cidr,
	    unsigned *nrecords, char *err, size_t errsize);
/*
 * A value check for one kind of map: 0 if value is acceptable, else -1
 * with the reason in why.  The compiler reports it as file:line.
 */
typedef int (*map_value_check)(const char *value, char *why,
	    size_t whysize);

/*
 * The two halves of map_compile, for a caller that inspects the result
 * before it goes live: map_compile_tmp writes and fsyncs
 * TEXTFILE.cdb.tmp only (check, if not NULL, vets every value);
 * map_install renames it to TEXTFILE.cdb and fsyncs the folder;
 * map_discard removes it.
 */
int	map_compile_tmp(const char *textfile, int keep_case, int cidr,
	    map_value_check check, unsigned *nrecords, char *err,
	    size_t errsize);
int	map_install(const char *textfile, char *err, size_t errsize);
void	map_discard(const char *textfile);

/* Count the records of an installed cdb; -1 if it cannot be read. */
long	map_count_path(const char *cdbpath);

/* "TEXTFILE.cdb" into out: 0, or -1 if it does not fit. */
int	map_cdb_path(const char *textfile, char *out, size_t outsize);
/* 1 if TEXTFILE is newer than TEXTFILE.cdb (or there is no cdb), 0 if
 * not, -1 if TEXTFILE cannot be stat'ed. */
int	map_text_newer(const char *textfile);

/*
 * Canonical key for an address or network (what the compiler stores):
 * host bits cleared, "ADDR/LEN", or the bare address at full length; a
 * v4-mapped address with LEN >= 96 becomes IPv4.  0, or -1.
 */
int	map_addr_key(const struct sockaddr *, unsigned prefixlen,
	    char *key, size_t keysize);

#endif
