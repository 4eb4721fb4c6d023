"""moatctl stats and the metrics listener against the real daemon: the
counters follow the sessions the test makes (accepted and delivered,
greylisted, refused by a DNS list on a real DNS server, unknown
recipients, a blocked client refused at accept, a delivery deferred),
scraped while a load runs; the OpenMetrics text passes the Prometheus
project's own parser (Debian's python3-prometheus-client) and the
format's rules; what a killed worker counted stays in the totals; the
listener answers GET /metrics only, runs unprivileged and maps the
figures read-only."""
import json
import os
import pwd
import re
import signal
import socket
import subprocess
import threading
import time
import urllib.error
import urllib.request

from dnsserver import DNSServer
from harness import MOATCTL, MOATD, Client, Moat, free_port, send_message

SYSTEM_PYTHON = "/usr/bin/python3"     # where Debian's parser is installed

PARSE = r"""
import json, sys
from prometheus_client.openmetrics.parser import text_string_to_metric_families
docs = []
for text in sys.stdin.read().split("\0"):
    out = {}
    for f in text_string_to_metric_families(text):
        out[f.name] = {"type": f.type, "samples": [
            [s.name, s.labels, s.value] for s in f.samples]}
    docs.append(out)
print(json.dumps(docs))
"""


def ctl(srv, *args):
    return subprocess.run([MOATCTL, "-f", srv.conf_path, *args],
                          capture_output=True, text=True, env=srv.env(),
                          timeout=10)


def dropped_at_accept(srv, ip, times):
    for _ in range(times):
        c = Client(srv.port, source=ip)
        c.sock.settimeout(5)
        assert c.sock.recv(10) == b""


def stats(srv, fmt="json"):
    p = ctl(srv, "stats", "--format", fmt)
    assert p.returncode == 0, p.stderr
    return json.loads(p.stdout) if fmt == "json" else p.stdout


def scrape(port, path="/metrics"):
    with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=5) as r:
        assert r.status == 200
        ctype = r.headers["Content-Type"]
        assert ctype.startswith("application/openmetrics-text; version=1.0.0"), ctype
        return r.read().decode()


NAME = re.compile(r"^[a-zA-Z_:][a-zA-Z0-9_:]*$")


def check_formats(texts):
    """The format's rules this test can see by itself, then the parser's,
    on each text: their families."""
    for text in texts:
        check_rules(text)
    p = subprocess.run([SYSTEM_PYTHON, "-c", PARSE], input="\0".join(texts),
                       capture_output=True, text=True, timeout=60)
    assert p.returncode == 0, p.stderr
    return json.loads(p.stdout)


def check_format(text):
    return check_formats([text])[0]


def check_rules(text):
    assert text.endswith("# EOF\n") and text.count("# EOF") == 1, text[-200:]
    types, seen_done = {}, set()
    current = None
    for line in text.splitlines()[:-1]:
        if line.startswith("# TYPE "):
            _, _, name, kind = line.split(" ")
            assert NAME.match(name) and name not in types, line
            assert kind in ("counter", "gauge"), line
            if current:
                seen_done.add(current)
            types[name], current = kind, name
        elif line.startswith("#"):
            assert line.split(" ")[2] == current, line       # HELP, UNIT
        else:
            sample = re.split(r"[{ ]", line, 1)[0]
            want = current + "_total" if types[current] == "counter" else current
            assert sample == want, (line, current)
            value = line.rsplit(" ", 1)[1]
            assert re.match(r"^\d+$", value), line


def value(families, family, **labels):
    for name, lab, v in families[family]["samples"]:
        if lab == labels:
            return v
    return 0


def counters(view):
    return {k: v["total"] for k, v in view["counters"].items()}


def refusals(view):
    return {(r["class"], r["stage"]): r["total"] for r in view["rejections"]}


def delta(after, before):
    return {k: after[k] - before.get(k, 0) for k in after}


def rcpt_session(srv, ip, rcpt):
    c = Client(srv.port, source=ip)
    assert c.reply()[0] == 220
    c.expect("EHLO client.example.org", 250)
    c.expect("MAIL FROM:<sender@remote.example>", 250)
    code, _ = c.cmd(f"RCPT TO:<{rcpt}>")
    return c, code


