"""DNS policy against real DNS servers on loopback: DNSBL and DNSWL
zones with codes and weights, lists that lie or die, reverse DNS and
forward confirmation, dynamic PTR patterns, log mode, the per-worker
cache, and the budget.  Clients connect from different 127.0.0.0/8
source addresses so that every one has its own PTR and listings."""
import os
import re
import shutil
import signal
import tempfile
import threading
import time

from dnspeers import Dnsmasq, Rbldnsd
from dnsserver import DNSServer
from harness import Client, Moat, send_message


def rev(ip):
    return ".".join(reversed(ip.split(".")))


def dns_moat(dns, **settings):
    """Probes off unless asked: most zones here have no test entries."""
    settings.setdefault("resolver", f"127.0.0.1:{dns.port}")
    settings.setdefault("dnsbl_probe_interval", "0")
    return Moat(**settings)


def session(srv, ip, rcpt="alice@example.test", helo="client.example.org"):
    """Banner, EHLO, MAIL, RCPT from ip: (client, rcpt code, rcpt text)."""
    c = Client(srv.port, source=ip)
    code, _ = c.reply()
    assert code == 220, code
    c.expect(f"EHLO {helo}", 250)
    c.expect("MAIL FROM:<sender@example.org>", 250)
    c.send(f"RCPT TO:<{rcpt}>\r\n")
    code, text = c.reply()
    return c, code, " ".join(text)


def rejects(srv, event="reject"):
    return [kv for ev, kv in srv.log_lines(event)]


def test_dnsbl_listed_client_refused_at_rcpt_unlisted_delivered():
    with DNSServer() as dns:
        dns.add(f"{rev('127.0.0.2')}.bl.test", "A", "127.0.0.2")
        srv = dns_moat(dns, dnsbl="bl.test")
        try:
            c, code, text = session(srv, "127.0.0.2")
            assert code == 554 and "5.7.1" in text and "bl.test" in text, text
            c.expect("QUIT", 221)
            c, code, _ = session(srv, "127.0.0.3")
            assert code == 250
            c.expect("DATA", 354)
            c.expect("Subject: ok\r\n\r\nhello\r\n.", 250)
            c.expect("QUIT", 221)
            srv.wait_messages("alice", 1)
            time.sleep(0.2)
            r = [kv for kv in rejects(srv) if kv.get("class") == "dnsbl:bl.test"]
            assert len(r) == 1, rejects(srv)
            assert r[0]["stage"] == "rcpt" and r[0]["ip"] == "127.0.0.2"
            assert r[0]["from"] == "sender@example.org"
            assert r[0]["to"] == "alice@example.test"
            assert r[0]["hits"] == "bl.test=127.0.0.2", r[0]
        finally:
            srv.close()


def test_dnsbl_refused_at_banner_without_delay_reject():
    with DNSServer() as dns:
        dns.add(f"{rev('127.0.0.2')}.bl.test", "A", "127.0.0.2")
        srv = dns_moat(dns, dnsbl="bl.test", delay_reject="no")
        try:
            c = Client(srv.port, source="127.0.0.2")
            code, text = c.reply()
            assert code == 554 and "bl.test" in " ".join(text), (code, text)
            c.expect("EHLO x.example.org", 503)
            c.expect("QUIT", 221)
            c = Client(srv.port, source="127.0.0.3")
            code, _ = c.reply()
            assert code == 220
            c.expect("QUIT", 221)
            r = [kv for kv in rejects(srv) if kv.get("class") == "dnsbl:bl.test"]
            assert len(r) == 1 and r[0]["stage"] == "connect", r
        finally:
            srv.close()


