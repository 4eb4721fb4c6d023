"""Protocol safety: smuggling, bare LF/CR, NUL, long lines, pipelining
abuse and STARTTLS injection.  Each asserts the replies and what landed."""
import time

from harness import Moat, send_message

_m = {}


def m(kind="default"):
    if kind not in _m:
        if kind == "normalize":
            _m[kind] = Moat(bare_lf="normalize")
        else:
            _m[kind] = Moat()
    return _m[kind]


def teardown_module():
    for x in _m.values():
        x.close()


def smuggle(server, ending, user):
    """Send a message whose body holds a fake end of data and a second
    transaction; return (reply after our real end, messages for user)."""
    c = server.client()
    c.expect("EHLO client.remote.example", 250)
    c.expect("MAIL FROM:<a@remote.example>", 250)
    c.expect(f"RCPT TO:<{user}@example.test>", 250)
    c.expect("DATA", 354)
    tag = f"smuggle-{abs(hash(ending))}-{time.time()}"
    c.send(f"Subject: {tag}\r\n\r\nfirst part\r\n".encode() + ending +
           b"MAIL FROM:<evil@remote.example>\r\nRCPT TO:<" + user.encode() +
           b"@example.test>\r\nDATA\r\nSubject: smuggled\r\n\r\nsecond\r\n.\r\n")
    code, lines = c.reply()
    # whatever the server said, nothing else is pending: one reply only
    c.send("NOOP\r\n")
    nxt = c.reply()
    c.close()
    return code, nxt, tag


SMUGGLE_ENDINGS = [b"\n.\n", b"\n.\r\n", b"\r\n.\n", b"\r.\r", b"\r\n.\r",
                   b"\r.\r\n", b"\r\n.\r\r\n", b"\n.\r"]


def test_smuggling_variants_rejected_by_default():
    for ending in SMUGGLE_ENDINGS:
        code, nxt, tag = smuggle(m(), ending, "bob")
        assert code == 550, (ending, code)
        assert nxt[0] == 250, (ending, nxt)
    time.sleep(0.5)
    assert not any(b"smuggled" in x or b"smuggle-" in x for x in m().messages("bob"))


def test_smuggling_variants_normalized_never_split():
    srv = m("normalize")
    for ending in SMUGGLE_ENDINGS:
        code, nxt, tag = smuggle(srv, ending, "bob")
        assert code == 250, (ending, code)
        assert nxt[0] == 250, (ending, nxt)
        msgs = [x for x in srv.wait_messages("bob", 1) if tag.encode() in x]
        deadline = time.time() + 10
        while not msgs and time.time() < deadline:
            time.sleep(0.05)
            msgs = [x for x in srv.messages("bob") if tag.encode() in x]
        assert len(msgs) == 1, ending
        # the smuggled part stayed inside the one message
        assert b"Subject: smuggled" in msgs[0]
    # and no separate message was ever made from the smuggled part
    assert not any(x.count(b"Subject: smuggled") and b"smuggle-" not in x
                   for x in srv.messages("bob"))


def test_bare_lf_in_body_refused():
    c = m().client()
    c.expect("EHLO client.remote.example", 250)
    c.expect("MAIL FROM:<a@remote.example>", 250)
    c.expect("RCPT TO:<alice@example.test>", 250)
    c.expect("DATA", 354)
    c.send("Subject: barelf\r\n\r\nline one\nline two\r\n.\r\n")
    code, lines = c.reply()
    assert code == 550 and lines[0].startswith("5.5.2"), (code, lines)
    c.expect("QUIT", 221)
    time.sleep(0.3)
    assert not any(b"barelf" in x for x in m().messages("alice"))


def test_nul_and_bare_cr_in_commands():
    c = m().client()
    c.expect("EHLO client.remote.example", 250)
    c.send(b"NOOP\x00x\r\n")
    code, lines = c.reply()
    assert code == 500 and lines[0].startswith("5.5.2"), (code, lines)
    c.send(b"NO\rOP\r\n")
    code, lines = c.reply()
    assert code == 500 and lines[0].startswith("5.5.2"), (code, lines)
    c.expect("QUIT", 221)


