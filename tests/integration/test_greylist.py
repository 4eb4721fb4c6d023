"""Greylisting at RCPT against the real daemon: a new triplet waits
greylist_delay (451 4.7.1 with a retry hint), an early retry waits again,
a retry after the delay passes and is delivered; the sender's BATV and
SRS tags do not restart the wait; the /24 is the key; a network that
passed greylist_awl times passes every triplet; access-map OK and
postmaster are not greylisted; a store that cannot work fails open."""
import os
import re
import time

from harness import Client, Moat


def grey_moat(**settings):
    settings.setdefault("greylist", "yes")
    settings.setdefault("greylist_delay", "2s")
    return Moat(**settings)


def rcpt(srv, ip, sender, to="alice@example.test"):
    """(code, text) of RCPT after MAIL from ip; the session stays open."""
    c = Client(srv.port, source=ip)
    assert c.reply()[0] == 220
    c.expect("EHLO client.example.org", 250)
    c.expect(f"MAIL FROM:<{sender}>", 250)
    code, text = c.cmd(f"RCPT TO:<{to}>")
    return c, code, text


def lines(srv):
    return [kv for e, kv in srv.log_lines("greylist")]


def test_new_early_passed_and_delivered():
    srv = grey_moat()
    try:
        c, code, text = rcpt(srv, "127.0.1.5", "a@sender.example")
        assert code == 451 and "4.7.1" in text, text
        m = re.search(r"try again in (\d+) seconds", text)
        assert m and 1 <= int(m.group(1)) <= 2, text
        c.expect("QUIT", 221)
        c, code, _ = rcpt(srv, "127.0.1.6", "a@sender.example")    # same /24
        assert code == 451, "early"
        c.expect("QUIT", 221)
        time.sleep(2.2)
        c, code, _ = rcpt(srv, "127.0.1.7", "a@sender.example")
        assert code == 250, "after the delay, from the same network"
        c.expect("DATA", 354)
        c.expect("Subject: grey\r\n\r\nhello\r\n.", 250)
        c.expect("QUIT", 221)
        assert len(srv.wait_messages("alice", 1)) == 1
        got = [(kv["result"], kv["net"]) for kv in lines(srv)]
        assert got == [("new", "127.0.1.0/24"), ("early", "127.0.1.0/24"),
                       ("passed", "127.0.1.0/24")], got
        passed = lines(srv)[-1]
        assert int(passed["delay"]) >= 2 and passed["from"] == "a@sender.example"
        assert lines(srv)[1]["early"] == "1"
        c, code, _ = rcpt(srv, "127.0.2.5", "a@sender.example")
        assert code == 451, "another /24 is another triplet"
        c.expect("QUIT", 221)
        assert not srv.log_lines("defer"), "a greylisting is not a defer line"
    finally:
        srv.close()


def test_batv_and_srs_tags_do_not_restart_the_wait():
    srv = grey_moat()
    try:
        for sender in ("prvs=1234abcd=bob@batv.example",
                       "SRS0=HHH=TT=orig.example=carol@fwd.example"):
            c, code, _ = rcpt(srv, "127.0.3.5", sender)
            assert code == 451
            c.expect("QUIT", 221)
        time.sleep(2.2)
        for sender in ("prvs=9876fedc=bob@batv.example",
                       "srs0=XYZ=UV=orig.example=carol@fwd.example"):
            c, code, text = rcpt(srv, "127.0.3.5", sender)
            assert code == 250, (sender, text)
            c.expect("QUIT", 221)
    finally:
        srv.close()


def test_auto_allowlist_after_passes():
    srv = grey_moat(greylist_awl="2")
    try:
        for n in (1, 2):
            c, code, _ = rcpt(srv, "127.0.4.5", f"s{n}@a.example")
            assert code == 451
            c.expect("QUIT", 221)
        time.sleep(2.2)
        for n in (1, 2):
            c, code, _ = rcpt(srv, "127.0.4.5", f"s{n}@a.example")
            assert code == 250
            c.expect("QUIT", 221)
        c, code, _ = rcpt(srv, "127.0.4.9", "never-seen@b.example")
        assert code == 250, "the network passed twice: allowlisted"
        c.expect("QUIT", 221)
        assert lines(srv)[-1]["result"] == "awl"
    finally:
        srv.close()


