/*
 * fuzz.h: what the fuzz targets share.  Each target defines the libFuzzer
 * entry point; replay.c calls the same function on corpus files so a
 * corpus can be checked without libFuzzer (with gcc, in CI).
 *
 * FUZZ_CHECK states an invariant of the code under test: when it fails,
 * the target aborts so that the fuzzer (or replay) reports the input.
 */
#ifndef MOAT_FUZZ_H
#define MOAT_FUZZ_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

#define FUZZ_CHECK(cond) do {						\
	if (!(cond)) {							\
		fprintf(stderr, "%s:%d: invariant failed: %s\n",	\
		    __FILE__, __LINE__, #cond);				\
		abort();						\
	}								\
} while (0)

#endif
