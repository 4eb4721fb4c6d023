"""Network blocks by hand against the real daemon, from clients bound to
their own 127.0.0.0/8 addresses: moatctl block IP/LEN closes every client
inside the network at accept and none outside, unblock lifts it, a
session already open goes on, bad prefixes are refused; the nft and
ipset formats of moatctl blocks load into a firewall (checked in a
network namespace of their own)."""
import os
import re
import shlex
import shutil
import socket
import subprocess
import tempfile

from harness import MOATCTL, Client, Moat, free_port, send_message


def ctl(srv, *args):
    return subprocess.run([MOATCTL, "-f", srv.conf_path, *args],
                          capture_output=True, text=True, env=srv.env())


def served(srv, ip):
    c = Client(srv.port, source=ip)
    code, _ = c.reply()
    c.expect("QUIT", 221)
    return code == 220


def dropped(srv, ip):
    c = Client(srv.port, source=ip)
    c.sock.settimeout(5)
    try:
        return c.sock.recv(100) == b""
    except ConnectionResetError:
        return True


def blocked_lines(srv):
    return [kv for e, kv in srv.log_lines("reject") if kv.get("class") == "blocked"]


def test_network_block_closes_every_client_inside_it():
    srv = Moat(block_threshold="10")
    try:
        assert served(srv, "127.0.40.9")
        p = ctl(srv, "block", "127.0.40.0/24", "2h", "spam-run")
        assert p.returncode == 0 and "blocked: 127.0.40.0/24" in p.stdout, p
        assert dropped(srv, "127.0.40.9"), "inside: closed before any byte"
        assert dropped(srv, "127.0.40.200")
        assert served(srv, "127.0.41.9"), "outside the /24"
        assert served(srv, "127.0.39.255")
        r = blocked_lines(srv)
        assert [kv["ip"] for kv in r] == ["127.0.40.9", "127.0.40.200"], r
        assert all(kv["block"] == "127.0.40.0/24" and kv["reason"] == "spam-run"
                   and kv["stage"] == "connect" for kv in r), r
        p = ctl(srv, "blocks")
        line = [l for l in p.stdout.splitlines() if l.startswith("127.0.40.0/24 ")]
        assert len(line) == 1 and "spam-run" in line[0], p.stdout
        p = ctl(srv, "unblock", "127.0.40.0/24")
        assert p.returncode == 0 and "unblocked: 127.0.40.0/24" in p.stdout, p
        assert served(srv, "127.0.40.9"), "unblocked"
        assert "127.0.40.0/24" not in ctl(srv, "blocks").stdout
        assert len(blocked_lines(srv)) == 2
    finally:
        srv.close()


def test_a_network_inside_a_wider_one_and_a_client_inside_both():
    srv = Moat(block_threshold="10")
    try:
        for args in (("127.0.44.0/22", "1h", "wide"), ("127.0.45.0/24", "1h", "narrow"),
                     ("127.0.45.7", "1h", "one")):
            assert ctl(srv, "block", *args).returncode == 0
        for ip in ("127.0.44.1", "127.0.45.7", "127.0.45.8", "127.0.47.255"):
            assert dropped(srv, ip), ip
        assert served(srv, "127.0.48.1")
        r = {kv["ip"]: kv["block"] for kv in blocked_lines(srv)}
        assert r == {"127.0.44.1": "127.0.44.0/22", "127.0.45.7": "127.0.45.7",
                     "127.0.45.8": "127.0.45.0/24", "127.0.47.255": "127.0.44.0/22"}, r
        p = ctl(srv, "unblock", "127.0.45.0/24")
        assert p.returncode == 0
        assert "127.0.45.0 is still blocked by 127.0.44.0/22 (wide)" in p.stdout, p
        assert dropped(srv, "127.0.45.8"), "the /22 holds"
        assert ctl(srv, "unblock", "127.0.44.0/22").returncode == 0
        assert served(srv, "127.0.45.8")
        assert dropped(srv, "127.0.45.7"), "the client's own block holds"
    finally:
        srv.close()


