/*
 * test_parse_params: MAIL FROM parameters (SIZE, BODY, SMTPUTF8) and the
 * RCPT TO parameters we refuse.
 */
#include <stdint.h>
#include <string.h>

#include "t.h"
#include "../../smtpd/parse.h"

struct mp_case {
	const char		*name;
	const char		*in;
	enum param_error	 err;
	int			 size_set;
	uint64_t		 size;
	int			 body;
	int			 smtputf8;
	const char		*badkey;	/* NULL: not checked */
};

static const struct mp_case mp_cases[] = {
	{ "none", "", PARAM_OK, 0, 0, 0, 0, "" },
	{ "only spaces", "   ", PARAM_OK, 0, 0, 0, 0, "" },
	{ "size", " SIZE=1000", PARAM_OK, 1, 1000, 0, 0, "" },
	{ "size zero", " SIZE=0", PARAM_OK, 1, 0, 0, 0, "" },
	{ "size lower key", " size=12", PARAM_OK, 1, 12, 0, 0, "" },
	{ "size max u64", " SIZE=18446744073709551615", PARAM_OK, 1,
	  UINT64_MAX, 0, 0, "" },
	{ "size overflow", " SIZE=18446744073709551616", PARAM_BAD_VALUE, 0,
	  0, 0, 0, "SIZE" },
	{ "size huge", " SIZE=99999999999999999999999999", PARAM_BAD_VALUE,
	  0, 0, 0, 0, "SIZE" },
	{ "size letters", " SIZE=12k", PARAM_BAD_VALUE, 0, 0, 0, 0, "SIZE" },
	{ "size negative", " SIZE=-1", PARAM_BAD_VALUE, 0, 0, 0, 0, "SIZE" },
	{ "size no value", " SIZE", PARAM_BAD_VALUE, 0, 0, 0, 0, "SIZE" },
	{ "size empty value", " SIZE=", PARAM_SYNTAX, 0, 0, 0, 0, NULL },
	{ "body 8bit", " BODY=8BITMIME", PARAM_OK, 0, 0, 8, 0, "" },
	{ "body 7bit lower", " body=7bit", PARAM_OK, 0, 0, 7, 0, "" },
	{ "body binary", " BODY=BINARYMIME", PARAM_BAD_VALUE, 0, 0, 0, 0,
	  "BODY" },
	{ "body no value", " BODY", PARAM_BAD_VALUE, 0, 0, 0, 0, "BODY" },
	{ "smtputf8", " SMTPUTF8", PARAM_OK, 0, 0, 0, 1, "" },
	{ "smtputf8 value", " SMTPUTF8=yes", PARAM_BAD_VALUE, 0, 0, 0, 0,
	  "SMTPUTF8" },
	{ "all three", " SIZE=5 BODY=8BITMIME SMTPUTF8", PARAM_OK, 1, 5, 8, 1,
	  "" },
	{ "extra spaces", "  SIZE=5   BODY=7BIT  ", PARAM_OK, 1, 5, 7, 0,
	  "" },
	{ "duplicate size", " SIZE=5 SIZE=6", PARAM_SYNTAX, 1, 5, 0, 0,
	  "SIZE" },
	{ "duplicate body", " BODY=7BIT body=8bitmime", PARAM_SYNTAX, 0, 0,
	  7, 0, "body" },
	{ "duplicate smtputf8", " SMTPUTF8 SMTPUTF8", PARAM_SYNTAX, 0, 0, 0,
	  1, "SMTPUTF8" },
	{ "unknown", " RET=FULL", PARAM_UNKNOWN, 0, 0, 0, 0, "RET" },
	{ "unknown after known", " SIZE=1 ENVID=abc", PARAM_UNKNOWN, 1, 1, 0,
	  0, "ENVID" },
	{ "auth unknown", " AUTH=<>", PARAM_UNKNOWN, 0, 0, 0, 0, "AUTH" },
	{ "no leading space", "SIZE=1", PARAM_SYNTAX, 0, 0, 0, 0, "" },
	{ "bad key char", " SI_ZE=1", PARAM_SYNTAX, 0, 0, 0, 0, "" },
	{ "key starts hyphen", " -X", PARAM_SYNTAX, 0, 0, 0, 0, "" },
	{ "tab separator", " SIZE=1\tBODY=7BIT", PARAM_SYNTAX, 0, 0, 0, 0,
	  NULL },
	{ "equals in value", " SIZE=1=2", PARAM_SYNTAX, 0, 0, 0, 0, NULL },
	{ "8bit value", " X=\xc3\xa9", PARAM_SYNTAX, 0, 0, 0, 0, NULL },
	{ "ctl in value", " X=a\001", PARAM_SYNTAX, 0, 0, 0, 0, NULL },
};

