"""Policy: access map, HELO checks, MAIL FROM checks, RCPT checks and
relay refusal.  Each refusal is asserted in the reply and in the log."""
import time

from harness import Moat

_m = {}


def m(kind="default"):
    if kind not in _m:
        if kind == "access":
            _m[kind] = Moat(maps={"access": "127.0.0.0/8 REJECT go away\n"})
        elif kind == "access-now":
            _m[kind] = Moat(maps={"access": "127.0.0.1 REJECT go away now\n"},
                            delay_reject="no")
        elif kind == "access-ok":
            _m[kind] = Moat(maps={"access": "127.0.0.0/8 REJECT no\n127.0.0.1 OK\n"})
        else:
            _m[kind] = Moat(maps={
                "helo": "bad.example REJECT not you\n.spam.example REJECT spammer\n",
                "senders": "spammer@remote.example REJECT go away\n"
                           "@junk.example REJECT junk\n"
                           "worse.example REJECT worse\n"
                           ".worst.example REJECT worst\n"
                           "ok@example.test OK\n",
            })
    return _m[kind]


def teardown_module():
    for x in _m.values():
        x.close()


def reject_logged(srv, cls, stage):
    return srv.wait_log(lambda e, kv: e == "reject" and kv.get("class") == cls
                        and kv.get("stage") == stage)[1]


# ---- access map ----

def test_access_reject_delayed_to_rcpt():
    srv = m("access")
    c = srv.client()
    c.expect("EHLO client.remote.example", 250)
    c.expect("MAIL FROM:<a@remote.example>", 250)
    code, text = c.cmd("RCPT TO:<alice@example.test>")
    assert code == 554 and text.startswith("5.7.1") and "go away" in text, (code, text)
    c.expect("QUIT", 221)
    kv = reject_logged(srv, "access", "rcpt")
    assert kv["from"] == "a@remote.example" and kv["to"] == "alice@example.test", kv


def test_access_reject_at_banner_without_delay():
    srv = m("access-now")
    from harness import Client
    c = Client(srv.port)
    code, lines = c.reply()
    assert code == 554 and "go away now" in lines[0], (code, lines)
    c.expect("EHLO client.remote.example", 503)
    c.expect("QUIT", 221)
    reject_logged(srv, "access", "connect")


def test_access_ok_longest_prefix_wins_and_skips_client_checks():
    srv = m("access-ok")
    c = srv.client()
    # OK skips HELO checks: localhost would be refused otherwise
    c.expect("HELO localhost", 250)
    c.expect("MAIL FROM:<a@remote.example>", 250)
    c.expect("RCPT TO:<alice@example.test>", 250)
    c.expect("QUIT", 221)


# ---- HELO ----

HELO_CASES = [
    ("localhost", 550, "helo:localhost"),
    ("localhost.localdomain", 550, "helo:localhost"),
    ("mx.example.test", 550, "helo:our-name"),
    ("MX.Example.Test", 550, "helo:our-name"),
    ("192.0.2.1", 550, "helo:bare-ip"),
    ("[192.0.2.1]", 550, "helo:literal-mismatch"),
    ("nodots", 504, "helo:non-fqdn"),
    ("bad_name!.example", 501, "helo:invalid"),
    ("bad.example", 550, "helo:map"),
    ("host.spam.example", 550, "helo:map"),
    ("", 501, "helo:empty"),
]


def test_helo_refusals():
    srv = m()
    for name, code, cls in HELO_CASES:
        for verb in ("HELO", "EHLO"):
            c = srv.client()
            got, text = c.cmd(f"{verb} {name}".rstrip())
            assert got == code, (verb, name, got, text)
            c.expect("MAIL FROM:<a@remote.example>", 503)
            c.expect("QUIT", 221)
            c.close()
        srv.wait_log(lambda e, kv: e == "reject" and kv.get("class") == cls)


def test_helo_good_names():
    srv = m()
    for name in ("client.remote.example", "[127.0.0.1]", "Mail.Remote.Example",
                 "client.remote.example."):
        c = srv.client()
        c.expect(f"EHLO {name}", 250)
        c.expect("MAIL FROM:<a@remote.example>", 250)
        c.expect("QUIT", 221)


# ---- MAIL FROM ----

SENDER_CASES = [
    ("<spammer@remote.example>", 550, "sender:map"),
    ("<anyone@junk.example>", 550, "sender:map"),
    ("<x@worse.example>", 550, "sender:map"),
    ("<x@sub.worst.example>", 550, "sender:map"),
    ("<SpamMer@Remote.Example>", 550, "sender:map"),
    ("<nobody@example.test>", 550, "sender:forged-local"),
    ("<NOBODY@Example.Test>", 550, "sender:forged-local"),
    ("<user>", 553, "sender:no-domain"),
    ("<user@>", 553, None),
    ("<user@bad_domain.example>", 553, "sender:bad-domain"),
    ("user@remote.example", 501, "sender:syntax"),
    ("<" + "a" * 65 + "@remote.example>", 553, "sender:too-long"),
    ("<us\u00e9r@remote.example>", 553, "sender:non-ascii"),
]


