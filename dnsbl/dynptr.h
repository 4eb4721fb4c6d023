/*
 * dynptr: does a PTR name look dynamic or generic (an ISP's pool name,
 * not a mail server's)?
 *
 * The pattern file (dynamic_ptr) has one POSIX extended regular
 * expression a line, matched case-insensitively against the PTR name;
 * blank lines and lines starting with '#' are skipped.  The line
 * "@ip-octets" matches a name that embeds the client's own IPv4
 * address: its four octets in either order, joined by '-', '.' or '_'
 * or zero-padded to three digits each, or as eight hex digits.
 */
#ifndef MOAT_DYNPTR_H
#define MOAT_DYNPTR_H

#include <sys/socket.h>

#include <stddef.h>

/*
 * Compile the file and use it from now on.  0, or -1 with "FILE:LINE:
 * why" in err, and then what was loaded before stays.  The parent
 * loads the file and its workers inherit the patterns when they fork,
 * so a file broken after the start breaks no worker.
 */
int	dynptr_load(const char *path, char *err, size_t errsize);
void	dynptr_free(void);
/* 1 when the name matches a pattern; *which names it (for the log). */
int	dynptr_match(const char *ptr, const struct sockaddr *client,
	    const char **which);

#endif
