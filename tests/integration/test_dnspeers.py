"""The DNS test infrastructure itself: the responder in dnsserver.py
(records, wildcards, negative answers, every misbehaviour, delays that
do not serialise, synthesised loopback names, TCP, the standalone
program) and the real servers in dnspeers.py (rbldnsd, and dnsmasq as
the one front forwarding to the others).  Raw packets are parsed here
by hand where a mode is meant to break parsers."""
import os
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import time

from dnsserver import (AA, BAD_LABELS, MODES, QR, RD, TC, TYPES, DNSServer,
                       Message, big_receive_buffer, build_query, encode_name,
                       exchange, query, read_frame)
from dnspeers import Dnsmasq, Rbldnsd

HERE = os.path.dirname(os.path.abspath(__file__))
NXDOMAIN, SERVFAIL, REFUSED = 3, 2, 5


def raw(port, name, rtype="A", tcp=False, qid=4242, timeout=1.0, **kw):
    return exchange(port, build_query(name, rtype, qid, **kw), tcp, timeout)


def no_reply(port, name, tcp=False):
    """True when nothing comes back within 0.3 s."""
    try:
        raw(port, name, tcp=tcp, timeout=0.3)
    except TimeoutError:
        return True
    return False


def parse_fails(data):
    try:
        Message(data)
    except ValueError:
        return True
    return False


def test_records_of_each_type():
    with DNSServer() as srv:
        srv.add("Mail.Example.test", "A", "192.0.2.1")
        srv.add("mail.example.test", "A", "192.0.2.2", ttl=60)
        srv.add("mail.example.test", "AAAA", "2001:db8::25")
        srv.add("1.2.0.192.in-addr.arpa", "PTR", "mail.example.test")
        srv.add("example.test", "MX", "10 mail.example.test")
        srv.add("example.test", "MX", "20 backup.example.test")
        srv.add("nullmx.test", "MX", "0 .")
        srv.add("example.test", "TXT", "v=spf1 -all")
        srv.add("www.example.test", "CNAME", "mail.example.test")
        assert query(srv.port, "MAIL.example.test.", "A") == (0, ["192.0.2.1", "192.0.2.2"])
        assert query(srv.port, "mail.example.test", "AAAA") == (0, ["2001:db8::25"])
        assert query(srv.port, "1.2.0.192.in-addr.arpa", "PTR") == (0, ["mail.example.test"])
        assert query(srv.port, "example.test", "MX") == (
            0, ["10 mail.example.test", "20 backup.example.test"])
        assert query(srv.port, "nullmx.test", "MX") == (0, ["0 ."])
        assert query(srv.port, "example.test", "TXT") == (0, ["v=spf1 -all"])
        assert query(srv.port, "www.example.test", "A") == (
            0, ["mail.example.test", "192.0.2.1", "192.0.2.2"])
        ttls = [rr[2] for rr in Message(raw(srv.port, "mail.example.test")).answer]
        assert ttls == [300, 60], ttls
        assert not srv.errors, srv.errors


def test_wildcards():
    with DNSServer() as srv:
        srv.add("*.bl.test", "A", "127.0.0.2")
        srv.add("*.bl.test", "TXT", "listed")
        srv.add("9.0.0.127.bl.test", "A", "127.0.0.9")
        assert query(srv.port, "2.0.0.127.bl.test", "A") == (0, ["127.0.0.2"])
        assert query(srv.port, "a.b.c.bl.test", "TXT") == (0, ["listed"])
        assert query(srv.port, "9.0.0.127.bl.test", "A") == (0, ["127.0.0.9"])
        assert query(srv.port, "9.0.0.127.bl.test", "TXT") == (0, [])
        assert query(srv.port, "2.0.0.127.bl.test", "AAAA") == (0, [])
        assert query(srv.port, "bl.test", "A") == (0, [])        # above the wildcard
        assert query(srv.port, "2.0.0.127.other.test", "A") == (NXDOMAIN, [])
        owner = Message(raw(srv.port, "5.0.0.127.BL.test")).answer[0][0]
        assert owner == "5.0.0.127.bl.test", owner


def test_nxdomain_and_nodata():
    with DNSServer() as srv:
        srv.add("host.zone.test", "A", "192.0.2.7")
        srv.add("zone.test", "SOA", "ns.zone.test hostmaster.zone.test 1 3600 600 86400 60")
        nx = Message(raw(srv.port, "nope.zone.test", qid=7, rd=False))
        assert nx.rcode == NXDOMAIN and nx.flags & AA and nx.flags & QR, hex(nx.flags)
        assert not nx.flags & RD and not nx.flags & 0x0080, hex(nx.flags)   # RD copied, RA 0
        assert nx.id == 7 and nx.question == [("nope.zone.test", TYPES["A"])]
        assert nx.answer == [] and nx.authority[0][:2] == ("zone.test", TYPES["SOA"])
        nodata = Message(raw(srv.port, "host.zone.test", "MX"))
        assert nodata.rcode == 0 and nodata.answer == [] and nodata.flags & RD
        assert nodata.authority[0][3] == "ns.zone.test hostmaster.zone.test 1 3600 600 86400 60"
        assert query(srv.port, "other.test", "A") == (NXDOMAIN, [])


