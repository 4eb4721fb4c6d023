/*
 * t.h: the smallest test harness.  Table-driven tests call CHECK(); main
 * ends with T_DONE(), which prints "N passed, N failed" and exits non-zero
 * on any failure.
 */
#ifndef MOAT_T_H
#define MOAT_T_H

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

#define T_DONE() do {							\
	printf("%d passed, %d failed\n", t_pass, t_fail);		\
	return t_fail ? 1 : 0;						\
} while (0)

#endif