def test_weights_threshold_dnswl_and_policy_order():
    with DNSServer() as dns:
        for ip, zones in (("127.0.0.11", ["a.test"]),
                          ("127.0.0.12", ["b.test", "a.test"]),
                          ("127.0.0.13", ["a.test", "b.test", "wl.test"])):
            for z in zones:
                dns.add(f"{rev(ip)}.{z}", "A", "127.0.0.2")
        srv = dns_moat(dns, dnsbl=["a.test", "b.test"], dnswl="wl.test",
                       dnsbl_threshold="2")
        try:
            c, code, _ = session(srv, "127.0.0.11")
            assert code == 250, "one list under the threshold"
            c.expect("QUIT", 221)
            c, code, text = session(srv, "127.0.0.12")
            assert code == 554, text
            c.expect("QUIT", 221)
            c, code, _ = session(srv, "127.0.0.13")
            assert code == 250, "the DNSWL weight brings it under"
            c.expect("QUIT", 221)
            r = [kv for kv in rejects(srv) if kv.get("ip") == "127.0.0.12"]
            # named after the first listing zone in configured order
            assert len(r) == 1 and r[0]["class"] == "dnsbl:a.test", r
            assert r[0]["hits"] == "a.test=127.0.0.2,b.test=127.0.0.2", r
            assert not [kv for kv in rejects(srv) if kv.get("ip") != "127.0.0.12"]
        finally:
            srv.close()


def test_answer_codes_select_listings():
    with DNSServer() as dns:
        dns.add(f"{rev('127.0.0.21')}.bl.test", "A", "127.0.0.2")
        dns.add(f"{rev('127.0.0.22')}.bl.test", "A", "127.0.0.4")
        dns.add(f"{rev('127.0.0.23')}.bl.test", "A", "127.0.0.11")
        srv = dns_moat(dns, dnsbl="bl.test=127.0.0.4-127.0.0.10 Open proxy")
        try:
            c, code, _ = session(srv, "127.0.0.21")
            assert code == 250
            c.expect("QUIT", 221)
            c, code, text = session(srv, "127.0.0.22")
            assert code == 554 and "Open proxy" in text and "bl.test" not in text
            c.expect("QUIT", 221)
            c, code, _ = session(srv, "127.0.0.23")
            assert code == 250
            c.expect("QUIT", 221)
        finally:
            srv.close()


def test_lying_and_failing_lists_are_errors_not_listings():
    with DNSServer() as dns:
        dns.add(f"{rev('127.0.0.31')}.bl.test", "A", "10.1.2.3")
        dns.add(f"{rev('127.0.0.32')}.bl.test", "A", "127.255.255.254")
        dns.behave(f"{rev('127.0.0.33')}.bl.test", "servfail")
        dns.behave(f"{rev('127.0.0.34')}.bl.test", "garbage")
        srv = dns_moat(dns, dnsbl="bl.test", dnsbl_timeout="3s")
        try:
            for ip in ("127.0.0.31", "127.0.0.32", "127.0.0.33", "127.0.0.34"):
                c, code, text = session(srv, ip)
                assert code == 250, (ip, code, text)
                c.expect("QUIT", 221)
            errs = {kv["ip"]: kv for ev, kv in srv.log_lines("dnsbl-error")}
            assert set(errs) == {"127.0.0.31", "127.0.0.32", "127.0.0.33",
                                 "127.0.0.34"}, errs
            assert errs["127.0.0.31"]["answer"] == "10.1.2.3"
            assert errs["127.0.0.32"]["answer"] == "127.255.255.254"
            assert all(kv["zone"] == "bl.test" for kv in errs.values())
            assert not rejects(srv)
        finally:
            srv.close()


def test_silent_list_stays_within_budget_and_worker_keeps_serving():
    with DNSServer() as dns:
        dns.behave("*.dead.test", "silent")
        srv = dns_moat(dns, dnsbl="dead.test", dnsbl_timeout="2s", workers="1")
        try:
            result = {}

            def slow():
                t0 = time.time()
                c, code, _ = session(srv, "127.0.0.41")
                result["code"], result["took"] = code, time.time() - t0
                c.expect("QUIT", 221)

            t = threading.Thread(target=slow)
            t.start()
            time.sleep(0.3)
            # the same worker answers another session meanwhile
            t0 = time.time()
            c = Client(srv.port, source="127.0.0.42")
            assert c.reply()[0] == 220
            c.expect("EHLO other.example.org", 250)
            c.expect("NOOP", 250)
            assert time.time() - t0 < 1.0
            c.expect("QUIT", 221)
            t.join(10)
            assert result["code"] == 250, result
            assert 1.5 < result["took"] < 3.5, result
            errs = [kv for ev, kv in srv.log_lines("dnsbl-error")
                    if kv["ip"] == "127.0.0.41"]
            assert errs and errs[0]["reason"] == "timeout", errs
        finally:
            srv.close()


