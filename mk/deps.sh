#!/bin/sh
# Install what moat needs to build and test, with apt-get, when missing.
# Run as root on Debian; as another user it only says what is missing.
set -e

PKGS="build-essential pkg-config libssl-dev libc-ares-dev liblmdb-dev
 libcdb-dev tinycdb openssl python3 swaks clang iproute2 rbldnsd dnsmasq-base
 nftables ipset spamassassin spamd spamc clamav-daemon clamdscan dovecot-lmtpd chromium
 python3-prometheus-client"

missing=""
for p in $PKGS; do
	if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null |
	    grep -q "install ok installed"; then
		missing="$missing $p"
	fi
done
[ -z "$missing" ] && exit 0

if [ "$(id -u)" != 0 ]; then
	echo "moat: missing packages:$missing (install them as root)" >&2
	exit 1
fi
echo "moat: installing$missing"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends $missing >/dev/null
