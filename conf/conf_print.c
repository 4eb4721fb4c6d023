/*
 * conf_print: the effective configuration written back as moat.conf
 * lines, every key in the table's order, defaults included (moatd -n).
 */
#include <stdio.h>
#include <string.h>

#include "conf_keys.h"
#include "conf_value.h"

static const char *
fmt_enum(const struct conf *c, const struct conf_key *k)
{
	const struct conf_enum *e;
	int v;

	memcpy(&v, (const char *)c + k->off, sizeof(v));
	for (e = k->names; e->name != NULL; e++)
		if (e->value == v)
			return e->name;
	return "?";
}

static void
print_zones(const struct conf *c, const struct conf_key *k, FILE *fp)
{
	enum dns_zone_kind kind = k->type == CT_DNSBL ? ZONE_DNSBL :
	    k->type == CT_DNSWL ? ZONE_DNSWL : ZONE_RHSBL;
	char spec[DNS_TEXT_MAX + 1024];
	size_t i;

	for (i = 0; i < c->nzones; i++) {
		if (c->zones[i].kind != kind)
			continue;
		conf_fmt_zone(&c->zones[i], spec, sizeof(spec));
		fprintf(fp, "%s = %s\n", k->name, spec);
	}
}

static void
print_key(const struct conf *c, const struct conf_key *k, FILE *fp)
{
	const char *field = (const char *)c + k->off;
	char num[32];
	size_t i;

	switch (k->type) {
	case CT_LISTEN:
		for (i = 0; i < c->nlisten; i++)
			fprintf(fp, "%s = %s\n", k->name, c->listen[i].text);
		return;
	case CT_ADDR: {
		const struct listen_addr *la = (const void *)field;

		fprintf(fp, "%s =%s%s\n", k->name, la->sslen ? " " : "",
		    la->text);
		return;
	}
	case CT_RESOLVER:
		for (i = 0; i < c->nresolver; i++)
			fprintf(fp, "%s = %s\n", k->name, c->resolver[i].text);
		return;
	case CT_DNSBL:
	case CT_DNSWL:
	case CT_RHSBL:
		print_zones(c, k, fp);
		return;
	case CT_FILTER: {
		char spec[CONF_PATH_MAX + 1200];

		for (i = 0; i < c->nfilters; i++) {
			conf_fmt_filter(&c->filters[i], spec, sizeof(spec));
			fprintf(fp, "%s = %s\n", k->name, spec);
		}
		return;
	}
	case CT_RATE: {
		const struct conf_rate *r = (const void *)field;

		conf_fmt_duration(r->period, num, sizeof(num));
		if (r->n == 0)
			fprintf(fp, "%s = 0\n", k->name);
		else
			fprintf(fp, "%s = %u/%s\n", k->name, r->n, num);
		return;
	}
	case CT_STRING:
	case CT_HOSTNAME:
	case CT_PATH:
	case CT_TARGET:
		fprintf(fp, "%s =%s%s\n", k->name, *field ? " " : "", field);
		return;
	case CT_ENUM:
		fprintf(fp, "%s = %s\n", k->name, fmt_enum(c, k));
		return;
	case CT_BOOL:
		fprintf(fp, "%s = %s\n", k->name,
		    conf_field_load(c, k) ? "yes" : "no");
		return;
	case CT_SIZE:
		conf_fmt_size(conf_field_load(c, k), num, sizeof(num));
		break;
	case CT_DURATION:
		conf_fmt_duration(conf_field_load(c, k), num, sizeof(num));
		break;
	case CT_COUNT:
		(void)snprintf(num, sizeof(num), "%llu",
		    (unsigned long long)conf_field_load(c, k));
		break;
	}
	fprintf(fp, "%s = %s\n", k->name, num);
}

void
conf_print(const struct conf *c, FILE *fp)
{
	size_t i;

	if (c->file[0] != '\0')
		fprintf(fp, "# %s\n", c->file);
	for (i = 0; i < conf_nkeys; i++)
		print_key(c, &conf_keys[i], fp);
}