def test_counters_follow_the_sessions_of_a_load():
    dead_lmtp = free_port()            # nothing listens: deliveries defer
    maps = {"recipients": ("alice@example.test maildir:alice/\n"
                           "postmaster@example.test maildir:postmaster/\n"
                           f"carol@example.test lmtp:127.0.0.1:{dead_lmtp}\n")}
    mport = free_port()
    held = []
    with DNSServer() as dns:
        dns.add("2.70.0.127.bl.test", "A", "127.0.0.2")
        srv = Moat(maps=maps, resolver=f"127.0.0.1:{dns.port}", dnsbl="bl.test",
                   dnsbl_probe_interval="0", greylist="yes",
                   greylist_delay="1s", metrics_listen=str(mport))
        try:
            # a client blocked while moatd is down: the parent counts the
            # block list when it starts, then with each store sync (10 s)
            srv.stop()
            p = ctl(srv, "block", "127.0.70.3")
            assert p.returncode == 0, p.stderr
            srv.start()
            before = stats(srv)
            b_ctr, b_ref = counters(before), refusals(before)
            assert before["gauges"]["sessions_open"] == 0, before
            assert before["gauges"]["blocked_clients"] == 1, before

            # the blocked client, refused at accept twice
            dropped_at_accept(srv, "127.0.70.3", 2)
            # greylisted once, then N messages through while scraping
            c, code = rcpt_session(srv, "127.0.70.1", "alice@example.test")
            assert code == 451
            c.expect("QUIT", 221)
            time.sleep(1.1)
            n_ok, scrapes, errors = 30, [], []

            def load():
                try:
                    for _ in range(n_ok):
                        c = Client(srv.port, source="127.0.70.1")
                        assert c.reply()[0] == 220
                        code, _ = send_message(c)
                        assert code == 250, code
                        c.expect("QUIT", 221)
                except BaseException as e:      # the main thread asserts
                    errors.append(e)
            t = threading.Thread(target=load)
            t.start()
            deadline = time.time() + 30
            while t.is_alive() and time.time() < deadline:
                scrapes.append(scrape(mport))
                time.sleep(0.01)
            t.join(30)
            assert not errors, errors
            assert len(scrapes) >= 2, "scraped during the load"
            # every scrape valid, and no counter ever goes back
            fams = check_formats(scrapes)
            for a, b in zip(fams, fams[1:]):
                for name, fam in a.items():
                    if fam["type"] != "counter":
                        continue
                    for sname, labels, v in fam["samples"]:
                        assert v <= value(b, name, **labels), (name, labels)
            seq = [value(f, "moat_messages_accepted") for f in fams]
            assert seq[0] < seq[-1], seq
            # refused: a DNS list, two unknown recipients; deferred: carol
            c, code = rcpt_session(srv, "127.0.70.2", "alice@example.test")
            assert code == 554
            c.expect("QUIT", 221)
            c, code = rcpt_session(srv, "127.0.70.4", "nobody@example.test")
            assert code == 550
            assert c.cmd("RCPT TO:<nobody2@example.test>")[0] == 550
            c.expect("QUIT", 221)
            p = ctl(srv, "greylist", "allow", "127.0.70.5",
                    "sender@remote.example", "carol@example.test")
            assert p.returncode == 0, p.stderr
            c = Client(srv.port, source="127.0.70.5")
            assert c.reply()[0] == 220
            assert send_message(c, rcpts=("<postmaster@example.test>",
                                          "<carol@example.test>"))[0] == 250
            c.expect("QUIT", 221)
            # three sessions held open
            for i in range(3):
                held.append(Client(srv.port, source=f"127.0.70.{10 + i}"))
                assert held[-1].reply()[0] == 220
            assert len(srv.wait_messages("alice", n_ok)) == n_ok
            assert len(srv.wait_messages("postmaster", 1)) == 1
            srv.wait_log(lambda ev, kv: ev == "defer" and
                         kv.get("rcpt") == "carol@example.test")

            deadline = time.time() + 10
            while time.time() < deadline:
                now = stats(srv)
                if now["gauges"]["queue_deferred"] == 1:
                    break
                time.sleep(0.1)
            d = delta(counters(now), b_ctr)
            assert d["connections"] == 2 + 1 + n_ok + 3 + 3, d
            assert d["sessions"] == 1 + n_ok + 3 + 3, d
            assert d["messages_accepted"] == n_ok + 1, d
            assert d["recipients_accepted"] == n_ok + 2, d
            # carol's triplet passes (allowed by hand), postmaster skips
            assert d["greylist_new"] == 1 and d["greylist_passed"] == n_ok + 1, d
            assert d["greylist_skip"] == 1, d
            assert d["greylist_early"] == 0, d
            assert d["delivered"] == n_ok + 1, d
            assert d["deferred"] >= 1 and d["held"] == 0, d
            r = delta(refusals(now), b_ref)
            assert r[("blocked", "connect")] == 2, r
            assert r[("greylist", "rcpt")] == 1, r
            assert r[("dnsbl:bl.test", "rcpt")] == 1, r
            assert r[("unknown-recipient", "rcpt")] == 2, r
            assert d["refusals"] == 6 == sum(r.values()), (d, r)
            g = now["gauges"]
            assert g["sessions_open"] == 3, g
            assert g["queue"] == 1 and g["queue_deferred"] == 1, g
            assert g["blocked_clients"] == 1 and g["blocked_networks"] == 0, g
            zone = {z["zone"]: z for z in now["dnsbl"]}["bl.test"]
            assert zone["listed"]["total"] >= 1, zone
            # younger than an hour: the hour is all of it
            assert now["hour_from"] == now["started"], now
            assert all(v["last_hour"] == v["total"]
                       for v in now["counters"].values()), now["counters"]

            # the endpoint and moatctl say the same, in a valid text
            fam = check_format(scrape(mport))
            om = check_format(stats(srv, "openmetrics"))
            assert fam == om
            assert value(fam, "moat_messages_accepted") == counters(now)["messages_accepted"]
            assert value(fam, "moat_rejections", **{"class": "dnsbl:bl.test",
                                                    "stage": "rcpt"}) == \
                refusals(now)[("dnsbl:bl.test", "rcpt")]
            assert value(fam, "moat_greylist", result="passed") == \
                counters(now)["greylist_passed"]
            assert value(fam, "moat_sessions_open") == 3
            assert value(fam, "moat_blocked_clients") == 1
            assert value(fam, "moat_dnsbl_listed", zone="bl.test") == \
                zone["listed"]["total"]
            text = stats(srv, "text")
            assert re.search(r"^messages accepted\s+%d\s+%d$" % (
                counters(now)["messages_accepted"], counters(now)["messages_accepted"]),
                text, re.M), text
            assert re.search(r"^  dnsbl:bl.test\s+rcpt\s+1\s+1$", text, re.M), text
        finally:
            for h in held:
                h.close()
            srv.close()