def test_reverse_dns_require_ptr():
    with DNSServer() as dns:
        dns.add(f"{rev('127.0.0.51')}.in-addr.arpa", "PTR", "mail.sender.example")
        dns.behave(f"{rev('127.0.0.53')}.in-addr.arpa", "servfail")
        srv = dns_moat(dns, reverse_dns="require-ptr")
        try:
            c, code, _ = session(srv, "127.0.0.51")
            assert code == 250
            c.expect("QUIT", 221)
            c, code, text = session(srv, "127.0.0.52")
            assert code == 450 and "4.7.25" in text, (code, text)
            c.expect("QUIT", 221)
            c, code, text = session(srv, "127.0.0.53")
            assert code == 450 and "4.7.25" in text, (code, text)
            c.expect("QUIT", 221)
            d = {kv["ip"]: kv for ev, kv in srv.log_lines("defer")}
            assert d["127.0.0.52"]["class"] == "no-ptr"
            assert d["127.0.0.53"]["class"] == "no-ptr"
        finally:
            srv.close()
        srv = dns_moat(dns, reverse_dns="require-ptr", reverse_dns_action="reject")
        try:
            c, code, text = session(srv, "127.0.0.52")
            assert code == 550 and "5.7.25" in text, (code, text)
            c.expect("QUIT", 221)
            c, code, text = session(srv, "127.0.0.53")
            assert code == 450, "a temporary failure is never 5xx"
            c.expect("QUIT", 221)
        finally:
            srv.close()


def test_reverse_dns_require_fcrdns_and_received_header():
    with DNSServer() as dns:
        dns.synth_loopback("fc.example")
        dns.add(f"{rev('127.0.0.62')}.in-addr.arpa", "PTR", "liar.example")
        dns.add("liar.example", "A", "192.0.2.1")
        srv = dns_moat(dns, reverse_dns="require-fcrdns",
                       reverse_dns_action="reject")
        try:
            c, code, _ = session(srv, "127.0.0.61")
            assert code == 250
            c.expect("DATA", 354)
            c.expect("Subject: fc\r\n\r\nhello\r\n.", 250)
            c.expect("QUIT", 221)
            msg = srv.wait_messages("alice", 1)[0]
            assert re.search(rb"Received: from client\.example\.org "
                             rb"\(h-127-0-0-61\.fc\.example \[127\.0\.0\.61\]\)",
                             msg), msg[:300]
            c, code, text = session(srv, "127.0.0.62")
            assert code == 550 and "5.7.25" in text, (code, text)
            c.expect("QUIT", 221)
            r = [kv for kv in rejects(srv) if kv["ip"] == "127.0.0.62"]
            assert r and r[0]["class"] == "bad-ptr", r
            # the disconnect line names the PTR: confirmed, or the first
            srv.wait_log(lambda ev, kv: ev == "disconnect" and
                         kv.get("ip") == "127.0.0.62")
            ptr = {kv["ip"]: kv.get("ptr") for kv in rejects(srv, "disconnect")}
            assert ptr["127.0.0.61"] == "h-127-0-0-61.fc.example", ptr
            assert ptr["127.0.0.62"] == "liar.example", ptr
        finally:
            srv.close()


def test_hostile_ptr_names_are_refused_and_logged_escaped():
    with DNSServer() as dns:
        dns.behave(f"{rev('127.0.0.71')}.in-addr.arpa", "badname")
        dns.behave(f"{rev('127.0.0.72')}.in-addr.arpa", "loop")
        dns.behave(f"{rev('127.0.0.73')}.in-addr.arpa", "longlabel")
        srv = dns_moat(dns, reverse_dns="require-ptr",
                       reverse_dns_action="reject", dnsbl_timeout="3s")
        try:
            for ip in ("127.0.0.71", "127.0.0.72", "127.0.0.73"):
                c, code, text = session(srv, ip)
                assert code in (450, 550), (ip, code, text)
                c.expect("QUIT", 221)
            for line in srv.log().splitlines():
                assert not re.search(r"[\x00-\x08\x0b-\x1f;|`$]", line), line
            got = {kv["ip"]: kv["class"] for ev, kv in
                   srv.log_lines("reject") + srv.log_lines("defer")}
            assert got.get("127.0.0.71") in ("bad-ptr", "no-ptr"), got
        finally:
            srv.close()