def test_access_ok_and_postmaster_skip():
    srv = grey_moat(maps={"access": "127.0.5.5 OK\n"})
    try:
        c, code, _ = rcpt(srv, "127.0.5.5", "x@c.example")
        assert code == 250
        c.expect("QUIT", 221)
        c, code, _ = rcpt(srv, "127.0.5.6", "x@c.example", "postmaster@example.test")
        assert code == 250
        c.expect("QUIT", 221)
        assert [kv["result"] for kv in lines(srv)] == ["skip", "skip"]
    finally:
        srv.close()


def test_a_full_store_fails_open():
    """A 64 KiB map fills up: from then on RCPT passes (never a 5xx),
    one loud line says why, and the session goes on."""
    srv = grey_moat(state_db_size="64k", workers="1")
    try:
        c = Client(srv.port, source="127.0.6.5")
        assert c.reply()[0] == 220
        c.expect("EHLO client.example.org", 250)
        codes = []
        for n in range(600):
            c.expect(f"MAIL FROM:<s{n}@full.example>", 250)
            code, _ = c.cmd("RCPT TO:<alice@example.test>")
            codes.append(code)
            c.expect("RSET", 250)
            if code == 250:
                break
        assert set(codes[:-1]) == {451} and codes[-1] == 250, codes[-5:]
        assert len(codes) > 20, "some records fit before it filled"
        c.expect("QUIT", 221)
        assert lines(srv)[-1]["result"] == "skip"
        assert lines(srv)[-1]["reason"] == "store-failed"
        assert "state store: write" in srv.log() or "state store: commit" in srv.log()
        assert "MDB_MAP_FULL" in srv.log()
    finally:
        srv.close()


def test_a_garbled_store_is_set_aside_and_started_anew():
    srv = grey_moat(start=False)
    try:
        db = os.path.join(srv.dir, "db")
        os.makedirs(db, exist_ok=True)
        with open(os.path.join(db, "data.mdb"), "wb") as f:
            f.write(os.urandom(8192))
        srv.start()
        c, code, _ = rcpt(srv, "127.0.7.5", "x@garbled.example")
        assert code == 451, "greylisting works on the new store"
        c.expect("QUIT", 221)
        assert "was unreadable; moved to" in srv.log(), srv.log()[-2000:]
        assert [f for f in os.listdir(db) if f.startswith("data.mdb.corrupt-")]
    finally:
        srv.close()


def test_a_store_corrupted_while_running_fails_open_and_is_started_anew():
    """The file's pages are wiped under the running workers: the next
    RCPT passes (fails open, never a 5xx), the worker reports the file
    corrupt, the parent moves it aside and replaces the workers, and
    greylisting works again on a new file."""
    srv = grey_moat(greylist_delay="1h", workers="1")
    try:
        c, code, _ = rcpt(srv, "127.0.7.9", "x@before.example")
        assert code == 451
        c.expect("QUIT", 221)
        db = os.path.join(srv.dir, "db")
        size = os.path.getsize(os.path.join(db, "data.mdb"))
        assert size > 8192
        with open(os.path.join(db, "data.mdb"), "r+b") as f:
            f.seek(8192)                    # past LMDB's two meta pages
            f.write(bytes(size - 8192))
        c, code, _ = rcpt(srv, "127.0.7.9", "x@before.example")
        assert code == 250, "a broken store is never a refusal"
        c.expect("QUIT", 221)
        assert lines(srv)[-1]["reason"] == "store-failed"
        srv.wait_log(lambda ev, kv: ev == "store")
        assert "was found corrupt by a worker; moved to" in srv.log()
        assert [f for f in os.listdir(db) if f.startswith("data.mdb.corrupt-")]
        deadline = time.time() + 10
        while True:
            c, code, _ = rcpt(srv, "127.0.7.9", "x@before.example")
            c.expect("QUIT", 221)
            if code == 451 or time.time() > deadline:
                break
            time.sleep(0.2)     # the old worker may still take one session
        assert code == 451, "the new store greylists"
        assert lines(srv)[-1]["result"] == "new"
        assert srv.log().count("was found corrupt") == 1, "renewed once"
    finally:
        srv.close()


