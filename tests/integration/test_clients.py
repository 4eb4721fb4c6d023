"""Real clients against the real daemon: Python's smtplib (STARTTLS,
8BITMIME, several recipients, the exceptions it raises for our
refusals) and swaks (plain, TLS, pipelined, refused recipient, relay
attempt, a message over the size limit).  Each test tags its messages
and asserts both the replies and what landed in the maildirs."""
import glob
import os
import smtplib
import ssl
import subprocess
import time
from email.message import EmailMessage

from harness import Moat

MAX_SIZE = 16 * 1024
SWAKS = "/usr/bin/swaks"
TIMEOUT = 20

_m = None


def m():
    global _m
    if _m is None:
        _m = Moat(max_message_size=f"{MAX_SIZE // 1024}K")
    return _m


def teardown_module():
    if _m is not None:
        _m.close()


_seq = [0]


def new_tag(what):
    _seq[0] += 1
    return f"{what}-{os.getpid()}-{_seq[0]}-{time.time():.6f}"


def mine(user, tag):
    return [x for x in m().messages(user) if tag.encode() in x]


def wait_mine(user, tag, n, timeout=10):
    """Wait (bounded) until USER holds n messages carrying tag; then make
    sure no further copy arrives."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        if len(mine(user, tag)) >= n:
            break
        time.sleep(0.05)
    time.sleep(0.2)
    got = mine(user, tag)
    assert len(got) == n, (user, tag, len(got), m().log()[-3000:])
    return got


def nowhere(tag):
    """No maildir of any user holds a message carrying tag."""
    time.sleep(0.3)
    hits = []
    for path in glob.glob(os.path.join(m().dir, "mail", "*", "*", "*")):
        with open(path, "rb") as f:
            if tag.encode() in f.read():
                hits.append(path)
    return not hits


def tls_context():
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    return ctx


def smtp():
    s = smtplib.SMTP("127.0.0.1", m().port, local_hostname="client.remote.example",
                     timeout=TIMEOUT)
    code, _ = s.ehlo()
    assert code == 250
    return s


# ---- smtplib ----

def test_smtplib_starttls_send_message():
    tag = new_tag("smtplib-tls")
    s = smtp()
    try:
        assert s.has_extn("starttls")
        code, text = s.starttls(context=tls_context())
        assert code == 220 and text.startswith(b"2.0.0"), (code, text)
        assert isinstance(s.sock, ssl.SSLSocket)
        version = s.sock.version()
        code, _ = s.ehlo()
        assert code == 250
        assert not s.has_extn("starttls")         # never offered twice
        msg = EmailMessage()
        msg["From"] = "sender@remote.example"
        msg["To"] = "alice@example.test"
        msg["Subject"] = tag
        msg.set_content("sent over TLS by smtplib\n")
        assert s.send_message(msg) == {}
        assert s.noop()[0] == 250
    finally:
        code, _ = s.quit()
    assert code == 221
    got = wait_mine("alice", tag, 1)[0]
    assert got.startswith(b"Return-Path: <sender@remote.example>\n"), got[:200]
    assert b"Delivered-To: alice@example.test\n" in got
    assert f"with ESMTPS ({version}".encode() in got, got[:400]
    assert b"sent over TLS by smtplib\n" in got


def test_smtplib_8bitmime_body_kept_byte_for_byte():
    tag = new_tag("smtplib-8bit")
    body = ("Grüße aus Köln, ½ € — naïve café\r\n").encode("utf-8") + \
        b"raw latin-1 \xe9\xe8 and \xff\xfe bytes\r\n" + \
        b".a line that starts with a dot\r\n"
    raw = (f"Subject: {tag}\r\nMIME-Version: 1.0\r\n"
           "Content-Type: text/plain; charset=utf-8\r\n"
           "Content-Transfer-Encoding: 8bit\r\n\r\n").encode() + body
    s = smtp()
    try:
        assert s.has_extn("8bitmime")
        code, text = s.mail("sender@remote.example", ["BODY=8BITMIME"])
        assert code == 250 and text.startswith(b"2.1.0"), (code, text)
        code, text = s.rcpt("bob@example.test")
        assert code == 250 and text.startswith(b"2.1.5"), (code, text)
        code, text = s.data(raw)
        assert code == 250 and b"queued as" in text, (code, text)
    finally:
        assert s.quit()[0] == 221
    got = wait_mine("bob", tag, 1)[0]
    want = body.replace(b"\r\n", b"\n")
    assert got.endswith(b"\n\n" + want), got[-300:]


def test_smtplib_three_recipients_one_copy_each():
    tag = new_tag("smtplib-multi")
    msg = EmailMessage()
    msg["From"] = "sender@remote.example"
    msg["To"] = "alice@example.test, Bob@Example.Test"
    msg["Cc"] = "postmaster+lists@example.test"
    msg["Subject"] = tag
    msg.set_content("to three\n")
    s = smtp()
    try:
        assert s.send_message(msg) == {}
    finally:
        assert s.quit()[0] == 221
    for user, rcpt in (("alice", b"alice@example.test"),
                       ("bob", b"Bob@example.test"),
                       ("postmaster", b"postmaster+lists@example.test")):
        got = wait_mine(user, tag, 1)[0]
        lines = got.split(b"\n")
        assert lines[1] == b"Delivered-To: " + rcpt, (user, lines[:3])
        assert got.count(b"Delivered-To:") == 1, user


def test_smtplib_unknown_recipient_refused():
    tag = new_tag("smtplib-unknown")
    raw = f"Subject: {tag}\r\n\r\nnobody home\r\n"
    s = smtp()
    try:
        try:
            s.sendmail("sender@remote.example", ["nosuch@example.test"], raw)
            raise AssertionError("sendmail to an unknown user did not raise")
        except smtplib.SMTPRecipientsRefused as e:
            assert list(e.recipients) == ["nosuch@example.test"], e.recipients
            code, text = e.recipients["nosuch@example.test"]
            assert code == 550 and text.startswith(b"5.1.1"), (code, text)
        # one known and one unknown: the known one gets it, once
        refused = s.sendmail("sender@remote.example",
                             ["nosuch@example.test", "alice@example.test"], raw)
        assert list(refused) == ["nosuch@example.test"], refused
        assert refused["nosuch@example.test"][0] == 550
    finally:
        assert s.quit()[0] == 221
    wait_mine("alice", tag, 1)
    assert not os.path.isdir(m().maildir("nosuch"))


def test_smtplib_forged_local_sender_refused():
    tag = new_tag("smtplib-forged")
    s = smtp()
    try:
        try:
            s.sendmail("nobody@example.test", ["alice@example.test"],
                       f"Subject: {tag}\r\n\r\nforged\r\n")
            raise AssertionError("a forged local sender was accepted")
        except smtplib.SMTPSenderRefused as e:
            assert e.smtp_code == 550 and e.smtp_error.startswith(b"5.7.1"), e
            assert e.sender == "nobody@example.test"
        # the session goes on: a real local sender is fine
        code, _ = s.rset()
        assert code == 250
        code, _ = s.mail("alice@example.test")
        assert code == 250
    finally:
        assert s.quit()[0] == 221
    assert nowhere(tag)
    m().wait_log(lambda e, kv: e == "reject" and kv.get("class") == "sender:forged-local"
                 and kv.get("from") == "nobody@example.test")


# ---- swaks ----

def swaks(*args, to="alice@example.test", body=None):
    cmd = [SWAKS, "--server", f"127.0.0.1:{m().port}", "--to", to,
           "--from", "x@remote.example", "--helo", "client.remote.example",
           "--timeout", "15"]
    if body is not None:
        cmd += ["--body", body]
    cmd += list(args)
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=TIMEOUT)
    return p.returncode, p.stdout + p.stderr


def test_swaks_plain_delivery():
    tag = new_tag("swaks-plain")
    code, out = swaks("--header", f"Subject: {tag}", body=f"plain body {tag}")
    assert code == 0, out
    assert "<-  250 2.0.0 Ok: queued as " in out, out
    assert "<-  221 2.0.0" in out, out
    got = wait_mine("alice", tag, 1)[0]
    assert b"Return-Path: <x@remote.example>\n" in got
    assert b"with ESMTP\n" in got, got[:400]
    assert f"plain body {tag}\n".encode() in got


def test_swaks_tls_delivery():
    tag = new_tag("swaks-tls")
    code, out = swaks("--tls", "--header", f"Subject: {tag}", body=f"tls body {tag}")
    assert code == 0, out
    assert "<-  220 2.0.0" in out and "TLS started" in out, out
    # after the handshake every exchange is encrypted (swaks marks it ~)
    assert "<~  250 2.0.0 Ok: queued as " in out, out
    assert "<~  250-STARTTLS" not in out, out
    got = wait_mine("alice", tag, 1)[0]
    assert b"with ESMTPS (TLSv1." in got, got[:400]


def test_swaks_pipelined_delivery():
    tag = new_tag("swaks-pipe")
    code, out = swaks("--pipeline", "--to", "alice@example.test,bob@example.test",
                      "--header", f"Subject: {tag}", body=f"pipelined {tag}")
    assert code == 0, out
    lines = out.splitlines()
    # MAIL, both RCPTs and DATA went out before the first reply came back
    sent = [i for i, l in enumerate(lines) if l.startswith(" -> ")
            and l[4:].split(":")[0] in ("MAIL FROM", "RCPT TO", "DATA")]
    first_250 = next(i for i, l in enumerate(lines) if l.startswith("<-  250 2.1.0"))
    assert len(sent) == 4 and max(sent) < first_250, lines
    replies = [l[4:7] for l in lines[first_250:] if l.startswith("<-  ")]
    assert replies[:5] == ["250", "250", "250", "354", "250"], replies
    wait_mine("alice", tag, 1)
    wait_mine("bob", tag, 1)


def test_swaks_unknown_recipient():
    tag = new_tag("swaks-unknown")
    code, out = swaks("--header", f"Subject: {tag}", to="nosuch@example.test",
                      body=f"nobody {tag}")
    assert code != 0, out
    assert "<** 550 5.1.1" in out, out
    assert " -> DATA" not in out, out
    assert nowhere(tag)


def test_swaks_relay_attempt():
    tag = new_tag("swaks-relay")
    for to in ("victim@elsewhere.example", "victim%elsewhere.example@example.test",
               "elsewhere.example!victim@example.test",
               "\"victim@elsewhere.example\"@example.test"):
        code, out = swaks("--header", f"Subject: {tag}", to=to, body=f"relay {tag}")
        assert code != 0, (to, out)
        assert "<** 554 5.7.1" in out, (to, out)
        assert " -> DATA" not in out, (to, out)
    assert nowhere(tag)
    m().wait_log(lambda e, kv: e == "reject" and kv.get("class") == "relay"
                 and kv.get("to") == "victim@elsewhere.example")


def test_swaks_message_over_size_limit():
    tag = new_tag("swaks-big")
    line = "x" * 70
    big = "\n".join([tag] + [line] * (MAX_SIZE // 71 + 20))
    assert len(big) > MAX_SIZE
    code, out = swaks("--header", f"Subject: {tag}", body=big)
    assert code != 0, out[-2000:]
    assert "<** 552 5.3.4" in out, out[-2000:]
    # and one just under the limit from the same client goes through
    small_tag = new_tag("swaks-fits")
    code, out = swaks("--header", f"Subject: {small_tag}",
                      body="\n".join([small_tag] + [line] * (MAX_SIZE // 71 - 20)))
    assert code == 0, out[-2000:]
    wait_mine("alice", small_tag, 1)
    assert nowhere(tag)
    for path in m().spool_files():
        with open(path, "rb") as f:
            assert tag.encode() not in f.read(), path
    m().wait_log(lambda e, kv: e == "reject" and kv.get("class") == "size"
                 and kv.get("stage") == "data")