def test_dynamic_ptr_patterns():
    with DNSServer() as dns:
        dns.add(f"{rev('127.0.0.81')}.in-addr.arpa", "PTR", "h-127-0-0-81.isp.example")
        dns.add(f"{rev('127.0.0.82')}.in-addr.arpa", "PTR", "dsl-pool-7.isp.example")
        dns.add(f"{rev('127.0.0.83')}.in-addr.arpa", "PTR", "mail.isp.example")
        tmp = tempfile.mkdtemp(prefix="moat-dynptr-")
        path = os.path.join(tmp, "dynamic_ptr")
        with open(path, "w") as f:
            f.write("# dynamic\n@ip-octets\n(^|[.-])(dsl|dyn|pool)[0-9.-]\n")
        srv = dns_moat(dns, dynamic_ptr=path, workers="1")
        try:
            c, code, text = session(srv, "127.0.0.81")
            assert code == 550, (code, text)
            c.expect("QUIT", 221)
            c, code, text = session(srv, "127.0.0.82")
            assert code == 550, (code, text)
            c.expect("QUIT", 221)
            c, code, _ = session(srv, "127.0.0.83")
            assert code == 250
            c.expect("QUIT", 221)
            r = {kv["ip"]: kv for kv in rejects(srv)}
            assert r["127.0.0.81"]["class"] == "dynamic"
            assert r["127.0.0.82"]["class"] == "dynamic"
            # the file broken after the start: a worker that dies and
            # comes back still has the patterns the daemon started with
            with open(path, "w") as f:
                f.write("(unclosed\n")
            workers = srv.workers()
            os.kill(workers[0], signal.SIGKILL)
            srv.wait_log(lambda e, kv: e == "child-exit" and kv.get("signal") == "9")
            deadline = time.time() + 10
            while len(srv.workers()) < len(workers) and time.time() < deadline:
                time.sleep(0.1)
            assert len(srv.workers()) == len(workers), "the worker came back"
            c, code, text = session(srv, "127.0.0.82")
            assert code == 550, (code, text)
            c.expect("QUIT", 221)
            exits = [kv for e, kv in srv.log_lines("child-exit")]
            assert len(exits) == 1, exits
        finally:
            srv.close()
            shutil.rmtree(tmp, ignore_errors=True)


def test_log_mode_refuses_nothing_and_says_what_it_would_have():
    with DNSServer() as dns:
        dns.add(f"{rev('127.0.0.91')}.bl.test", "A", "127.0.0.2")
        srv = dns_moat(dns, dnsbl="bl.test", dns_action="log")
        try:
            c, code, _ = session(srv, "127.0.0.91")
            assert code == 250
            c.expect("DATA", 354)
            c.expect("Subject: log\r\n\r\nhello\r\n.", 250)
            c.expect("QUIT", 221)
            srv.wait_messages("alice", 1)
            w = [kv for ev, kv in srv.log_lines("would-reject")]
            assert len(w) == 1 and w[0]["class"] == "dnsbl:bl.test", w
            assert w[0]["to"] == "alice@example.test"
            assert not rejects(srv)
        finally:
            srv.close()


def test_same_ip_shares_queries_and_access_ok_skips_dns():
    with DNSServer() as dns:
        dns.add(f"{rev('127.0.0.2')}.bl.test", "A", "127.0.0.2")
        srv = dns_moat(dns, dnsbl="bl.test", workers="1",
                       maps={"access": "127.0.0.2 OK\n"})
        try:
            for _ in range(3):
                c, code, _ = session(srv, "127.0.0.101")
                assert code == 250
                c.expect("QUIT", 221)
            assert dns.count(f"{rev('127.0.0.101')}.bl.test") == 1, dns.queries
            assert dns.count(f"{rev('127.0.0.101')}.in-addr.arpa") == 1
            c, code, _ = session(srv, "127.0.0.2")
            assert code == 250, "access OK vouches for a listed client"
            c.expect("QUIT", 221)
            assert dns.count(f"{rev('127.0.0.2')}.bl.test") == 0
        finally:
            srv.close()