def test_long_command_line_limit():
    srv = m()
    limit = 1000
    c = srv.client()
    c.expect("EHLO client.remote.example", 250)
    # at the limit: 1000 bytes with CRLF
    line = "NOOP " + "x" * (limit - 2 - 5)
    assert len(line) + 2 == limit
    c.expect(line, 250)
    # one past it
    line = "NOOP " + "x" * (limit - 1 - 5)
    assert len(line) + 2 == limit + 1
    code, text = c.cmd(line)
    assert code == 500 and text.startswith("5.5.2"), (code, text)
    c.expect("NOOP", 250)
    c.expect("QUIT", 221)


def test_long_line_refused_while_reading():
    """The 500 comes before any line end is sent."""
    c = m().client()
    c.expect("EHLO client.remote.example", 250)
    c.send("NOOP " + "y" * 5000)
    code, lines = c.reply()
    assert code == 500, code
    c.send("\r\nNOOP\r\n")
    assert c.reply()[0] == 250
    c.close()


def test_too_many_bad_commands():
    srv = Moat(max_bad_commands=3)
    try:
        c = srv.client()
        for _ in range(3):
            assert c.cmd("BOGUS")[0] == 500
        code, text = c.cmd("BOGUS")
        assert code == 421, (code, text)
        assert c.closed()
    finally:
        srv.close()


def test_data_pipelined_with_content_before_354():
    c = m().client()
    c.expect("EHLO client.remote.example", 250)
    c.send("MAIL FROM:<a@remote.example>\r\nRCPT TO:<alice@example.test>\r\n"
           "DATA\r\nSubject: early\r\n\r\ntoo early\r\n.\r\n")
    assert c.reply()[0] == 250
    assert c.reply()[0] == 250
    code, lines = c.reply()
    assert code == 554 and lines[0].startswith("5.5.0"), (code, lines)
    assert c.closed()
    time.sleep(0.3)
    assert not any(b"too early" in x for x in m().messages("alice"))


def test_ehlo_pipelined_with_more_commands():
    c = m().client()
    c.send("EHLO client.remote.example\r\nMAIL FROM:<a@remote.example>\r\n")
    code, lines = c.reply()
    assert code == 554, (code, lines)
    assert c.closed()


def test_http_on_smtp_port_closed():
    c = m().client()
    c.send("GET / HTTP/1.0\r\n\r\n")
    code, _ = c.reply()
    assert code == 554
    assert c.closed()


def test_starttls_discards_pipelined_plaintext():
    srv = m()
    c = srv.client()
    c.expect("EHLO client.remote.example", 250)
    # the injected commands ride in the same packet as STARTTLS
    c.send("STARTTLS\r\nMAIL FROM:<inject@remote.example>\r\nRCPT TO:<alice@example.test>\r\n")
    code, lines = c.reply()
    assert code == 220, (code, lines)
    c.buf = b""
    c.starttls()
    # had the injection survived, these would get 503/250 out of turn
    code, lines = (c.send("EHLO client.remote.example\r\n"), c.reply())[1]
    assert code == 250
    assert not any(l.upper().startswith("STARTTLS") for l in lines), lines
    c.expect("RCPT TO:<alice@example.test>", 503)
    c.expect("MAIL FROM:<a@remote.example>", 250)
    c.expect("RCPT TO:<alice@example.test>", 250)
    c.expect("DATA", 354)
    c.send("Subject: over tls\r\n\r\nsecret\r\n.\r\n")
    code, lines = c.reply()
    assert code == 250
    c.expect("STARTTLS", 502)
    c.expect("QUIT", 221)
    msgs = [x for x in srv.wait_messages("alice", 1) if b"over tls" in x]
    deadline = time.time() + 10
    while not msgs and time.time() < deadline:
        time.sleep(0.05)
        msgs = [x for x in srv.messages("alice") if b"over tls" in x]
    assert msgs and b"with ESMTPS (TLSv1.3" in msgs[0], msgs


def test_mail_forgets_helo_after_starttls():
    c = m().client()
    c.expect("EHLO client.remote.example", 250)
    c.expect("STARTTLS", 220)
    c.starttls()
    c.expect("MAIL FROM:<a@remote.example>", 503)
    c.expect("QUIT", 221)