def test_edns_query_gets_an_opt_back():
    with DNSServer() as srv:
        srv.add("e.test", "A", "192.0.2.8")
        reply = Message(raw(srv.port, "e.test", edns=True))
        assert reply.answer[0][3] == "192.0.2.8"
        assert [rr[1] for rr in reply.additional] == [TYPES["OPT"]]
        assert Message(raw(srv.port, "e.test")).additional == []


def test_large_answer_is_truncated_over_udp_only():
    with DNSServer() as srv:
        for i in range(40):
            srv.add("big.test", "TXT", f"record {i:02d} " + "x" * 20)
        udp = Message(raw(srv.port, "big.test", "TXT"))
        assert udp.flags & TC and udp.answer == []
        assert len(Message(raw(srv.port, "big.test", "TXT", tcp=True)).answer) == 40
        assert len(query(srv.port, "big.test", "TXT")[1]) == 40   # retried over TCP


def test_misbehaving_modes():
    with DNSServer() as srv:
        srv.add("*.m.test", "A", "127.0.0.3")
        for mode in MODES:
            srv.behave(f"{mode}.m.test", mode)
        srv.behave("*.quiet.m.test", "silent")
        port = srv.port
        assert no_reply(port, "silent.m.test") and no_reply(port, "silent.m.test", tcp=True)
        assert no_reply(port, "x.quiet.m.test")
        assert Message(raw(port, "servfail.m.test")).rcode == SERVFAIL
        assert Message(raw(port, "refused.m.test", tcp=True)).rcode == REFUSED
        check_truncated(port)
        check_broken_bytes(port)
        check_bad_records(port)
        wrong = Message(raw(port, "wrongid.m.test", qid=100))
        assert wrong.id != 100 and wrong.answer[0][3] == "127.0.0.3"
        other = Message(raw(port, "mismatch.m.test"))
        assert other.question == [("wrong.mismatch.m.test", TYPES["A"])]
        assert other.answer[0][3] == "127.0.0.3"
        srv.behave("servfail.m.test", None)
        assert query(port, "servfail.m.test", "A") == (0, ["127.0.0.3"])
        assert not srv.errors, srv.errors


def check_truncated(port):
    for name in ("truncated.m.test", "truncated-tcp-garbage.m.test"):
        udp = Message(raw(port, name))
        assert udp.flags & TC and udp.answer == [], (name, udp.flags)
    assert Message(raw(port, "truncated.m.test", tcp=True)).answer[0][3] == "127.0.0.3"
    assert query(port, "truncated.m.test", "A") == (0, ["127.0.0.3"])
    right = raw(port, "plain.m.test", tcp=True)
    cut = raw(port, "truncated-tcp-garbage.m.test", tcp=True)
    assert len(cut) < len(right) - 10 and parse_fails(cut), cut


def check_broken_bytes(port):
    short = raw(port, "short.m.test", qid=0x1234)
    assert len(short) == 7 and short[:2] == b"\x12\x34", short
    garbage = [raw(port, "garbage.m.test", qid=0x4321) for _ in range(3)]
    for g in garbage:
        assert 1 <= len(g) <= 512
        assert parse_fails(g) or Message(g).question != [("garbage.m.test", 1)]
    assert len(set(garbage)) == 3


def check_bad_records(port):
    question_len = len(encode_name("loop.m.test")) + 4
    loop = raw(port, "loop.m.test")
    at = 12 + question_len
    assert struct.unpack_from("!H", loop, at)[0] == 0xC000 | at
    assert parse_fails(loop)
    long = raw(port, "longlabel.m.test")
    at = 12 + len(encode_name("longlabel.m.test")) + 4
    assert long[at] == 64 and parse_fails(long)
    bad = Message(raw(port, "badname.m.test", "PTR")).answer
    assert bad[0][1] == TYPES["PTR"]
    target = bad[0][3]
    assert target == ".".join(x.decode("latin-1") for x in BAD_LABELS)
    for needle in (";", "|", "&", "$(", "<", ">", "'", '"', "`", "\\", " ", "\n", "\r", "\0"):
        assert needle in target, needle