def test_a_killed_workers_counts_stay_in_the_totals():
    srv = Moat(workers="1")
    try:
        for _ in range(3):
            c = Client(srv.port, source="127.0.71.1")
            assert c.reply()[0] == 220
            assert send_message(c)[0] == 250
            c.expect("QUIT", 221)
        c, code = rcpt_session(srv, "127.0.71.2", "nobody@example.test")
        assert code == 550
        c.expect("QUIT", 221)
        before = stats(srv)
        assert before["counters"]["messages_accepted"]["total"] == 3, before
        (w,) = srv.workers()
        os.kill(w, signal.SIGKILL)
        srv.wait_log(lambda ev, kv: ev == "child-exit")
        deadline = time.time() + 10
        while time.time() < deadline and (len(srv.workers()) != 1 or
                                          srv.workers() == [w]):
            time.sleep(0.1)
        after = stats(srv)
        assert counters(after) == counters(before), (before, after)
        assert refusals(after) == refusals(before)
        c = Client(srv.port, source="127.0.71.1")
        assert c.reply()[0] == 220
        assert send_message(c)[0] == 250
        c.expect("QUIT", 221)
        assert stats(srv)["counters"]["messages_accepted"]["total"] == 4
    finally:
        srv.close()


def raw(port, data, timeout=5):
    s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    s.sendall(data)
    out = b""
    while True:
        b = s.recv(65536)
        if not b:
            break
        out += b
    s.close()
    return out


def sockets(pid):
    """A process's listening TCP ports and how many unix sockets it has."""
    inodes = set()
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            link = os.readlink(f"/proc/{pid}/fd/{fd}")
        except FileNotFoundError:       # a client it just closed
            continue
        m = re.match(r"socket:\[(\d+)\]", link)
        if m:
            inodes.add(m.group(1))
    listening = []
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with open(table) as f:
            for row in list(f)[1:]:
                col = row.split()
                if col[9] in inodes and col[3] == "0A":
                    listening.append(int(col[1].split(":")[1], 16))
    with open("/proc/net/unix") as f:
        unix = sum(row.split()[6] in inodes for row in list(f)[1:])
    return listening, unix