def test_real_peers_dnsmasq_front_rbldnsd_zone():
    # 127.0.0.2 is the test entry every list carries (RFC 5782): the
    # health probe, on by default here, must find it
    with Rbldnsd({"bl.test": ("ip4set", ["127.0.0.2", "127.0.0.111",
                                         "127.0.0.112 :127.0.0.3:"])}) as rbl:
        with Dnsmasq([(f"{rev('127.0.0.113')}.in-addr.arpa", "PTR",
                       "mail.good.example"),
                      ("mail.good.example", "A", "127.0.0.113")],
                     forward={"bl.test": rbl.port}) as front:
            srv = Moat(resolver=f"127.0.0.1:{front.port}",
                       dnsbl="bl.test=127.0.0.2", reverse_dns="require-fcrdns")
            try:
                c, code, text = session(srv, "127.0.0.111")
                assert code in (554, 450), (code, text)
                c.expect("QUIT", 221)
                r = [kv for kv in rejects(srv) if kv["ip"] == "127.0.0.111"]
                assert r and r[0]["class"] == "dnsbl:bl.test", r
                c, code, text = session(srv, "127.0.0.113")
                assert code == 250, (code, text)
                c.expect("QUIT", 221)
                assert not srv.log_lines("dnsbl-zone"), "a sane list stays enabled"
            finally:
                srv.close()


def test_verdict_waits_only_for_what_it_needs():
    with DNSServer() as dns:
        dns.add(f"{rev('127.0.0.121')}.in-addr.arpa", "PTR", "slow.example")
        dns.behave("slow.example", "silent")
        dns.behave(f"{rev('127.0.0.122')}.in-addr.arpa", "silent")
        srv = dns_moat(dns, dnsbl="bl.test", dnsbl_timeout="3s")
        try:
            for ip in ("127.0.0.121", "127.0.0.122"):
                t0 = time.time()
                c, code, _ = session(srv, ip)
                assert code == 250 and time.time() - t0 < 1.5, ip
                c.expect("QUIT", 221)
        finally:
            srv.close()
        srv = dns_moat(dns, dnsbl="bl.test", dnsbl_timeout="2s",
                       reverse_dns="require-fcrdns")
        try:
            t0 = time.time()
            c, code, text = session(srv, "127.0.0.121")
            took = time.time() - t0
            assert code == 450 and 1.5 < took < 3.5, (code, text, took)
            c.expect("QUIT", 221)
        finally:
            srv.close()


def probe_says(srv, zone, state):
    return srv.wait_log(lambda e, kv: e == "dnsbl-zone" and kv.get("zone") == zone
                        and kv.get("state") == state, timeout=15)[1]


def test_health_probe_disables_lists_that_lie_or_die_and_reenables_them():
    """RFC 5782 test entries: 127.0.0.2 (or "test") must be listed,
    127.0.0.1 (or "invalid") must not."""
    with DNSServer() as dns:
        dns.add(f"{rev('127.0.0.2')}.good.test", "A", "127.0.0.2")
        dns.add(f"{rev('127.0.0.131')}.good.test", "A", "127.0.0.2")
        dns.add("*.world.test", "A", "127.0.0.2")          # lists everyone
        dns.behave("*.dead.test", "silent")
        dns.add("test.rhs.test", "A", "127.0.0.2")
        dns.add("spam.example.rhs.test", "A", "127.0.0.2")
        srv = dns_moat(dns, dnsbl=["good.test", "world.test", "dead.test"],
                       rhsbl_sender=["rhs.test", "norhs.test"], workers="1",
                       dnsbl_probe_interval="2s", dnsbl_timeout="1s")
        try:
            w = probe_says(srv, "world.test", "disabled")
            assert "127.0.0.1" in w["reason"] and w["answer_invalid"] == "127.0.0.2", w
            assert "answer" in probe_says(srv, "dead.test", "disabled")["reason"]
            assert "test entry" in probe_says(srv, "norhs.test", "disabled")["reason"]
            c, code, text = session(srv, "127.0.0.132")
            assert code == 250, "a list of everyone refuses no one once disabled"
            c.expect("QUIT", 221)
            assert dns.count(f"{rev('127.0.0.132')}.world.test") == 0
            assert dns.count(f"{rev('127.0.0.132')}.dead.test") == 0
            c, code, text = session(srv, "127.0.0.131")
            assert code == 554 and "good.test" in text, text
            c.expect("QUIT", 221)
            c = Client(srv.port, source="127.0.0.133")
            assert c.reply()[0] == 220
            c.expect("EHLO client.example.org", 250)
            c.expect("MAIL FROM:<x@spam.example>", 250)
            code, text = c.cmd("RCPT TO:<alice@example.test>")
            assert code == 554 and "rhs.test" in text, text
            c.expect("QUIT", 221)
            assert not [kv for e, kv in srv.log_lines("dnsbl-zone")
                        if kv["zone"] in ("good.test", "rhs.test")]
            # the dead list comes back, test entry and all
            dns.behave("*.dead.test", None)
            dns.add(f"{rev('127.0.0.2')}.dead.test", "A", "127.0.0.2")
            probe_says(srv, "dead.test", "enabled")
            dns.add(f"{rev('127.0.0.134')}.dead.test", "A", "127.0.0.2")
            c, code, text = session(srv, "127.0.0.134")
            assert code == 554 and "dead.test" in text, text
            c.expect("QUIT", 221)
        finally:
            srv.close()