def test_malformed_queries_are_dropped():
    with DNSServer() as srv:
        srv.add("ok.test", "A", "192.0.2.9")
        reply_not_query = build_query("ok.test", "A", 3)
        reply_not_query = reply_not_query[:2] + b"\x81\x00" + reply_not_query[4:]
        bad = [b"", b"\x00", b"\x12\x34\x01\x00\x00\x01", b"\xff" * 40,
               struct.pack("!6H", 1, 0, 1, 0, 0, 0) + b"\xc0\x0c\x00\x01\x00\x01",
               struct.pack("!6H", 2, 0, 1, 0, 0, 0) + b"\x3fabc", reply_not_query]
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.settimeout(2)
            s.connect(("127.0.0.1", srv.port))
            for packet in bad:
                s.send(packet)
            s.send(build_query("ok.test", "A", 99))
            reply = Message(s.recv(65535))
        assert reply.id == 99 and reply.answer[0][3] == "192.0.2.9"
        with socket.create_connection(("127.0.0.1", srv.port), timeout=2) as s:
            s.sendall(b"\x00\x05hello" + b"\x00\x00")
        assert query(srv.port, "ok.test", "A", tcp=True) == (0, ["192.0.2.9"])
        assert srv.queries == [("ok.test", "A", "udp"), ("ok.test", "A", "tcp")]
        assert not srv.errors, srv.errors


def test_delay_does_not_serialise():
    """500 queries at once, each delayed 0.3 s: all answered about 0.3 s
    later, none early, none lost."""
    with DNSServer(delay=0.3) as srv:
        srv.add("*.slow.test", "A", "127.0.0.2")
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            big_receive_buffer(s)      # the 500 replies come in one burst
            s.settimeout(2)
            s.connect(("127.0.0.1", srv.port))
            t0 = time.monotonic()
            for i in range(500):
                s.send(build_query(f"{i}.slow.test", "A", i))
            first = None
            ids = set()
            while len(ids) < 500 and time.monotonic() - t0 < 3:
                m = Message(s.recv(65535))
                first = first or time.monotonic() - t0
                assert m.answer[0][3] == "127.0.0.2"
                ids.add(m.id)
            took = time.monotonic() - t0
        assert ids == set(range(500)), len(ids)
        assert 0.28 <= first and took < 1.5, (first, took)
        srv.delay = 0.0
        t0 = time.monotonic()
        assert query(srv.port, "x.slow.test", "A") == (0, ["127.0.0.2"])
        assert time.monotonic() - t0 < 0.2


def test_delay_over_tcp():
    with DNSServer(delay=0.2) as srv:
        srv.add("t.test", "A", "192.0.2.10")
        t0 = time.monotonic()
        rcodes = [query(srv.port, "t.test", "A", tcp=True)[0] for _ in range(2)]
        assert rcodes == [0, 0] and 0.38 <= time.monotonic() - t0 < 1.0


def test_tcp_two_queries_on_one_connection():
    with DNSServer() as srv:
        srv.add("one.test", "A", "192.0.2.1")
        srv.add("two.test", "MX", "5 one.test")
        frames = b"".join(struct.pack("!H", len(q)) + q for q in
                          (build_query("one.test", "A", 1), build_query("two.test", "MX", 2)))
        with socket.create_connection(("127.0.0.1", srv.port), timeout=2) as s:
            s.sendall(frames)
            replies = [Message(read_frame(s, time.monotonic() + 2)) for _ in range(2)]
        assert [(m.id, m.answer[0][3]) for m in replies] == [(1, "192.0.2.1"), (2, "5 one.test")]
        assert srv.count("ONE.test.", "a") == 1 and srv.count(rtype="MX") == 1
        assert srv.queries == [("one.test", "A", "tcp"), ("two.test", "MX", "tcp")]
        srv.clear_log()
        assert srv.queries == [] and srv.count() == 0


def test_synth_loopback():
    with DNSServer() as srv:
        srv.synth_loopback("bench.example", ttl=60)
        srv.add("9.0.0.127.in-addr.arpa", "PTR", "fixed.example")
        assert query(srv.port, "3.2.1.127.in-addr.arpa", "PTR") == (
            0, ["h-127-1-2-3.bench.example"])
        assert query(srv.port, "h-127-1-2-3.bench.example", "A") == (0, ["127.1.2.3"])
        assert query(srv.port, "h-127-1-2-3.bench.example", "AAAA") == (0, [])
        assert Message(raw(srv.port, "h-127-1-2-3.bench.example")).answer[0][2] == 60
        assert query(srv.port, "9.0.0.127.in-addr.arpa", "PTR") == (0, ["fixed.example"])
        assert query(srv.port, "3.2.1.10.in-addr.arpa", "PTR")[0] == NXDOMAIN
        assert query(srv.port, "h-127-1-2-3.other.example", "A")[0] == NXDOMAIN
        assert query(srv.port, "h-127-1-2-300.bench.example", "A")[0] == NXDOMAIN