def test_sender_refusals():
    srv = m()
    for sender, code, cls in SENDER_CASES:
        c = srv.client()
        c.expect("EHLO client.remote.example", 250)
        got, text = c.cmd(f"MAIL FROM:{sender}")
        assert got == code, (sender, got, text)
        if code == 553 and cls == "sender:non-ascii":
            assert text.startswith("5.6.7"), text
        c.expect("QUIT", 221)
        c.close()
        if cls:
            srv.wait_log(lambda e, kv: e == "reject" and kv.get("class") == cls)


def test_sender_good():
    srv = m()
    for sender in ("<>", "<alice@example.test>", "<x@sub.worse.example>", "<ok@example.test>",
                   "<" + "a" * 64 + "@remote.example>", "<x@[192.0.2.1]>"):
        c = srv.client()
        c.expect("EHLO client.remote.example", 250)
        c.expect(f"MAIL FROM:{sender}", 250)
        c.expect("QUIT", 221)


# ---- RCPT TO ----

RELAY_TRICKS = [
    "<user@remote.example>",
    "<user%remote.example@example.test>",
    "<remote.example!user@example.test>",
    "<@example.test:user@remote.example>",
    "<@remote.example:alice@example.test>",
    '<"user@remote.example"@example.test>',
    "<alice@example.test.>",
    "<user@remote.example.>",
    "<alice@[127.0.0.1]>",
    "<alice@example.test@remote.example>",
]


def test_relay_refused():
    srv = m()
    for rcpt in RELAY_TRICKS:
        c = srv.client()
        c.expect("EHLO client.remote.example", 250)
        c.expect("MAIL FROM:<a@remote.example>", 250)
        code, text = c.cmd(f"RCPT TO:{rcpt}")
        assert code in (554, 501, 553), (rcpt, code, text)
        if code == 554:
            assert text.startswith("5.7.1"), (rcpt, text)
        c.expect("DATA", 554)
        c.expect("QUIT", 221)
        c.close()


def test_plain_relay_is_554():
    srv = m()
    c = srv.client()
    c.expect("EHLO client.remote.example", 250)
    c.expect("MAIL FROM:<a@remote.example>", 250)
    code, text = c.cmd("RCPT TO:<victim@remote.example>")
    assert code == 554 and text.startswith("5.7.1"), (code, text)
    c.expect("QUIT", 221)
    reject_logged(srv, "relay", "rcpt")


def test_recipient_lookup_chain():
    srv = m()
    c = srv.client()
    c.expect("EHLO client.remote.example", 250)
    c.expect("MAIL FROM:<a@remote.example>", 250)
    c.expect("RCPT TO:<alice@example.test>", 250)
    c.expect("RCPT TO:<ALICE@EXAMPLE.TEST>", 250)
    c.expect("RCPT TO:<alice+lists@example.test>", 250)
    c.expect("RCPT TO:<anything@example.org>", 250)       # catch-all
    c.expect("RCPT TO:<postmaster@example.test>", 250)
    c.expect("RCPT TO:<PostMaster@example.org>", 250)
    c.expect("RCPT TO:<postmaster>", 250)
    text = c.expect("RCPT TO:<nosuch@example.test>", 550)
    assert text.startswith("5.1.1")
    c.expect("QUIT", 221)


def test_recipient_detail_delivered():
    srv = m()
    c = srv.client()
    c.expect("EHLO client.remote.example", 250)
    c.expect("MAIL FROM:<a@remote.example>", 250)
    c.expect("RCPT TO:<bob+tag@example.test>", 250)
    c.expect("DATA", 354)
    c.send("Subject: detail\r\n\r\nx\r\n.\r\n")
    assert c.reply()[0] == 250
    msgs = srv.wait_messages("bob", 1)
    assert any(b"Delivered-To: bob+tag@example.test" in x for x in msgs)


def test_missing_recipient_map_is_451_never_550():
    import os
    srv = Moat(start=False)
    try:
        os.unlink(os.path.join(srv.etc, "recipients.cdb"))
        srv.start()
        c = srv.client()
        c.expect("EHLO client.remote.example", 250)
        c.expect("MAIL FROM:<a@remote.example>", 250)
        text = c.expect("RCPT TO:<alice@example.test>", 451)
        assert text.startswith("4.3.0"), text
        c.expect("RCPT TO:<nosuch@example.test>", 451)
        c.expect("QUIT", 221)
    finally:
        srv.close()


def test_corrupt_replacement_map_keeps_old_one():
    import os
    srv = Moat()
    try:
        tmp = os.path.join(srv.etc, "recipients.cdb.new")
        with open(tmp, "wb") as f:
            f.write(b"garbage")
        os.rename(tmp, os.path.join(srv.etc, "recipients.cdb"))
        time.sleep(2.5)   # the parent notices and refuses the bad file
        c = srv.client()
        c.expect("EHLO client.remote.example", 250)
        c.expect("MAIL FROM:<a@remote.example>", 250)
        c.expect("RCPT TO:<alice@example.test>", 250)
        c.expect("RCPT TO:<nosuch@example.test>", 550)
        c.expect("QUIT", 221)
    finally:
        srv.close()
