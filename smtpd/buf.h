/*
 * buf: a length-tracked byte buffer with a hard cap.
 *
 * Every append checks the cap before growing, and growth is checked for
 * overflow.  A buffer never holds more than `max` bytes; an append that
 * would pass it fails with -1 and leaves the buffer unchanged.  Data is
 * kept NUL-terminated past `len` for the convenience of parsers, but `len`
 * is the truth: the bytes may themselves contain NUL.
 */
#ifndef MOAT_BUF_H
#define MOAT_BUF_H

#include <stddef.h>

struct buf {
	char	*data;
	size_t	 len;
	size_t	 cap;
	size_t	 max;
};

void	buf_init(struct buf *, size_t max);
void	buf_free(struct buf *);
int	buf_append(struct buf *, const void *, size_t);
int	buf_appendf(struct buf *, const char *, ...)
	    __attribute__((format(printf, 2, 3)));
void	buf_consume(struct buf *, size_t);	/* drop n bytes from the front */
void	buf_reset(struct buf *);

/* write() until all n bytes are out (EINTR retried): 0, or -1. */
int	fd_write_all(int fd, const void *, size_t);

/* Bounded copy into a fixed array: 0, or -1 when it would not fit. */
int	strlcpy_ok(char *dst, const char *src, size_t dstsize);

#endif
