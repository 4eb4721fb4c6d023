/*
 * asn: `moatctl report --asn FILE`: which network owner (autonomous
 * system) the refused clients belong to.  FILE is text, one prefix a
 * line: "PREFIX ASN [OWNER...]" ("192.0.2.0/24 64500 Example Net"),
 * IPv4 or IPv6, '#' starting a comment; a client belongs to its longest
 * matching prefix.  Lookups are one hash probe per prefix length in
 * use, so a full routing table is fine.
 */
#ifndef MOAT_ASN_H
#define MOAT_ASN_H

#include <stddef.h>

#include "tally.h"

struct asn_row {
	unsigned long	 asn;		/* 0: in no prefix of the file */
	char		 owner[96];
	unsigned long	 clients;	/* refused client addresses */
};

struct asn_table;

/* NULL with err set when the file cannot be read or a line is bad. */
struct asn_table *asn_load(const char *path, char *err, size_t errsize);
/* The refused clients per ASN, most first; *n rows; NULL when none or
 * out of memory (free it). */
struct asn_row *asn_count(const struct asn_table *, const struct tally *,
	    size_t *n);
void	asn_free(struct asn_table *);

#endif
