/*
 * test_filter_env: a filter's environment holds exactly the documented
 * variables, with envelope values copied byte for byte (shell text
 * included: nothing interprets it).
 */
#include <stdlib.h>
#include <string.h>

#include "t.h"
#include "../../filters/env.h"

static const char *
get(const struct filter_env *e, const char *name)
{
	size_t i, n = strlen(name);

	for (i = 0; e->envp[i] != NULL; i++)
		if (strncmp(e->envp[i], name, n) == 0 && e->envp[i][n] == '=')
			return e->envp[i] + n + 1;
	return NULL;
}

int
main(void)
{
	const char *rcpt[] = { "alice@example.test", "$(touch /tmp/x)@example.test" };
	struct filter_envelope m = {
		.qid = "0123456789ABCDEF", .ip = "192.0.2.7", .ptr =
		    "mail.example.org", .helo = "mail.example.org", .tls = "",
		.sender = "`id`;rm -rf /@example.org", .dnsbl =
		    "bl.example=127.0.0.2", .greylist = "passed", .port = 41234,
		.ptr_verified = 1, .rcpt = rcpt, .nrcpt = 2, .size = 12345,
	};
	struct filter_env e;
	size_t n;

	CHECK(filter_env_build(&e, &m) == 0, "build");
	for (n = 0; e.envp[n] != NULL; n++)
		;
	CHECK(n == 16, "16 variables, got %zu", n);
	CHECK(strcmp(get(&e, "MOAT_QUEUE_ID"), "0123456789ABCDEF") == 0, "qid");
	CHECK(strcmp(get(&e, "MOAT_CLIENT_PORT"), "41234") == 0, "port");
	CHECK(strcmp(get(&e, "MOAT_CLIENT_PTR_VERIFIED"), "yes") == 0, "ptr");
	CHECK(strcmp(get(&e, "MOAT_TLS"), "") == 0, "no tls: empty");
	CHECK(strcmp(get(&e, "MOAT_SENDER"), "`id`;rm -rf /@example.org") == 0,
	    "sender verbatim");
	CHECK(strcmp(get(&e, "MOAT_RECIPIENTS"), "alice@example.test\n"
	    "$(touch /tmp/x)@example.test") == 0, "recipients one per line");
	CHECK(strcmp(get(&e, "MOAT_RCPT_COUNT"), "2") == 0, "count");
	CHECK(strcmp(get(&e, "MOAT_SIZE"), "12345") == 0, "size");
	CHECK(strcmp(get(&e, "MOAT_DNSBL"), "bl.example=127.0.0.2") == 0,
	    "dnsbl");
	CHECK(strcmp(get(&e, "PATH"), "/usr/bin:/bin") == 0, "PATH fixed");
	CHECK(get(&e, "LD_PRELOAD") == NULL, "nothing inherited");
	filter_env_free(&e);

	m.sender = NULL;		/* <> */
	m.ptr = NULL;
	m.ptr_verified = 0;
	CHECK(filter_env_build(&e, &m) == 0, "build");
	CHECK(strcmp(get(&e, "MOAT_SENDER"), "") == 0, "<> is empty");
	CHECK(strcmp(get(&e, "MOAT_CLIENT_PTR_VERIFIED"), "no") == 0, "ptr");
	filter_env_free(&e);
	T_DONE();
}