def test_the_listener_serves_metrics_only_and_holds_nothing_else():
    mport = free_port()
    srv = Moat(metrics_listen=f"127.0.0.1:{mport}")
    try:
        assert raw(mport, b"GET /metrics HTTP/1.0\r\n\r\n").startswith(b"HTTP/1.1 200 ")
        head = raw(mport, b"HEAD /metrics HTTP/1.1\r\nHost: x\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 200 ") and head.endswith(b"\r\n\r\n"), head
        assert raw(mport, b"GET / HTTP/1.1\r\n\r\n").startswith(b"HTTP/1.1 404 ")
        assert raw(mport, b"POST /metrics HTTP/1.1\r\n\r\n").startswith(b"HTTP/1.1 405 ")
        assert raw(mport, b"EHLO x\r\n\r\n").startswith(b"HTTP/1.1 400 ")
        assert raw(mport, b"GET /" + b"a" * 5000).startswith(b"HTTP/1.1 431 ")
        t0 = time.time()
        assert raw(mport, b"GET /metrics\0 HTTP/1.1\r\n").startswith(b"HTTP/1.1 400 ")
        assert time.time() - t0 < 2, "a NUL is answered at once"
        # silent clients, as many as it serves at once and more, do not
        # keep a scraper out
        idle = [socket.create_connection(("127.0.0.1", mport)) for _ in range(20)]
        time.sleep(0.2)
        t0 = time.time()
        check_format(scrape(mport))
        assert time.time() - t0 < 2, time.time() - t0
        for s in idle:
            s.close()
        # its process: the workers' user, read-only maps, two sockets
        uid = pwd.getpwnam("moat").pw_uid
        pid = int(re.search(r"metrics pid=(\d+)", srv.log()).group(1))
        with open(f"/proc/{pid}/status") as f:
            assert re.search(r"^Uid:\s+%d\s+%d\s+%d" % (uid, uid, uid), f.read(), re.M)
        with open(f"/proc/{pid}/maps") as f:
            maps = [l.split() for l in f if "stats" in l]
        assert maps and all(m[1] == "r--s" for m in maps), maps
        listening, unix = sockets(pid)
        assert listening == [mport] and unix == 1, (listening, unix)
        assert os.readlink(f"/proc/{pid}/root") != "/"
        # it ends with the daemon
        srv.stop()
        deadline = time.time() + 5
        while os.path.exists(f"/proc/{pid}") and time.time() < deadline:
            time.sleep(0.05)
        assert not os.path.exists(f"/proc/{pid}")
    finally:
        srv.close()


def test_metrics_listen_values():
    for good, want in (("9325", "127.0.0.1:9325"), ("[::1]:9325", "[::1]:9325"),
                       ("", "")):
        srv = Moat(start=False, metrics_listen=good)
        p = subprocess.run([MOATD, "-n", "-f", srv.conf_path],
                           capture_output=True, text=True)
        srv.close()
        assert p.returncode == 0, p.stderr
        assert f"metrics_listen ={' ' if want else ''}{want}\n" in p.stdout, p.stdout
    for bad in ("*:9325", "localhost:9325", "70000", "1.2.3.4"):
        srv = Moat(start=False)
        srv.conf["metrics_listen"] = bad
        srv.write_conf()
        p = subprocess.run([MOATD, "-n", "-f", srv.conf_path],
                           capture_output=True, text=True)
        srv.close()
        assert p.returncode != 0 and "metrics_listen" in p.stderr, (bad, p.stderr)


def test_a_zone_a_reload_removed_keeps_its_figures():
    with DNSServer() as dns:
        dns.add("2.72.0.127.bl.test", "A", "127.0.0.2")
        srv = Moat(resolver=f"127.0.0.1:{dns.port}", dnsbl="bl.test",
                   dnsbl_probe_interval="0", workers="1")
        try:
            c, code = rcpt_session(srv, "127.0.72.2", "alice@example.test")
            assert code == 554
            c.expect("QUIT", 221)
            before = {z["zone"]: z for z in stats(srv)["dnsbl"]}["bl.test"]
            assert before["listed"]["total"] == 1 and before["workers"] == 1
            (old,) = srv.workers()
            del srv.conf["dnsbl"]
            srv.write_conf()
            srv.signal(signal.SIGHUP)
            deadline = time.time() + 10
            while os.path.exists(f"/proc/{old}") and time.time() < deadline:
                time.sleep(0.05)
            after = {z["zone"]: z for z in stats(srv)["dnsbl"]}["bl.test"]
            assert after["workers"] == 0, after
            assert after["queries"] == before["queries"], (before, after)
            assert after["listed"]["total"] == 1, after
            p = ctl(srv, "dnsbl")
            row = [l.split() for l in p.stdout.splitlines() if l.startswith("bl.test")]
            assert row and row[0][1] == "removed" and row[0][3] == "1", p.stdout
        finally:
            srv.close()