def moatctl(srv, *args):
    import subprocess
    from harness import MOATCTL
    return subprocess.run([MOATCTL, "-f", srv.conf_path, "greylist", *args],
                          capture_output=True, text=True, env=srv.env(), timeout=10)


def test_moatctl_lists_counts_allows_and_deletes_while_moatd_runs():
    srv = grey_moat(greylist_delay="1h")
    try:
        c, code, _ = rcpt(srv, "127.0.8.5", "Prvs=abc=Dora@Ctl.example")
        assert code == 451
        c.expect("QUIT", 221)
        p = moatctl(srv, "list")
        assert p.returncode == 0, p
        rows = [l.split() for l in p.stdout.splitlines()[1:]]
        assert len(rows) == 1 and rows[0][0] == "waiting", p.stdout
        assert rows[0][-3:] == ["127.0.8.0/24", "dora@ctl.example", "alice@example.test"]
        p = moatctl(srv, "stats")
        assert "triplets 1 (waiting 1, passed 0)" in p.stdout, p.stdout
        # an address stands for its network; the sender is normalised
        p = moatctl(srv, "allow", "127.0.8.77", "prvs=zzz=dora@ctl.example",
                    "alice@example.test")
        assert p.returncode == 0 and "127.0.8.0/24 dora@ctl.example" in p.stdout, p
        c, code, _ = rcpt(srv, "127.0.8.5", "dora@ctl.example")
        assert code == 250, "allowed by moatctl"
        c.expect("QUIT", 221)
        assert "passed 1" in moatctl(srv, "stats").stdout
        p = moatctl(srv, "delete", "127.0.8.99/24", "dora@ctl.example",
                    "alice@example.test")          # made the /24 it keys
        assert p.returncode == 0, p
        assert moatctl(srv, "delete", "127.0.8.0/24", "dora@ctl.example",
                       "alice@example.test").returncode == 1
        c, code, _ = rcpt(srv, "127.0.8.5", "dora@ctl.example")
        assert code == 451, "forgotten: new again"
        c.expect("QUIT", 221)
        assert moatctl(srv, "bogus").returncode == 2
        p = moatctl(srv, "allow", "ptr:bigpool.example", "a@b.example", "alice@example.test")
        assert p.returncode == 0 and "ptr:bigpool.example a@b.example" in p.stdout, p
    finally:
        srv.close()


def test_expired_triplets_are_swept():
    """Workers sweep when they start and every minute after: a triplet
    never retried within greylist_window is gone after a restart."""
    srv = grey_moat(greylist_window="1s", greylist_delay="0")
    try:
        for n in range(5):
            c, code, _ = rcpt(srv, "127.0.9.5", f"s{n}@sweep.example")
            assert code == 451
            c.expect("QUIT", 221)
        assert "triplets 5 " in moatctl(srv, "stats").stdout
        time.sleep(2.5)     # past the window, counted in whole seconds
        srv.stop()
        srv.start()
        deadline = time.time() + 10
        while time.time() < deadline and "triplets 0 " not in moatctl(srv, "stats").stdout:
            time.sleep(0.2)
        assert "triplets 0 " in moatctl(srv, "stats").stdout, moatctl(srv, "stats").stdout
    finally:
        srv.close()


