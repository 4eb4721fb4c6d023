"""Rate limits against the real daemon, from clients bound to their own
127.0.0.0/8 addresses: each limit at N and N+1, shared by the workers
(a leaky bucket in the store), 421 4.7.0 and close by default, a silent
close with rate_action = drop, access-map OK exempt."""
import time

from harness import Client, Moat


def banner(srv, ip):
    c = Client(srv.port, source=ip)
    return c, c.reply()


def defers(srv, cls):
    return [kv for e, kv in srv.log_lines("defer") if kv.get("class") == cls]


def test_conn_rate_n_then_n_plus_1_and_the_leak():
    srv = Moat(conn_rate="3/2s", maps={"access": "127.0.20.9 OK\n"})
    try:
        for _ in range(3):
            c, (code, _) = banner(srv, "127.0.20.5")
            assert code == 220
            c.expect("QUIT", 221)
        c, (code, text) = banner(srv, "127.0.20.5")
        assert code == 421 and "4.7.0" in " ".join(text), text
        assert c.closed()
        c, (code, _) = banner(srv, "127.0.20.6")
        assert code == 220, "another address has its own bucket"
        c.expect("QUIT", 221)
        for _ in range(5):
            c, (code, _) = banner(srv, "127.0.20.9")
            assert code == 220, "access OK is exempt"
            c.expect("QUIT", 221)
        time.sleep(0.8)             # 3 per 2 s leak one in 0.67 s
        c, (code, _) = banner(srv, "127.0.20.5")
        assert code == 220, "the bucket leaked one"
        c.expect("QUIT", 221)
        d = defers(srv, "rate:conn")
        assert len(d) == 1 and d[0]["stage"] == "connect" and d[0]["ip"] == "127.0.20.5", d
    finally:
        srv.close()


def test_drop_closes_without_a_word():
    srv = Moat(conn_rate="1/1m", rate_action="drop")
    try:
        c, (code, _) = banner(srv, "127.0.21.5")
        assert code == 220
        c.expect("QUIT", 221)
        c = Client(srv.port, source="127.0.21.5")
        c.sock.settimeout(5)
        assert c.sock.recv(100) == b"", "closed before any byte"
        assert len(defers(srv, "rate:conn")) == 1
    finally:
        srv.close()


def test_conn_max_per_ip_at_n_and_n_plus_1_dropped_and_scored():
    """conn_max_per_ip (max_sessions_per_ip) at N and N+1 with
    rate_action = drop: the one past it is closed without a byte, scores
    a rate event, and enough of them block the address."""
    srv = Moat(conn_max_per_ip="2", rate_action="drop", block_threshold="4",
               block_weight_rate="2")
    try:
        held = [banner(srv, "127.0.22.5")[0] for _ in range(2)]
        for _ in range(2):
            c = Client(srv.port, source="127.0.22.5")
            c.sock.settimeout(5)
            assert c.sock.recv(100) == b"", "N+1: closed before any byte"
        c, (code, _) = banner(srv, "127.0.22.6")
        assert code == 220, "another address is not held back"
        c.expect("QUIT", 221)
        held[0].expect("QUIT", 221)
        time.sleep(0.3)
        c = Client(srv.port, source="127.0.22.5")
        c.sock.settimeout(5)
        assert c.sock.recv(100) == b"", "blocked after two refusals"
        held[1].expect("QUIT", 221)
        r = [kv for e, kv in srv.log_lines("reject") if kv.get("ip") == "127.0.22.5"]
        assert [kv["class"] for kv in r] == ["conn-limit", "conn-limit", "blocked"], r
        b = [kv for e, kv in srv.log_lines("block")]
        assert len(b) == 1 and b[0]["reason"] == "rate-limit", b
    finally:
        srv.close()


def session(srv, ip):
    c, (code, _) = banner(srv, ip)
    assert code == 220
    c.expect("EHLO client.example.org", 250)
    return c


def send(c, n):
    c.expect("MAIL FROM:<s@rates.example>", 250)
    c.expect("RCPT TO:<alice@example.test>", 250)
    c.expect("DATA", 354)
    c.expect(f"Subject: m{n}\r\n\r\nx\r\n.", 250)


def test_msgs_per_conn_and_msg_rate():
    srv = Moat(msgs_per_conn="2", msg_rate="3/1h")
    try:
        c = session(srv, "127.0.22.5")
        send(c, 1)
        send(c, 2)
        code, text = c.cmd("MAIL FROM:<s@rates.example>")
        assert code == 421 and "session" in text, text
        assert c.closed()
        c = session(srv, "127.0.22.5")
        send(c, 3)                  # the third message in the hour
        code, text = c.cmd("MAIL FROM:<s@rates.example>")
        assert code == 421 and "messages from your address" in text, text
        assert len(srv.wait_messages("alice", 3)) == 3
        assert len(defers(srv, "rate:msgs-per-conn")) == 1
        assert len(defers(srv, "rate:msg")) == 1
    finally:
        srv.close()


def test_rcpt_rate_and_a_dictionary_attack():
    srv = Moat(rcpt_rate="2/1h", rcpt_errors_per_conn="3")
    try:
        c = session(srv, "127.0.23.5")
        c.expect("MAIL FROM:<s@rates.example>", 250)
        c.expect("RCPT TO:<alice@example.test>", 250)
        c.expect("RCPT TO:<bob@example.test>", 250)
        code, text = c.cmd("RCPT TO:<postmaster@example.test>")
        assert code == 421 and "recipients from your address" in text, text
        assert c.closed()
        c = session(srv, "127.0.23.6")
        c.expect("MAIL FROM:<s@rates.example>", 250)
        for n in range(3):
            c.expect(f"RCPT TO:<nobody{n}@example.test>", 550)
        code, text = c.cmd("RCPT TO:<nobody9@example.test>")
        assert code == 421 and "unknown recipients" in text, text
        assert c.closed()
        assert len(defers(srv, "rate:rcpt")) == 1
        assert len(defers(srv, "rate:rcpt-errors")) == 1
    finally:
        srv.close()


