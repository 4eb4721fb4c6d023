"""DNS checks of the envelope sender's domain, against a DNS server on
loopback: rhsbl_sender zones and sender_domain = require-resolvable (MX,
A or AAAA; null MX refused; temporary failures 450 4.1.8), at RCPT with
delay_reject (the default) or at MAIL without it, in log mode, skipped
for access-map OK clients, and never confused by a slow answer meant
for an earlier MAIL of the same session."""
import time

from dnsserver import DNSServer
from harness import Client, Moat


def dns_moat(dns, **settings):
    """Probes off unless asked: the zones here have no test entries."""
    settings.setdefault("resolver", f"127.0.0.1:{dns.port}")
    settings.setdefault("dnsbl_probe_interval", "0")
    return Moat(**settings)


def greet(srv, ip="127.0.0.5"):
    c = Client(srv.port, source=ip)
    code, _ = c.reply()
    assert code == 220, code
    c.expect("EHLO client.example.org", 250)
    return c


def mail_rcpt(c, sender, rcpt="alice@example.test"):
    """MAIL (asserted 250) then RCPT: (code, text) of the RCPT."""
    c.expect(f"MAIL FROM:<{sender}>", 250)
    c.send(f"RCPT TO:<{rcpt}>\r\n")
    code, text = c.reply()
    return code, " ".join(text)


def deliver(c, subject):
    c.expect("DATA", 354)
    c.expect(f"Subject: {subject}\r\n\r\nhello\r\n.", 250)


def events(srv, event):
    return [kv for ev, kv in srv.log_lines(event)]


def resolvable_zone(dns):
    dns.add("mx.example", "MX", "10 mail.mx.example")
    dns.add("mail.mx.example", "A", "127.0.0.9")
    dns.add("a-only.example", "A", "127.0.0.9")
    dns.add("aaaa-only.example", "AAAA", "::1")
    dns.add("nullmx.example", "MX", "0 .")
    dns.add("nullmx.example", "A", "127.0.0.9")     # null MX wins over A
    dns.add("txt-only.example", "TXT", "hello")
    dns.add("broken.example", "A", "127.0.0.9")
    dns.behave("broken.example", "servfail")


def test_rhsbl_listed_sender_domain_refused_at_rcpt():
    with DNSServer() as dns:
        dns.add("spam.example.rhs.test", "A", "127.0.0.2")
        dns.add("odd.example.rhs.test", "A", "127.0.0.3")
        srv = dns_moat(dns, rhsbl_sender="rhs.test=127.0.0.2")
        try:
            c = greet(srv)
            code, text = mail_rcpt(c, "x@spam.example")
            assert code == 554 and "5.7.1" in text and "spam.example" in text, text
            c.expect("RSET", 250)
            code, _ = mail_rcpt(c, "x@odd.example")
            assert code == 250, "an answer code not configured is no listing"
            deliver(c, "odd")
            code, _ = mail_rcpt(c, "x@clean.example")
            assert code == 250
            deliver(c, "clean")
            c.expect("QUIT", 221)
            msgs = srv.wait_messages("alice", 2)
            assert sorted(b"odd" in m for m in msgs) == [False, True]
            time.sleep(0.2)
            r = events(srv, "reject")
            assert len(r) == 1, r
            assert r[0]["class"] == "rhsbl:rhs.test" and r[0]["stage"] == "rcpt"
            assert r[0]["from"] == "x@spam.example" and r[0]["to"] == "alice@example.test"
            assert r[0]["hits"] == "rhs.test=127.0.0.2", r[0]
            assert not [m for m in msgs if b"spam.example" in m]
        finally:
            srv.close()