def report_json(srv):
    p = subprocess.run([MOATCTL, "report", "--format", "json", srv.logpath],
                       capture_output=True, text=True, timeout=30)
    assert p.returncode == 0, p.stderr
    return json.loads(p.stdout)


def test_the_report_and_the_counters_agree_on_real_sessions():
    """One corpus, two readings: the log read back by moatctl report and
    the live counters say the same, class by class."""
    dead_lmtp = free_port()
    maps = {"recipients": ("alice@example.test maildir:alice/\n"
                           "postmaster@example.test maildir:postmaster/\n"
                           f"carol@example.test lmtp:127.0.0.1:{dead_lmtp}\n"),
            "senders": "spam.example REJECT go away\n"}
    with DNSServer() as dns:
        dns.add("2.73.0.127.bl.test", "A", "127.0.0.2")
        srv = Moat(maps=maps, resolver=f"127.0.0.1:{dns.port}", dnsbl="bl.test",
                   dnsbl_probe_interval="0", greylist="yes", greylist_delay="1s")
        try:
            assert ctl(srv, "block", "127.0.73.3").returncode == 0
            dropped_at_accept(srv, "127.0.73.3", 2)
            c, code = rcpt_session(srv, "127.0.73.1", "alice@example.test")
            assert code == 451
            c.expect("QUIT", 221)
            c, code = rcpt_session(srv, "127.0.73.2", "alice@example.test")
            assert code == 554
            c.expect("QUIT", 221)
            c = Client(srv.port, source="127.0.73.4")
            assert c.reply()[0] == 220
            code, _ = c.cmd("EHLO localhost")
            if code == 250:                 # refused later, at MAIL or RCPT
                c.expect("MAIL FROM:<a@remote.example>", 250)
                code, _ = c.cmd("RCPT TO:<alice@example.test>")
            assert code == 550, code
            c.close()
            c = Client(srv.port, source="127.0.73.5")
            assert c.reply()[0] == 220
            c.expect("EHLO client.example.org", 250)
            assert c.cmd("MAIL FROM:<x@spam.example>")[0] == 550
            c.expect("QUIT", 221)
            c, code = rcpt_session(srv, "127.0.73.6", "x@elsewhere.example")
            assert code == 554
            assert c.cmd("RCPT TO:<nobody@example.test>")[0] == 550
            c.expect("QUIT", 221)
            time.sleep(1.1)
            for _ in range(3):
                c = Client(srv.port, source="127.0.73.1")
                assert c.reply()[0] == 220
                assert send_message(c)[0] == 250
                c.expect("QUIT", 221)
            assert ctl(srv, "greylist", "allow", "127.0.73.7", "sender@remote.example",
                       "carol@example.test").returncode == 0
            c = Client(srv.port, source="127.0.73.7")
            assert c.reply()[0] == 220
            assert send_message(c, rcpts=("<postmaster@example.test>",
                                          "<carol@example.test>"))[0] == 250
            c.expect("QUIT", 221)
            assert len(srv.wait_messages("alice", 3)) == 3
            assert len(srv.wait_messages("postmaster", 1)) == 1
            srv.wait_log(lambda ev, kv: ev == "defer" and
                         kv.get("rcpt") == "carol@example.test")
            srv.wait_log(lambda ev, kv: ev == "disconnect" and
                         kv.get("ip") == "127.0.73.7")

            s1 = stats(srv)
            rep = report_json(srv)
            s2 = stats(srv)
            want = {("blocked", "connect"): 2, ("greylist", "rcpt"): 1,
                    ("dnsbl:bl.test", "rcpt"): 1, ("sender:map", "mail"): 1,
                    ("relay", "rcpt"): 1, ("unknown-recipient", "rcpt"): 1}
            got_report = {(r["class"], r["stage"]): r["count"] for r in rep["rejections"]}
            got_stats = refusals(s1)
            assert got_report == got_stats, (got_report, got_stats)
            helo = {k: v for k, v in got_stats.items() if k[0] == "helo:localhost"}
            assert list(helo.values()) == [1], got_stats
            assert {k: v for k, v in got_stats.items() if k[0] != "helo:localhost"} \
                == want, got_stats
            t = rep["total"]
            c1 = counters(s1)
            assert t["received"] == c1["messages_accepted"] == 4, (t, c1)
            assert t["delivered"] == c1["delivered"] == 4, (t, c1)
            assert t["rejected"] == c1["refusals"] == 8, (t, c1)
            assert t["connections"] == c1["connections"], (t, c1)
            assert c1["deferred"] <= t["deferred"] <= counters(s2)["deferred"], (t, c1)
            assert t["deferred"] >= 1
        finally:
            srv.close()