def test_pregreet_talkers_are_refused_patient_clients_served():
    srv = Moat(greet_delay="2s", maps={"access": "127.0.24.9 OK\n"})
    try:
        t0 = time.time()
        c = Client(srv.port, source="127.0.24.5")
        code, lines = c.reply()
        assert code == 220 and len(lines) == 2, lines     # 220- then 220
        assert time.time() - t0 > 0.9, "the last line came after the delay"
        c.expect("EHLO patient.example.org", 250)
        c.expect("QUIT", 221)
        c = Client(srv.port, source="127.0.24.6")
        c.sock.settimeout(5)
        first = c.sock.recv(200)
        assert first.startswith(b"220-"), first
        c.send("EHLO hasty.example.org\r\n")
        code, text = c.reply()          # the banner ends first (RFC 5321)
        assert code == 220 and len(text) == 1, text
        code, text = c.reply()          # then its first command's answer
        assert code == 554 and "5.5.1" in " ".join(text), text
        assert c.closed()
        r = [kv for e, kv in srv.log_lines("reject") if kv.get("class") == "pregreet"]
        assert len(r) == 1 and r[0]["ip"] == "127.0.24.6" and r[0]["stage"] == "connect", r
        t0 = time.time()
        c = Client(srv.port, source="127.0.24.9")
        assert c.reply()[0] == 220 and time.time() - t0 < 0.5, "access OK: no delay"
        c.expect("QUIT", 221)
    finally:
        srv.close()


def test_moatctl_rates_shows_a_clients_buckets():
    import subprocess
    from harness import MOATCTL
    srv = Moat(conn_rate="2/1h")
    try:
        for _ in range(2):
            c, (code, _) = banner(srv, "127.0.25.5")
            assert code == 220
            c.expect("QUIT", 221)

        def rates(ip):
            p = subprocess.run([MOATCTL, "-f", srv.conf_path, "rates", ip],
                               capture_output=True, text=True, env=srv.env())
            assert p.returncode == 0, p
            return {l.split()[0]: l for l in p.stdout.splitlines()}
        r = rates("127.0.25.5")
        assert "2.0 of 2 per 3600s" in r["conn_rate"] and "over" in r["conn_rate"], r
        assert r["msg_rate"].split()[1] == "off", r
        assert "never seen" in rates("127.0.25.6")["conn_rate"]
    finally:
        srv.close()


def test_block_list_scores_blocks_escalates_and_moatctl():
    import subprocess
    from harness import MOATCTL

    def ctl(*args):
        return subprocess.run([MOATCTL, "-f", srv.conf_path, *args],
                              capture_output=True, text=True, env=srv.env())
    srv = Moat(block_threshold="10", greet_delay="1s", block_time="1h",
               block_time_max="4h")
    try:
        c = Client(srv.port, source="127.0.26.5")   # a pregreet weighs 10
        c.sock.settimeout(5)
        c.sock.recv(200)
        c.send("EHLO hasty.example.org\r\n")
        assert [c.reply()[0], c.reply()[0]] == [220, 554]
        assert c.closed()
        c = Client(srv.port, source="127.0.26.5")
        c.sock.settimeout(5)
        assert c.sock.recv(100) == b"", "blocked: closed before any byte"
        b = [kv for e, kv in srv.log_lines("block")]
        assert len(b) == 1 and b[0]["reason"] == "pregreet" and b[0]["duration"] == "3600", b
        r = [kv for e, kv in srv.log_lines("reject") if kv.get("class") == "blocked"]
        assert r and r[0]["ip"] == "127.0.26.5"
        p = ctl("blocks")
        assert "127.0.26.5" in p.stdout and "pregreet" in p.stdout, p
        assert "add element inet moat blocked4 { 127.0.26.5 timeout" in ctl("blocks", "nft").stdout
        assert "add moat-blocked4 127.0.26.5 timeout" in ctl("blocks", "ipset").stdout
        assert ctl("unblock", "127.0.26.5").returncode == 0
        c = Client(srv.port, source="127.0.26.5")
        code, _ = c.reply()
        assert code == 220, "unblocked"
        c.expect("QUIT", 221)
        assert ctl("block", "127.0.26.7", "2h", "seen in a storm").returncode == 0
        c = Client(srv.port, source="127.0.26.7")
        c.sock.settimeout(5)
        assert c.sock.recv(100) == b""
        assert "seen in a storm" in ctl("blocks").stdout
    finally:
        srv.close()


def test_rcpt_errors_past_max_bad_commands():
    """With rcpt_errors_per_conn set, unknown recipients are counted by it
    alone, so a limit above max_bad_commands still fires."""
    srv = Moat(rcpt_errors_per_conn="12", max_bad_commands="10")
    try:
        c = session(srv, "127.0.27.5")
        c.expect("MAIL FROM:<s@rates.example>", 250)
        for n in range(12):
            c.expect(f"RCPT TO:<nobody{n}@example.test>", 550)
        code, text = c.cmd("RCPT TO:<nobody99@example.test>")
        assert code == 421 and "unknown recipients" in text, text
    finally:
        srv.close()
