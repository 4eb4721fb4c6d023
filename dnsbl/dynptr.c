/*
 * dynptr: dynamic/generic PTR patterns (see dynptr.h).
 */
#include <arpa/inet.h>
#include <netinet/in.h>

#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "dynptr.h"

#define DYNPTR_MAX	256
#define IP_OCTETS	"@ip-octets"

struct pattern {
	regex_t	 re;
	char	 text[128];	/* for the log, cut */
};

struct patset {
	struct pattern	*pats;
	size_t		 n;
	int		 ip_octets;
};

static struct patset cur;	/* what dynptr_match uses */

static void
patset_free(struct patset *ps)
{
	size_t i;

	for (i = 0; i < ps->n; i++)
		regfree(&ps->pats[i].re);
	free(ps->pats);
	memset(ps, 0, sizeof(*ps));
}

void
dynptr_free(void)
{
	patset_free(&cur);
}

static char *
trim(char *s)
{
	char *e;

	s += strspn(s, " \t");
	e = s + strlen(s);
	while (e > s && (e[-1] == '\n' || e[-1] == '\r' || e[-1] == ' ' ||
	    e[-1] == '\t'))
		*--e = '\0';
	return s;
}

static int
add_pattern(struct patset *ps, const char *line, char *why, size_t whysize)
{
	struct pattern *p;
	int r;

	if (strcmp(line, IP_OCTETS) == 0) {
		ps->ip_octets = 1;
		return 0;
	}
	if (ps->n == DYNPTR_MAX) {
		(void)snprintf(why, whysize, "more than %d patterns",
		    DYNPTR_MAX);
		return -1;
	}
	p = &ps->pats[ps->n];
	if ((r = regcomp(&p->re, line, REG_EXTENDED | REG_ICASE |
	    REG_NOSUB)) != 0) {
		regerror(r, &p->re, why, whysize);
		return -1;
	}
	(void)snprintf(p->text, sizeof(p->text), "%s", line);
	ps->n++;
	return 0;
}

/* The whole file compiles, or what was loaded stays as it was. */
int
dynptr_load(const char *path, char *err, size_t errsize)
{
	char buf[1024], why[256], *line;
	struct patset next = { 0 };
	unsigned lineno = 0;
	FILE *fp;

	if ((next.pats = calloc(DYNPTR_MAX, sizeof(*next.pats))) == NULL ||
	    (fp = fopen(path, "re")) == NULL) {
		free(next.pats);
		(void)snprintf(err, errsize, "%s: cannot read", path);
		return -1;
	}
	while (fgets(buf, sizeof(buf), fp) != NULL) {
		lineno++;
		line = trim(buf);
		if (*line == '\0' || *line == '#')
			continue;
		if (add_pattern(&next, line, why, sizeof(why)) == -1) {
			(void)snprintf(err, errsize, "%s:%u: %s", path, lineno,
			    why);
			fclose(fp);
			patset_free(&next);
			return -1;
		}
	}
	fclose(fp);
	patset_free(&cur);
	cur = next;
	return 0;
}

/* The forms an ISP writes an address into a name in. */
static int
has_octets(const char *name, const struct sockaddr *sa)
{
	const unsigned char *b;
	char form[32];
	const char *seps = "-._";
	size_t i;

	if (sa->sa_family != AF_INET)
		return 0;
	b = (const unsigned char *)&((const struct sockaddr_in *)sa)->sin_addr;
	for (i = 0; i < 3; i++) {
		(void)snprintf(form, sizeof(form), "%u%c%u%c%u%c%u", b[0],
		    seps[i], b[1], seps[i], b[2], seps[i], b[3]);
		if (strstr(name, form) != NULL)
			return 1;
		(void)snprintf(form, sizeof(form), "%u%c%u%c%u%c%u", b[3],
		    seps[i], b[2], seps[i], b[1], seps[i], b[0]);
		if (strstr(name, form) != NULL)
			return 1;
	}
	(void)snprintf(form, sizeof(form), "%03u%03u%03u%03u", b[0], b[1],
	    b[2], b[3]);
	if (strstr(name, form) != NULL)
		return 1;
	(void)snprintf(form, sizeof(form), "%02x%02x%02x%02x", b[0], b[1],
	    b[2], b[3]);
	return strcasestr(name, form) != NULL;
}

int
dynptr_match(const char *ptr, const struct sockaddr *client,
    const char **which)
{
	size_t i;

	if (cur.ip_octets && has_octets(ptr, client)) {
		*which = IP_OCTETS;
		return 1;
	}
	for (i = 0; i < cur.n; i++)
		if (regexec(&cur.pats[i].re, ptr, 0, NULL, 0) == 0) {
			*which = cur.pats[i].text;
			return 1;
		}
	return 0;
}