def moatctl_dnsbl(srv):
    """moatctl dnsbl as {zone: {column: value}}."""
    import subprocess
    from harness import MOATCTL
    p = subprocess.run([MOATCTL, "-f", srv.conf_path, "dnsbl"],
                       capture_output=True, text=True, env=srv.env(), timeout=10)
    assert p.returncode == 0, p
    lines = [l.split() for l in p.stdout.splitlines() if not l.startswith("#")]
    head = lines[0]
    return {row[0]: dict(zip(head[1:], row[1:])) for row in lines[1:]}


def test_zone_figures_in_moatctl_and_in_the_log():
    with DNSServer() as dns:
        dns.add(f"{rev('127.0.0.2')}.good.test", "A", "127.0.0.2")
        dns.add(f"{rev('127.0.0.141')}.good.test", "A", "127.0.0.2")
        dns.add(f"{rev('127.0.0.143')}.good.test", "A", "10.1.2.3")   # lies
        dns.behave("*.dead.test", "silent")
        srv = dns_moat(dns, dnsbl=["good.test", "dead.test"], workers="1",
                       dnsbl_probe_interval="2s", dnsbl_timeout="1s")
        try:
            probe_says(srv, "dead.test", "disabled")
            cols = ("queries", "listed", "not-listed", "errors")
            before = {k: int(v) for k, v in moatctl_dnsbl(srv)["good.test"].items()
                      if k in cols}       # the harness's own probe session
            for ip, want in (("127.0.0.141", 554), ("127.0.0.142", 250),
                             ("127.0.0.143", 250)):
                c, code, text = session(srv, ip)
                assert code == want, (ip, code, text)
                c.expect("QUIT", 221)
            z = moatctl_dnsbl(srv)
            got = {k: int(z["good.test"][k]) - before[k] for k in cols}
            assert got == {"queries": 3, "listed": 1, "not-listed": 1,
                           "errors": 1}, (before, z)
            assert z["good.test"]["state"] == "enabled", z
            assert int(z["good.test"]["avg-ms"]) < 1000, z
            assert z["dead.test"]["state"] == "disabled", z
            assert z["dead.test"]["queries"] == "0", "a disabled list is not asked"
            srv.stop()
            s = {kv["zone"]: kv for e, kv in srv.log_lines("dnsbl-stats")}
            g = s["good.test"]
            assert int(g["queries"]) == before["queries"] + 3, s
            assert int(g["listed"]) == before["listed"] + 1, s
            assert int(g["errors"]) == before["errors"] + 1, s
            assert s["dead.test"]["queries"] == "0", s
        finally:
            srv.close()


def test_probe_judges_a_round_before_the_next_however_short_the_interval():
    with DNSServer() as dns:
        dns.behave("*.dead.test", "silent")
        srv = dns_moat(dns, dnsbl="dead.test", workers="1",
                       dnsbl_probe_interval="1s", dnsbl_timeout="2s")
        try:
            kv = probe_says(srv, "dead.test", "disabled")
            assert kv["reason"] == "does not answer", kv
        finally:
            srv.close()
