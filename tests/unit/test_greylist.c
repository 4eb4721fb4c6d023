/*
 * test_greylist: what a greylisting key is made of: the sender with its
 * BATV tag and SRS hash and timestamp taken off, lower-cased; the
 * client's network at the configured prefix lengths.
 */
#include <sys/socket.h>
#include <arpa/inet.h>
#include <netinet/in.h>

#include <string.h>

#include "t.h"
#include "../../greylist/greylist.h"

static const struct {
	const char	*in, *out;
} senders[] = {
	{ "Bob@Example.ORG", "bob@example.org" },
	{ "prvs=1234abcdef=bob@example.org", "bob@example.org" },
	{ "PRVS=0987654321=Bob@example.org", "bob@example.org" },
	{ "msprvs1=17abc=bob@example.org", "bob@example.org" },
	{ "btv1==123abc==bob@example.org", "bob@example.org" },
	{ "prvs=@example.org", "prvs=@example.org" },	/* no tag: kept */
	{ "SRS0=HHH=TT=orig.example=carol@fwd.example",
	    "srs0=orig.example=carol@fwd.example" },
	{ "SRS0=abc=de=orig.example=carol@fwd.example",
	    "srs0=orig.example=carol@fwd.example" },
	{ "SRS1=XXX=first.example==HHH=TT=orig.example=carol@fwd2.example",
	    "srs1=first.example==orig.example=carol@fwd2.example" },
	{ "SRS0=short@fwd.example", "srs0=short@fwd.example" },
	{ "", "" },
	{ "no-at-sign", "no-at-sign" },
};

static void
test_senders(void)
{
	char out[600];
	size_t i;

	for (i = 0; i < sizeof(senders) / sizeof(senders[0]); i++) {
		greylist_sender(senders[i].in, out, sizeof(out));
		CHECK(strcmp(out, senders[i].out) == 0, "%s -> %s, not %s",
		    senders[i].in, out, senders[i].out);
	}
}


static const struct {
	const char	*ip;
	unsigned	 b4, b6;
	const char	*net;
} nets[] = {
	{ "192.0.2.77", 24, 64, "192.0.2.0/24" },
	{ "192.0.2.77", 32, 64, "192.0.2.77/32" },
	{ "192.0.2.77", 16, 64, "192.0.0.0/16" },
	{ "192.0.2.77", 8, 64, "192.0.0.0/8" },
	{ "192.0.2.77", 27, 64, "192.0.2.64/27" },
	{ "2001:db8:1:2:3:4:5:6", 24, 64, "2001:db8:1:2::/64" },
	{ "2001:db8:1:2:3:4:5:6", 24, 48, "2001:db8:1::/48" },
	{ "2001:db8:1:ff02:3:4:5:6", 24, 56, "2001:db8:1:ff00::/56" },
	{ "2001:db8:1:2:3:4:5:6", 24, 128, "2001:db8:1:2:3:4:5:6/128" },
	{ "2001:db8:1:ff32:3:4:5:6", 24, 60, "2001:db8:1:ff30::/60" },
};

static void
test_networks(void)
{
	struct sockaddr_storage ss;
	char out[64];
	size_t i;

	for (i = 0; i < sizeof(nets) / sizeof(nets[0]); i++) {
		ss = t_addr(nets[i].ip);
		CHECK(greylist_network((struct sockaddr *)&ss, nets[i].b4,
		    nets[i].b6, out, sizeof(out)) == 0 &&
		    strcmp(out, nets[i].net) == 0, "%s /%u /%u -> %s, not %s",
		    nets[i].ip, nets[i].b4, nets[i].b6, out, nets[i].net);
	}
}

static const struct {
	const char	*host, *org;
} orgs[] = {
	{ "mail-wr1-f41.google.com", "google.com" },
	{ "google.com", "google.com" },
	{ "localhost", "localhost" },
	{ "smtp.example.co.uk", "example.co.uk" },
	{ "a.b.c.com.au", "c.com.au" },
	{ "mail.gmx.de", "gmx.de" },
	{ "mx.t-online.de", "t-online.de" },
	{ "o1.email.sendgrid.net", "sendgrid.net" },
	{ "co.uk", "co.uk" },
	{ "x.ne.jp", "x.ne.jp" },
};

static void
test_org_domains(void)
{
	size_t i;

	for (i = 0; i < sizeof(orgs) / sizeof(orgs[0]); i++)
		CHECK(strcmp(greylist_org_domain(orgs[i].host),
		    orgs[i].org) == 0, "%s -> %s, not %s", orgs[i].host,
		    greylist_org_domain(orgs[i].host), orgs[i].org);
}

int
main(void)
{
	test_senders();
	test_networks();
	test_org_domains();
	T_DONE();
}
