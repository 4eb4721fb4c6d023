#!/bin/sh
# Prepare run/ for "make run" and the tests: the default config from
# conf/default, its maps compiled, a self-signed certificate, and (as
# root) the two system users moatd drops privileges to.
set -e
cd "$(dirname "$0")/.."

mkdir -p run/etc run/mail run/spool run/empty
for f in conf/default/*; do
	# keep local edits: copy only what is missing or older than ours
	[ -e "run/etc/$(basename "$f")" ] && [ ! "$f" -nt "run/etc/$(basename "$f")" ] && continue
	cp "$f" run/etc/
done

if [ "$(id -u)" = 0 ]; then
	for u in moat moatq; do
		id "$u" >/dev/null 2>&1 ||
		    useradd --system --no-create-home --home-dir /nonexistent \
			--shell /usr/sbin/nologin "$u"
	done
	# mail and spool belong to the queue user (moatd creates them so;
	# this mends folders an earlier run made as root)
	chown -R moatq:moatq run/mail run/spool
	chmod 700 run/mail run/spool
fi

for m in domains recipients access helo senders greylist_allow; do
	./moatctl -f run/etc/moat.conf makemap -f "$m" >/dev/null
done

if [ ! -s run/etc/cert.pem ] || [ ! -s run/etc/key.pem ]; then
	openssl req -x509 -newkey rsa:2048 -nodes -days 3650 \
	    -subj "/CN=mx.example.test" -keyout run/etc/key.pem \
	    -out run/etc/cert.pem >/dev/null 2>&1
	chmod 600 run/etc/key.pem
fi