def test_sender_domain_require_resolvable():
    with DNSServer() as dns:
        resolvable_zone(dns)
        srv = dns_moat(dns, sender_domain="require-resolvable")
        try:
            c = greet(srv)
            cases = [("mx.example", 250, None),
                     ("a-only.example", 250, None),
                     ("aaaa-only.example", 250, None),
                     ("nullmx.example", 550, "5.7.27"),
                     ("nowhere.example", 550, "5.1.8"),
                     ("txt-only.example", 550, "5.1.8"),
                     ("broken.example", 450, "4.1.8")]
            for domain, want, enh in cases:
                code, text = mail_rcpt(c, f"someone@{domain}")
                assert code == want, (domain, code, text)
                if enh:
                    assert enh in text and domain in text, (domain, text)
                c.expect("RSET", 250)
            c.expect("MAIL FROM:<>", 250)       # the null sender has no domain
            c.expect("RCPT TO:<alice@example.test>", 250)
            deliver(c, "bounce")
            c.expect("QUIT", 221)
            assert len(srv.wait_messages("alice", 1)) == 1
            time.sleep(0.2)
            got = {kv["from"].split("@")[1]: (ev, kv["class"])
                   for ev, kv in srv.log_lines() if ev in ("reject", "defer")}
            assert got == {"nullmx.example": ("reject", "sender:null-mx"),
                           "nowhere.example": ("reject", "sender:unresolvable"),
                           "txt-only.example": ("reject", "sender:unresolvable"),
                           "broken.example": ("defer", "sender:unresolvable")}, got
        finally:
            srv.close()


def test_silent_server_is_a_temporary_failure_within_the_budget():
    with DNSServer() as dns:
        dns.behave("*.slow.example", "silent")
        dns.behave("slow.example", "silent")
        srv = dns_moat(dns, sender_domain="require-resolvable",
                       dnsbl_timeout="1s")
        try:
            c = greet(srv)
            t0 = time.time()
            code, text = mail_rcpt(c, "x@slow.example")
            took = time.time() - t0
            assert code == 450 and "4.1.8" in text, text
            assert 0.8 < took < 3, took
            c.expect("QUIT", 221)
        finally:
            srv.close()


def test_without_delay_reject_the_mail_reply_carries_the_refusal():
    with DNSServer(delay=0.2) as dns:
        resolvable_zone(dns)
        dns.add("spam.example.rhs.test", "A", "127.0.0.2")
        srv = dns_moat(dns, sender_domain="require-resolvable",
                       rhsbl_sender="rhs.test", delay_reject="no")
        try:
            c = greet(srv)
            # pipelined: the MAIL reply waits for DNS, the RCPT after it
            c.send("MAIL FROM:<x@nullmx.example>\r\nRCPT TO:<alice@example.test>\r\n")
            code, text = c.reply()
            assert code == 550 and "5.7.27" in " ".join(text), text
            code, _ = c.reply()
            assert code == 503, "the RCPT after it has no transaction"
            c.expect("MAIL FROM:<x@spam.example>", 554)
            t0 = time.time()
            c.expect("MAIL FROM:<x@mx.example>", 250)
            assert time.time() - t0 > 0.15, "the reply waited for DNS"
            c.expect("RCPT TO:<alice@example.test>", 250)
            deliver(c, "fine")
            c.expect("QUIT", 221)
            assert len(srv.wait_messages("alice", 1)) == 1
            r = events(srv, "reject")
            assert [(kv["stage"], kv["class"]) for kv in r] == [
                ("mail", "sender:null-mx"), ("mail", "rhsbl:rhs.test")], r
        finally:
            srv.close()


def test_log_mode_and_access_ok():
    with DNSServer() as dns:
        resolvable_zone(dns)
        srv = dns_moat(dns, sender_domain="require-resolvable",
                       dns_action="log", maps={"access": "127.0.0.7 OK\n"})
        try:
            c = greet(srv)
            code, _ = mail_rcpt(c, "x@nowhere.example")
            assert code == 250, "log mode refuses nothing"
            deliver(c, "logged")
            c.expect("QUIT", 221)
            w = events(srv, "would-reject")
            assert len(w) == 1 and w[0]["class"] == "sender:unresolvable", w
            assert w[0]["stage"] == "rcpt" and w[0]["from"] == "x@nowhere.example"
            assert not events(srv, "reject")
            dns.clear_log()
            c = greet(srv, "127.0.0.7")
            code, _ = mail_rcpt(c, "x@elsewhere.example")
            assert code == 250
            c.expect("QUIT", 221)
            assert dns.count("elsewhere.example") == 0, dns.queries
            assert len(srv.wait_messages("alice", 1)) == 1
        finally:
            srv.close()


