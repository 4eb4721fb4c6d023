"""Every limit at N and at N+1: the excess gets its reply and nothing
unbounded happens."""
import time

from harness import Client, Moat, send_message


def body_of_size(n, tag):
    """A message body (what the client sends before the final dot) of
    exactly n bytes."""
    head = f"Subject: {tag}\r\n\r\n"
    rest = n - len(head)
    assert rest >= 2
    lines = []
    while rest > 0:
        take = min(rest, 78)
        if take < 2:                      # keep CRLF endings intact
            lines[-1] = lines[-1][:-2] + "y" * take + "\r\n"
            break
        lines.append("x" * (take - 2) + "\r\n")
        rest -= take
    body = head + "".join(lines)
    assert len(body) == n, (len(body), n)
    return body


def test_message_size_at_and_past_limit():
    srv = Moat(max_message_size="4000")
    try:
        c = srv.client()
        code, text = send_message(c, body=body_of_size(4000, "size-at"))
        assert code == 250, text
        c.expect("RSET", 250)
        c.expect("MAIL FROM:<a@remote.example>", 250)
        c.expect("RCPT TO:<alice@example.test>", 250)
        c.expect("DATA", 354)
        c.send(body_of_size(4001, "size-past") + ".\r\n")
        code, lines = c.reply()
        assert code == 552 and lines[0].startswith("5.3.4"), (code, lines)
        c.expect("MAIL FROM:<a@remote.example> SIZE=4000", 250)
        c.expect("RSET", 250)
        code, text = c.cmd("MAIL FROM:<a@remote.example> SIZE=4001")
        assert code == 552 and text.startswith("5.3.4"), (code, text)
        c.expect("QUIT", 221)
        msgs = srv.wait_messages("alice", 1)
        time.sleep(0.5)
        msgs = srv.messages("alice")
        assert any(b"size-at" in x for x in msgs)
        assert not any(b"size-past" in x for x in msgs)
        assert not srv.spool_files(), srv.spool_files()
    finally:
        srv.close()


def test_recipients_at_and_past_limit():
    srv = Moat(max_recipients="3")
    try:
        c = srv.client()
        c.expect("EHLO client.remote.example", 250)
        c.expect("MAIL FROM:<a@remote.example>", 250)
        for r in ("alice", "bob", "postmaster"):
            c.expect(f"RCPT TO:<{r}@example.test>", 250)
        text = c.expect("RCPT TO:<alice+x@example.test>", 452)
        assert text.startswith("4.5.3"), text
        c.expect("DATA", 354)
        c.send("Subject: three\r\n\r\nx\r\n.\r\n")
        assert c.reply()[0] == 250
        c.expect("QUIT", 221)
        srv.wait_messages("postmaster", 1)
    finally:
        srv.close()


def test_sessions_per_ip_at_and_past_limit():
    srv = Moat(max_sessions_per_ip="3")
    try:
        held = [srv.client() for _ in range(3)]
        c = Client(srv.port)
        code, lines = c.reply()
        assert code == 421 and lines[0].startswith("4.7.0"), (code, lines)
        assert c.closed()
        held[0].expect("QUIT", 221)
        assert held[0].closed()
        deadline = time.time() + 3
        while True:               # room again once the server has counted
            c = Client(srv.port)
            code, lines = c.reply()
            if code == 220 or time.time() > deadline:
                break
            c.close()
            time.sleep(0.1)
        assert code == 220, (code, lines)
        c.expect("QUIT", 221)
        for h in held[1:]:
            h.close()
        srv.wait_log(lambda e, kv: e == "reject" and kv.get("class") == "conn-limit")
    finally:
        srv.close()


def test_sessions_total_at_and_past_limit():
    srv = Moat(max_sessions="4", max_sessions_per_ip="100")
    try:
        held = [srv.client() for _ in range(4)]
        c = Client(srv.port)
        code, lines = c.reply()
        assert code == 421 and lines[0].startswith("4.3.2"), (code, lines)
        for h in held:
            h.close()
    finally:
        srv.close()


def test_command_timeout():
    srv = Moat(command_timeout="2s")
    try:
        c = srv.client()
        c.expect("EHLO client.remote.example", 250)
        time.sleep(1.0)
        c.expect("NOOP", 250)             # activity restarts the clock
        t0 = time.time()
        code, lines = c.reply()
        took = time.time() - t0
        assert code == 421 and lines[0].startswith("4.4.2"), (code, lines)
        assert 1.0 <= took <= 4.5, took
        assert c.closed()
    finally:
        srv.close()


def test_session_deadline():
    srv = Moat(session_timeout="3s")
    try:
        c = srv.client()
        t0 = time.time()
        c.expect("EHLO client.remote.example", 250)
        code = 250
        while code == 250 and time.time() - t0 < 8:
            time.sleep(0.4)
            code, text = c.cmd("NOOP")
        assert code == 421, code
        assert 2.0 <= time.time() - t0 <= 6, time.time() - t0
    finally:
        srv.close()


def test_tls_handshake_deadline():
    srv = Moat(tls_timeout="2s")
    try:
        c = srv.client()
        c.expect("EHLO client.remote.example", 250)
        c.expect("STARTTLS", 220)
        t0 = time.time()
        assert c.closed(timeout=6)        # we never start the handshake
        assert 1.0 <= time.time() - t0 <= 5
    finally:
        srv.close()


def received_headers(n):
    return "".join(f"Received: from hop{i}.example by x.example; Mon, 1 Jan 2024 00:00:00 +0000\r\n"
                   for i in range(n))


def test_hop_count_at_and_past_limit():
    srv = Moat(max_hops="5")
    try:
        c = srv.client()
        code, text = send_message(c, body=received_headers(5) + "Subject: hops-ok\r\n\r\nx\r\n")
        assert code == 250, text
        c.expect("MAIL FROM:<a@remote.example>", 250)
        c.expect("RCPT TO:<alice@example.test>", 250)
        c.expect("DATA", 354)
        c.send(received_headers(6) + "Subject: hops-loop\r\n\r\nx\r\n.\r\n")
        code, lines = c.reply()
        assert code == 554 and lines[0].startswith("5.4.6"), (code, lines)
        c.expect("QUIT", 221)
        srv.wait_messages("alice", 1)
        time.sleep(0.3)
        assert not any(b"hops-loop" in x for x in srv.messages("alice"))
    finally:
        srv.close()


def test_command_line_length_setting():
    srv = Moat(max_line_length="600")
    try:
        c = srv.client()
        c.expect("EHLO client.remote.example", 250)
        c.expect("NOOP " + "a" * (600 - 7), 250)
        code, text = c.cmd("NOOP " + "a" * (600 - 6))
        assert code == 500 and text.startswith("5.5.2"), (code, text)
        c.expect("QUIT", 221)
    finally:
        srv.close()


def test_commands_per_session():
    srv = Moat(max_commands="5")
    try:
        c = srv.client()
        c.expect("EHLO client.remote.example", 250)
        for _ in range(4):
            c.expect("NOOP", 250)
        code, text = c.cmd("NOOP")
        assert code == 421, (code, text)
        assert c.closed()
    finally:
        srv.close()


def test_free_space_floor():
    srv = Moat(min_free_space="1000000G")
    try:
        c = srv.client()
        c.expect("EHLO client.remote.example", 250)
        text = c.expect("MAIL FROM:<a@remote.example>", 452)
        assert text.startswith("4.3.1"), text
        c.expect("QUIT", 221)
    finally:
        srv.close()
