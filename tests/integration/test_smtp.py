"""The SMTP dialogue (RFC 5321, 2920, 1870, 2034) against the real daemon."""
import time

from harness import Moat, send_message

_m = None


def m():
    global _m
    if _m is None:
        _m = Moat()
    return _m


def teardown_module():
    if _m is not None:
        _m.close()


def test_banner_and_ehlo_capabilities():
    c = m().client()
    code, lines = (c.send("EHLO client.remote.example\r\n"), c.reply())[1]
    assert code == 250
    caps = [l.split()[0].upper() for l in lines[1:]]
    assert lines[0].startswith("mx.example.test")
    for cap in ("PIPELINING", "SIZE", "8BITMIME", "ENHANCEDSTATUSCODES", "STARTTLS"):
        assert cap in caps, caps
    assert "CHUNKING" not in caps and "AUTH" not in caps, caps
    c.expect("QUIT", 221)
    assert c.closed()


def test_accepted_message_lands_in_maildir():
    c = m().client()
    code, text = send_message(c, body="Subject: hello alice\r\n\r\nbody line\r\n")
    assert code == 250, text
    assert "queued as" in text
    qid = text.split()[-1]
    c.expect("QUIT", 221)
    msgs = m().wait_messages("alice", 1)
    mine = [x for x in msgs if b"Subject: hello alice" in x]
    assert len(mine) == 1
    msg = mine[0]
    assert msg.startswith(b"Return-Path: <sender@remote.example>\n")
    assert b"Delivered-To: alice@example.test\n" in msg
    assert b"Received: from client.remote.example ([127.0.0.1])" in msg
    assert qid.encode() in msg
    assert b"\r\n" not in msg          # maildir files use LF
    assert msg.endswith(b"body line\n")


def test_dot_stuffing_removed():
    c = m().client()
    code, _ = send_message(c, rcpts=("<bob@example.test>",),
                           body="Subject: dots\r\n\r\n..leading dot\r\n")
    assert code == 250
    msgs = [x for x in m().wait_messages("bob", 1) if b"Subject: dots" in x]
    assert len(msgs) == 1 and msgs[0].endswith(b"\n.leading dot\n"), msgs


def test_mail_before_helo_is_503():
    c = m().client()
    c.expect("MAIL FROM:<a@remote.example>", 503)
    c.expect("QUIT", 221)


def test_rcpt_before_mail_and_data_before_rcpt():
    c = m().client()
    c.expect("EHLO client.remote.example", 250)
    c.expect("RCPT TO:<alice@example.test>", 503)
    c.expect("DATA", 503)
    c.expect("MAIL FROM:<a@remote.example>", 250)
    c.expect("MAIL FROM:<a@remote.example>", 503)
    c.expect("DATA", 554)
    c.expect("RSET", 250)
    c.expect("MAIL FROM:<a@remote.example>", 250)
    c.expect("QUIT", 221)


def test_vrfy_never_tells():
    c = m().client()
    c.expect("EHLO client.remote.example", 250)
    assert "2.5.2" in c.expect("VRFY alice", 252)
    c.expect("VRFY nosuchuser", 252)
    c.expect("EXPN staff", 252)
    c.expect("HELP", 214)
    c.expect("BDAT 10 LAST", 502)      # CHUNKING is not offered
    c.expect("AUTH PLAIN AGFAAGI=", 502)
    c.expect("ETRN example.test", 502)
    c.expect("NOOP", 250)
    c.expect("QUIT", 221)


def test_enhanced_status_codes_on_replies():
    c = m().client()
    c.expect("EHLO client.remote.example", 250)
    text = c.expect("MAIL FROM:<a@remote.example>", 250)
    assert text.startswith("2.1.0"), text
    text = c.expect("RCPT TO:<nosuch@example.test>", 550)
    assert text.startswith("5.1.1"), text
    text = c.expect("BOGUS", 500)
    assert text.startswith("5.5.2"), text
    c.expect("QUIT", 221)


def test_null_sender_accepted():
    c = m().client()
    code, _ = send_message(c, sender="<>", body="Subject: bounce\r\n\r\nx\r\n")
    assert code == 250
    msgs = m().wait_messages("alice", 1)
    time.sleep(0.2)
    assert any(x.startswith(b"Return-Path: <>\n") for x in m().messages("alice"))


def test_pipelining_replies_in_order():
    c = m().client()
    c.expect("EHLO client.remote.example", 250)
    c.send("MAIL FROM:<p@remote.example>\r\nRCPT TO:<bob@example.test>\r\n"
           "RCPT TO:<nosuch@example.test>\r\nRCPT TO:<alice@example.test>\r\nDATA\r\n")
    codes = [c.reply()[0] for _ in range(5)]
    assert codes == [250, 250, 550, 250, 354], codes
    c.send("Subject: piped\r\n\r\nx\r\n.\r\nQUIT\r\n")
    assert c.reply()[0] == 250
    assert c.reply()[0] == 221
    m().wait_messages("bob", 1)


def test_size_declared_over_limit():
    c = m().client()
    c.expect("EHLO client.remote.example", 250)
    text = c.expect("MAIL FROM:<a@remote.example> SIZE=999999999999", 552)
    assert text.startswith("5.3.4")
    c.expect("MAIL FROM:<a@remote.example> SIZE=1000", 250)
    c.expect("QUIT", 221)


def test_unknown_mail_parameter():
    c = m().client()
    c.expect("EHLO client.remote.example", 250)
    c.expect("MAIL FROM:<a@remote.example> FOO=BAR", 555)
    c.expect("MAIL FROM:<a@remote.example> BODY=8BITMIME", 250)
    c.expect("QUIT", 221)


def test_log_lines_for_a_session():
    c = m().client()
    c.expect("EHLO client.remote.example", 250)
    c.expect("MAIL FROM:<a@remote.example>", 250)
    c.expect("RCPT TO:<logtest@example.test>", 550)
    c.expect("QUIT", 221)
    c.closed()
    ev, kv = m().wait_log(lambda e, kv: e == "reject" and kv.get("to") == "logtest@example.test")
    assert kv["stage"] == "rcpt" and kv["class"] == "unknown-recipient", kv
    assert kv["from"] == "a@remote.example" and kv["helo"] == "client.remote.example"
    session = kv["session"]
    ev, kv = m().wait_log(lambda e, kv: e == "disconnect" and kv.get("session") == session)
    assert kv["rcpt_bad"] == "1" and kv["commands"] == "4", kv
    assert "duration" in kv