def test_network_block_leaves_an_open_session_alone():
    srv = Moat(block_threshold="10")
    try:
        c = Client(srv.port, source="127.0.42.5")
        assert c.reply()[0] == 220
        c.expect("EHLO client.remote.example", 250)
        assert ctl(srv, "block", "127.0.42.0/24").returncode == 0
        c.expect("MAIL FROM:<sender@remote.example>", 250)
        c.expect("RCPT TO:<alice@example.test>", 250)
        c.expect("DATA", 354)
        c.send("Subject: before the block\r\n\r\nhello\r\n.\r\n")
        code, text = c.reply()
        assert code == 250, text
        c.expect("QUIT", 221)
        srv.wait_messages("alice", 1)
        assert dropped(srv, "127.0.42.5"), "the next connection is refused"
        assert "by hand" in ctl(srv, "blocks").stdout
    finally:
        srv.close()


def test_bad_prefixes_are_refused():
    srv = Moat(block_threshold="10")
    try:
        for net, why in (("127.0.43.0/33", "prefix length must be 1 to 32"),
                         ("127.0.43.0/0", "prefix length must be 1 to 32"),
                         ("127.0.43.0/", "prefix length must be 1 to 32"),
                         ("127.0.43.0/x", "prefix length must be 1 to 32"),
                         ("::/129", "prefix length must be 1 to 128"),
                         ("127.0.43.9/24", "bits set past /24 (the network is "
                                           "127.0.43.0/24)"),
                         ("127.0.43/24", "not an IP address")):
            p = ctl(srv, "block", net)
            assert p.returncode != 0 and why in p.stderr, (net, p)
            p = ctl(srv, "unblock", net)
            assert p.returncode != 0 and why in p.stderr, (net, p)
        assert ctl(srv, "blocks", "--format", "xml").returncode != 0
        assert ctl(srv, "blocks", "--format").returncode != 0
        assert served(srv, "127.0.43.9")
        assert ctl(srv, "blocks").stdout.count("\n") == 1, "only the header"
    finally:
        srv.close()


def test_ipv6_network_block():
    port6 = free_port()
    srv = Moat(start=False, block_threshold="10", block_action="reject")
    srv.conf["listen"] = [f"127.0.0.1:{srv.port}", f"[::1]:{port6}"]
    srv.write_conf()

    def client6():
        c = Client.__new__(Client)
        c.sock = socket.create_connection(("::1", port6), timeout=10)
        c.buf = b""
        c.tls = None
        return c, c.reply()
    try:
        srv.start()
        assert ctl(srv, "block", "::/120", "1h", "v6-run").returncode == 0
        c, (code, text) = client6()
        assert code == 554 and "blocked for abuse (v6-run)" in text[0], text
        assert c.closed()
        r = blocked_lines(srv)
        assert len(r) == 1 and r[0]["ip"] == "::1" and r[0]["block"] == "::/120", r
        assert served(srv, "127.0.0.1"), "IPv4 is another family"
        assert ctl(srv, "unblock", "::/120").returncode == 0
        c, (code, _) = client6()
        assert code == 220
        c.expect("QUIT", 221)
    finally:
        srv.close()


# ---- the firewall formats ----

def netns_ok():
    """Why a throwaway network namespace cannot be had here, or None."""
    if shutil.which("unshare") is None:
        return "no unshare"
    p = subprocess.run(["unshare", "-n", "true"], capture_output=True, text=True)
    return None if p.returncode == 0 else "unshare -n: " + p.stderr.strip()


def in_netns(script):
    """Run a shell script in a new, empty network namespace: nothing it
    loads touches this machine's firewall."""
    return subprocess.run(["unshare", "-n", "sh", "-c", script],
                          capture_output=True, text=True, timeout=60)


def no_timeouts(text):
    return re.sub(r"timeout \d+", "timeout N", text)