static void
test_mail_params(void)
{
	const struct mp_case *c;
	struct mail_params mp;
	char badkey[32];
	enum param_error e;
	size_t i;

	for (i = 0; i < sizeof(mp_cases) / sizeof(mp_cases[0]); i++) {
		c = &mp_cases[i];
		memset(badkey, 'x', sizeof(badkey));
		e = mail_params_parse(c->in, strlen(c->in), &mp, badkey,
		    sizeof(badkey));
		CHECK(e == c->err, "mail %s: error %d want %d", c->name, e,
		    c->err);
		CHECK(mp.size_set == c->size_set && mp.size == c->size,
		    "mail %s: size %d/%ju", c->name, mp.size_set,
		    (uintmax_t)mp.size);
		CHECK(mp.body == c->body, "mail %s: body %d", c->name,
		    mp.body);
		CHECK(mp.smtputf8 == c->smtputf8, "mail %s: smtputf8 %d",
		    c->name, mp.smtputf8);
		if (c->badkey != NULL)
			CHECK(strcmp(badkey, c->badkey) == 0,
			    "mail %s: badkey '%s' want '%s'", c->name, badkey,
			    c->badkey);
	}
}

static void
test_badkey_truncated(void)
{
	const char *in = " AVERYLONGUNKNOWNPARAMETERNAME=1";
	struct mail_params mp;
	char small[8];
	enum param_error e;

	e = mail_params_parse(in, strlen(in), &mp, small, sizeof(small));
	CHECK(e == PARAM_UNKNOWN && strcmp(small, "AVERYLO") == 0,
	    "badkey truncated: '%s'", small);
	e = mail_params_parse(in, strlen(in), &mp, NULL, 0);
	CHECK(e == PARAM_UNKNOWN, "badkey may be NULL");
}

struct rp_case {
	const char		*name;
	const char		*in;
	enum param_error	 err;
	const char		*badkey;
};

static const struct rp_case rp_cases[] = {
	{ "none", "", PARAM_OK, "" },
	{ "spaces", "  ", PARAM_OK, "" },
	{ "notify", " NOTIFY=NEVER", PARAM_UNKNOWN, "NOTIFY" },
	{ "orcpt", " ORCPT=rfc822;a@b", PARAM_UNKNOWN, "ORCPT" },
	{ "flag", " XFOO", PARAM_UNKNOWN, "XFOO" },
	{ "no space", "NOTIFY=NEVER", PARAM_SYNTAX, "" },
	{ "bad key", " =x", PARAM_SYNTAX, "" },
};

static void
test_rcpt_params(void)
{
	const struct rp_case *c;
	char badkey[32];
	enum param_error e;
	size_t i;

	for (i = 0; i < sizeof(rp_cases) / sizeof(rp_cases[0]); i++) {
		c = &rp_cases[i];
		e = rcpt_params_parse(c->in, strlen(c->in), badkey,
		    sizeof(badkey));
		CHECK(e == c->err, "rcpt %s: error %d want %d", c->name, e,
		    c->err);
		CHECK(strcmp(badkey, c->badkey) == 0,
		    "rcpt %s: badkey '%s' want '%s'", c->name, badkey,
		    c->badkey);
	}
}

int
main(void)
{
	test_mail_params();
	test_badkey_truncated();
	test_rcpt_params();
	T_DONE();
}
