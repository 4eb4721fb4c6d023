# moat: make (build), make run, make check.  See README.md.

CC	?= cc
WARN	 = -Wall -Wextra -Wshadow -Wformat=2 -Wstrict-prototypes \
	   -Wmissing-prototypes -Wno-unused-parameter
CFLAGS_COMMON = -std=c17 -D_GNU_SOURCE $(WARN) -g -MMD -MP
CFLAGS	?= -O2
SANFLAGS = -O1 -fsanitize=address,undefined -fno-omit-frame-pointer \
	   -fno-sanitize-recover=undefined
LIBS	 = -lcdb -lssl -lcrypto -lcares -llmdb

NPROC	:= $(shell nproc 2>/dev/null || echo 1)

MAINS	 = smtpd/moatd.c smtpd/moatctl.c
LIBSRC	 = $(filter-out $(MAINS), $(wildcard smtpd/*.c queue/*.c conf/*.c dnsbl/*.c greylist/*.c filters/*.c report/*.c metrics/*.c))
UNITSRC	 = $(wildcard tests/unit/test_*.c)

OBJ	 = $(LIBSRC:%.c=obj/%.o)
SANOBJ	 = $(LIBSRC:%.c=obj-san/%.o)
UNITBIN	 = $(UNITSRC:tests/unit/%.c=obj-san/tests/%)

.PHONY: all deps run check unit integration san bench bench-dns bench-storm bench-lmtp bench-filter bench-report bench-counters fuzz clean
all: moatd moatctl

obj/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_COMMON) $(CFLAGS) -c -o $@ $<

obj-san/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_COMMON) $(SANFLAGS) -c -o $@ $<

obj/libmoat.a: $(OBJ)
	rm -f $@ && ar rcs $@ $^
obj-san/libmoat.a: $(SANOBJ)
	rm -f $@ && ar rcs $@ $^

moatd: obj/smtpd/moatd.o obj/libmoat.a
	$(CC) $(CFLAGS) -o $@ $^ $(LIBS)
moatctl: obj/smtpd/moatctl.o obj/libmoat.a
	$(CC) $(CFLAGS) -o $@ $^ $(LIBS)

obj-san/moatd: obj-san/smtpd/moatd.o obj-san/libmoat.a
	$(CC) $(SANFLAGS) -o $@ $^ $(LIBS)
obj-san/moatctl: obj-san/smtpd/moatctl.o obj-san/libmoat.a
	$(CC) $(SANFLAGS) -o $@ $^ $(LIBS)
obj-san/tests/%: tests/unit/%.c obj-san/libmoat.a tests/unit/t.h
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_COMMON) $(SANFLAGS) -o $@ $< obj-san/libmoat.a $(LIBS)

san: obj-san/moatd obj-san/moatctl $(UNITBIN)

deps:
	@sh mk/deps.sh

# Serve example.test on 127.0.0.1:2525 from run/ (state ignored by git).
run: deps
	@$(MAKE) --no-print-directory -j$(NPROC) all
	@sh mk/setup-run.sh
	exec ./moatd -d -f run/etc/moat.conf

# The same set-up as run, then every test: the fuzz corpus replayed, unit
# tests and integration tests against the daemon built with ASan and
# UBSan; ends with "N passed, N failed".
check: deps
	@$(MAKE) --no-print-directory -j$(NPROC) all san
	@sh mk/setup-run.sh
	@$(MAKE) --no-print-directory -j$(NPROC) -C tests/fuzz replay
	@python3 tests/run.py

unit: san
	@python3 tests/run.py --unit

bench: all
	@sh bench/run.sh

bench-dns: all
	@sh bench/dns.sh

bench-storm: all
	@sh bench/storm.sh

bench-lmtp: all
	@sh bench/lmtp.sh

bench-filter: all
	@sh bench/filter.sh

bench-report: all
	@sh bench/report.sh

bench-counters: all
	@sh bench/counters.sh

fuzz:
	@$(MAKE) --no-print-directory -C tests/fuzz

clean:
	rm -rf obj obj-san moatd moatctl bench/loadgen bench/dnsdelay \
	    bench/acceptclose

-include $(OBJ:.o=.d) $(SANOBJ:.o=.d) $(MAINS:%.c=obj/%.d) $(MAINS:%.c=obj-san/%.d)