def test_nft_and_ipset_formats_load_into_fresh_sets():
    srv = Moat(block_threshold="10")
    tmp = tempfile.mkdtemp(prefix="moat-fw-")
    try:
        for args in (("192.0.2.0/24", "2h"), ("192.0.2.7", "1h"),
                     ("198.51.100.0/22", "30d"), ("2001:db8::/48", "1h"),
                     ("2001:db8:0:1::9", "1h"), ("2001:db8:5::7/128", "1h")):
            assert ctl(srv, "block", *args).returncode == 0, args
        nft = ctl(srv, "blocks", "--format", "nft").stdout
        lines = nft.splitlines()
        assert lines[:3] == [
            "add table inet moat",
            "add set inet moat blocked4 { type ipv4_addr; flags interval, timeout; auto-merge; }",
            "add set inet moat blocked6 { type ipv6_addr; flags interval, timeout; auto-merge; }",
        ], nft
        elems = [re.match(r"add element inet moat (blocked[46]) \{ (\S+) timeout (\d+)s \}$", l)
                 for l in lines[3:]]
        assert all(elems), nft
        got = [(m.group(1), m.group(2)) for m in elems]
        assert sorted(got) == sorted([
            ("blocked4", "192.0.2.0/24"), ("blocked4", "192.0.2.7"),
            ("blocked4", "198.51.100.0/22"), ("blocked6", "2001:db8::/48"),
            ("blocked6", "2001:db8:0:1::/64"), ("blocked6", "2001:db8:5::7/128")]), got
        assert [s for s, _ in got] == sorted(s for s, _ in got), "one set, then the other"
        left = {m.group(2): int(m.group(3)) for m in elems}
        assert 30 * 86400 - 5 < left["198.51.100.0/22"] <= 30 * 86400, left
        assert no_timeouts(ctl(srv, "blocks", "nft").stdout) == no_timeouts(nft), \
            "the bare word still works"

        ipset = ctl(srv, "blocks", "--format", "ipset").stdout
        lines = ipset.splitlines()
        assert lines[:2] == ["create moat-blocked4 hash:net family inet timeout 0 -exist",
                             "create moat-blocked6 hash:net family inet6 timeout 0 -exist"], ipset
        assert "add moat-blocked4 198.51.100.0/22 timeout 2147483 -exist" in lines, \
            "ipset's longest timeout"
        assert any(l.startswith("add moat-blocked6 2001:db8:0:1::/64 timeout ") for l in lines)
        assert no_timeouts(ctl(srv, "blocks", "ipset").stdout) == no_timeouts(ipset)

        with open(os.path.join(tmp, "blocks.nft"), "w") as f:
            f.write(nft)
        with open(os.path.join(tmp, "blocks.ipset"), "w") as f:
            f.write(ipset)
        why = netns_ok()
        if why is not None:
            print(f"  (not loaded into a firewall: {why})")
            return
        nftf = shlex.quote(os.path.join(tmp, "blocks.nft"))
        ipsetf = shlex.quote(os.path.join(tmp, "blocks.ipset"))
        if shutil.which("nft") is not None:
            p = in_netns(f"nft -c -f {nftf} && nft -f {nftf} && nft -f {nftf} && "
                         "nft list set inet moat blocked4")
            assert p.returncode == 0, p
            assert "192.0.2.0/24" in p.stdout and "198.51.100.0/22" in p.stdout, p.stdout
        else:
            print("  (nft is not installed: make deps installs nftables)")
        if shutil.which("ipset") is not None:
            p = in_netns(f"ipset restore < {ipsetf} && ipset restore < {ipsetf} && "
                         "ipset list moat-blocked6")
            assert p.returncode == 0, p
            assert "2001:db8::/48 timeout" in p.stdout, p.stdout
        else:
            print("  (ipset is not installed: make deps installs ipset)")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
        srv.close()


def test_a_block_by_hand_works_with_nothing_else_set():
    """No greylisting, no rate limit, no block_threshold: a block by hand
    still closes the client at accept."""
    srv = Moat()
    try:
        assert served(srv, "127.0.43.5")
        p = ctl(srv, "block", "127.0.43.5", "1h", "by hand")
        assert p.returncode == 0, p.stderr
        assert dropped(srv, "127.0.43.5")
        assert served(srv, "127.0.43.6")
        assert blocked_lines(srv)[0]["ip"] == "127.0.43.5"
    finally:
        srv.close()