def test_ptr_domain_key_and_the_allow_map():
    """Two hosts of one pool in two networks share a triplet by the
    organisational domain of their verified PTR; a dynamic PTR keeps the
    network; the greylist_allow map lets a client name or a sender
    domain through."""
    from dnsserver import DNSServer
    with DNSServer() as dns:
        for ip, name in (("127.0.10.5", "mail1.bigpool.example"),
                         ("127.0.11.5", "mail2.bigpool.example"),
                         ("127.0.12.5", "dsl-127-0-12-5.isp.example"),
                         ("127.0.13.5", "relay.trusted.example")):
            rev = ".".join(reversed(ip.split(".")))
            dns.add(f"{rev}.in-addr.arpa", "PTR", name)
            dns.add(name, "A", ip)
        tmp = os.path.join("/tmp", f"moat-dyn-{os.getpid()}")
        with open(tmp, "w") as f:
            f.write("(^|[.-])dsl[.-]\n")
        srv = grey_moat(resolver=f"127.0.0.1:{dns.port}", greylist_key="ptr-domain",
                        dynamic_ptr=tmp, dns_action="log",
                        maps={"greylist_allow": ".trusted.example OK\n"
                                                "from:allowed.example OK\n"})
        try:
            c, code, _ = rcpt(srv, "127.0.10.5", "n@bigpool.example")
            assert code == 451
            c.expect("QUIT", 221)
            c, code, _ = rcpt(srv, "127.0.12.5", "n@bigpool.example")
            assert code == 451
            c.expect("QUIT", 221)
            time.sleep(2.2)
            c, code, text = rcpt(srv, "127.0.11.5", "n@bigpool.example")
            assert code == 250, ("another host of the pool", text)
            c.expect("QUIT", 221)
            c, code, _ = rcpt(srv, "127.0.13.5", "x@elsewhere.example")
            assert code == 250, "the client's name is on the allow map"
            c.expect("QUIT", 221)
            c, code, _ = rcpt(srv, "127.0.14.5", "x@allowed.example")
            assert code == 250, "the sender's domain is on the allow map"
            c.expect("QUIT", 221)
            c, code, _ = rcpt(srv, "127.0.15.5", "x@relay.trusted.example")
            assert code == 451, "a client name key never lets a sender through"
            c.expect("QUIT", 221)
            got = [(kv["ip"], kv["result"], kv.get("net")) for kv in lines(srv)]
            assert got == [("127.0.10.5", "new", "ptr:bigpool.example"),
                           ("127.0.12.5", "new", "127.0.12.0/24"),
                           ("127.0.11.5", "passed", "ptr:bigpool.example"),
                           ("127.0.13.5", "skip", None),
                           ("127.0.14.5", "skip", None),
                           ("127.0.15.5", "new", "127.0.15.0/24")], got
        finally:
            srv.close()
            os.unlink(tmp)


def test_the_shipped_allow_map_compiles_and_matches_pools():
    import subprocess
    from harness import MOATCTL, ROOT
    with open(os.path.join(ROOT, "conf", "default", "greylist_allow")) as f:
        text = f.read()
    srv = grey_moat(maps={"greylist_allow": text})
    try:
        for name, found in (("mail-wr1-f41.google.com", 0),
                            ("a48-30.smtp-out.amazonses.com", 0),
                            ("mail.spammer.example", 1)):
            p = subprocess.run([MOATCTL, "-f", srv.conf_path, "query",
                                "greylist_allow", name],
                               capture_output=True, text=True, env=srv.env())
            assert p.returncode == found, (name, p)
    finally:
        srv.close()


def test_workers_killed_mid_write_leave_a_store_that_works():
    """Workers killed with SIGKILL while greylisting writes (possibly in a
    write transaction, holding LMDB's writer lock, or a reader slot):
    the survivors and their replacements go on writing, nothing hangs."""
    import signal
    import threading
    srv = grey_moat(workers="2")
    stop = time.time() + 6
    errors = []

    def hammer(base):
        n = 0
        while time.time() < stop:
            n += 1
            try:
                c, code, _ = rcpt(srv, f"127.0.{base}.{n % 200 + 1}", f"k{n}@kill.example")
                if code not in (451, 250):
                    errors.append(code)
                c.close()
            except (OSError, EOFError, AssertionError):
                pass            # the connection died with its worker
    try:
        threads = [threading.Thread(target=hammer, args=(30 + i,)) for i in range(4)]
        for t in threads:
            t.start()
        for _ in range(4):
            time.sleep(1)
            w = srv.workers()
            if w:
                os.kill(w[0], signal.SIGKILL)
        for t in threads:
            t.join(30)
        assert not errors, errors
        time.sleep(1.5)         # replacements are up
        t0 = time.time()
        c, code, _ = rcpt(srv, "127.0.40.1", "after@kill.example")
        assert code == 451 and time.time() - t0 < 3, "the store still writes, at once"
        c.expect("QUIT", 221)
        p = moatctl(srv, "stats")
        assert p.returncode == 0 and "triplets" in p.stdout, p
        assert "state store:" not in srv.log(), [l for l in srv.log().splitlines()
                                                  if "state store:" in l][:5]
    finally:
        srv.close()