def test_a_slow_answer_for_an_earlier_mail_is_not_taken_for_the_next():
    with DNSServer() as dns:
        dns.add("spam.example.rhs.test", "A", "127.0.0.2")
        srv = dns_moat(dns, rhsbl_sender="rhs.test", dnsbl_timeout="5s")
        try:
            c = greet(srv)
            dns.delay = 0.3                 # the listing comes at 0.3 s
            c.expect("MAIL FROM:<x@spam.example>", 250)
            c.expect("RSET", 250)
            dns.delay = 1.0                 # the new sender's answer at 1 s
            t0 = time.time()
            code, text = mail_rcpt(c, "x@clean.example")
            assert code == 250, text
            assert time.time() - t0 > 0.8, "RCPT waited for its own answer"
            c.expect("QUIT", 221)
            assert not events(srv, "reject")
        finally:
            srv.close()


def test_real_peers_rbldnsd_lists_and_dnsmasq_records():
    """rbldnsd serving a DNSBL, a DNSWL and a domain list (each with its
    RFC 5782 test entry, so the health probe, on here, keeps them), and
    dnsmasq serving MX records and forwarding the zones to it."""
    from dnspeers import Dnsmasq, Rbldnsd
    zones = {"bl.test": ("ip4set", ["127.0.0.2", "127.0.0.151", "127.0.0.152"]),
             "wl.test": ("ip4set", ["127.0.0.2", "127.0.0.151"]),
             "dbl.test": ("dnset", ["test", "spam.example"])}
    with Rbldnsd(zones) as rbl:
        records = [("own.example", "MX", "10 mail.own.example"),
                   ("mail.own.example", "A", "127.0.0.9"),
                   ("nullmx.example", "MX", "0 .")]
        with Dnsmasq(records, forward={z: rbl.port for z in zones}) as front:
            srv = Moat(resolver=f"127.0.0.1:{front.port}", dnsbl="bl.test",
                       dnswl="wl.test", rhsbl_sender="dbl.test",
                       sender_domain="require-resolvable")
            try:
                c = greet(srv, "127.0.0.151")
                code, text = mail_rcpt(c, "x@own.example")
                assert code == 250, ("a DNSWL listing outweighs the DNSBL", text)
                deliver(c, "allowlisted")
                c.expect("QUIT", 221)
                c = greet(srv, "127.0.0.152")
                code, text = mail_rcpt(c, "x@own.example")
                assert code == 554 and "bl.test" in text, text
                c.expect("QUIT", 221)
                c = greet(srv, "127.0.0.153")
                code, text = mail_rcpt(c, "x@spam.example")
                assert code == 554 and "dbl.test" in text, text
                c.expect("RSET", 250)
                code, text = mail_rcpt(c, "x@nullmx.example")
                assert code == 550 and "5.7.27" in text, text
                c.expect("RSET", 250)
                code, text = mail_rcpt(c, "x@own.example")
                assert code == 250, text
                deliver(c, "clean")
                c.expect("QUIT", 221)
                msgs = srv.wait_messages("alice", 2)
                assert sorted(b"allowlisted" in m for m in msgs) == [False, True]
                got = [(kv["ip"], kv["class"]) for kv in events(srv, "reject")]
                assert got == [("127.0.0.152", "dnsbl:bl.test"),
                               ("127.0.0.153", "rhsbl:dbl.test"),
                               ("127.0.0.153", "sender:null-mx")], got
                assert not events(srv, "dnsbl-zone"), "sane lists stay enabled"
            finally:
                srv.close()