def test_standalone_program():
    with tempfile.TemporaryDirectory() as d:
        records = os.path.join(d, "records")
        with open(records, "w") as f:
            f.write("# zones\n*.bl.test A 127.0.0.2 60\n*.bl.test TXT \"listed here\"\n"
                    "example.test MX 10 mx.example.test 120\n")
        pidfile = os.path.join(d, "pid")
        p = subprocess.Popen([sys.executable, os.path.join(HERE, "dnsserver.py"), "--port", "0",
                              "--records", records, "--synth-loopback", "s.example",
                              "--pidfile", pidfile, "--delay", "0.05"],
                             stdout=subprocess.PIPE, text=True)
        try:
            line = p.stdout.readline()
            assert line.startswith("dnsserver listening on 127.0.0.1:"), line
            port = int(line.rsplit(":", 1)[1])
            with open(pidfile) as f:
                assert int(f.read()) == p.pid
            assert query(port, "4.3.2.1.bl.test", "TXT") == (0, ["listed here"])
            assert Message(raw(port, "4.3.2.1.bl.test")).answer[0][2:] == (60, "127.0.0.2")
            assert query(port, "example.test", "MX") == (0, ["10 mx.example.test"])
            assert query(port, "h-127-0-0-5.s.example", "A") == (0, ["127.0.0.5"])
        finally:
            os.kill(p.pid, signal.SIGTERM)
            assert p.wait(5) == 0
        assert not os.path.exists(pidfile)


RBL_ZONES = {
    "bl.test": ("ip4set", ["127.0.0.2", "192.0.2.0/24 :127.0.0.4:listed $"]),
    "dbl.test": ("dnset", [".spam.example :127.0.1.2:spam domain", "bad.example"]),
}


def test_rbldnsd_listed_and_not():
    with Rbldnsd(RBL_ZONES) as rbl:
        port = rbl.port
        assert query(port, "2.0.0.127.bl.test", "A") == (0, ["127.0.0.2"])
        assert query(port, "3.0.0.127.bl.test", "A") == (NXDOMAIN, [])
        assert query(port, "9.2.0.192.bl.test", "A") == (0, ["127.0.0.4"])
        assert query(port, "9.2.0.192.bl.test", "TXT") == (0, ["listed 192.0.2.9"])
        assert query(port, "spam.example.dbl.test", "A") == (0, ["127.0.1.2"])
        assert query(port, "x.spam.example.dbl.test", "TXT") == (0, ["spam domain"])
        assert query(port, "bad.example.dbl.test", "A") == (0, ["127.0.0.2"])
        assert query(port, "sub.bad.example.dbl.test", "A") == (NXDOMAIN, [])
        assert query(port, "good.example.dbl.test", "A") == (NXDOMAIN, [])
    assert rbl.proc.returncode is not None and not os.path.exists(rbl.dir)


def test_dnsmasq_front_for_everything():
    with Rbldnsd(RBL_ZONES) as rbl, DNSServer() as srv:
        srv.synth_loopback("bench.example")
        srv.add("*.ds.test", "A", "127.0.0.3")
        records = [("9.0.0.127.in-addr.arpa", "PTR", "mx.own.test"),
                   ("mx.own.test", "A", "127.0.0.9"),
                   ("own.test", "MX", "10 mx.own.test"),
                   ("own.test", "TXT", 'v=spf1 "quoted", ok')]
        forward = {"bl.test": rbl.port, "ds.test": srv.port,
                   "127.in-addr.arpa": srv.port, "bench.example": srv.port}
        with Dnsmasq(records, forward) as front:
            port = front.port
            assert query(port, "9.0.0.127.in-addr.arpa", "PTR") == (0, ["mx.own.test"])
            assert query(port, "mx.own.test", "A") == (0, ["127.0.0.9"])
            assert query(port, "mx.own.test", "AAAA") == (0, [])
            assert query(port, "own.test", "MX") == (0, ["10 mx.own.test"])
            assert query(port, "own.test", "TXT") == (0, ['v=spf1 "quoted", ok'])
            assert query(port, "nowhere.own.test", "A") == (NXDOMAIN, [])
            assert query(port, "2.0.0.127.bl.test", "A") == (0, ["127.0.0.2"])
            assert query(port, "3.0.0.127.bl.test", "A") == (NXDOMAIN, [])
            assert query(port, "1.2.3.4.ds.test", "A") == (0, ["127.0.0.3"])
            assert query(port, "5.0.0.127.in-addr.arpa", "PTR") == (
                0, ["h-127-0-0-5.bench.example"])
            assert query(port, "h-127-0-0-5.bench.example", "A") == (0, ["127.0.0.5"])
        assert ("1.2.3.4.ds.test", "A", "udp") in srv.queries
        assert srv.count("9.0.0.127.in-addr.arpa") == 0     # dnsmasq's own
