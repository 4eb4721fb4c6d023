/*
 * t.h: the smallest test harness.  Table-driven tests call CHECK(); main
 * ends with T_DONE(), which prints "N passed, N failed" and exits non-zero
 * on any failure.
 */
#ifndef MOAT_T_H
#define MOAT_T_H

#include <sys/socket.h>
#include <arpa/inet.h>
#include <netinet/in.h>

#include <stdio.h>
#include <string.h>

static int t_pass, t_fail;

#define CHECK(cond, ...) do {						\
	if (cond) {							\
		t_pass++;						\
	} else {							\
		t_fail++;						\
		fprintf(stderr, "FAIL %s:%d: ", __FILE__, __LINE__);	\
		fprintf(stderr, __VA_ARGS__);				\
		fputc('\n', stderr);					\
	}								\
} while (0)

/* An IPv4 or IPv6 address as a sockaddr; all zero when it is neither. */
static inline struct sockaddr_storage
t_addr(const char *text)
{
	struct sockaddr_storage ss;

	memset(&ss, 0, sizeof(ss));
	if (inet_pton(AF_INET, text, &((struct sockaddr_in *)&ss)->sin_addr)
	    == 1)
		ss.ss_family = AF_INET;
	else if (inet_pton(AF_INET6, text,
	    &((struct sockaddr_in6 *)&ss)->sin6_addr) == 1)
		ss.ss_family = AF_INET6;
	return ss;
}

#define T_DONE() do {							\
	printf("%d passed, %d failed\n", t_pass, t_fail);		\
	return t_fail ? 1 : 0;						\
} while (0)

#endif
