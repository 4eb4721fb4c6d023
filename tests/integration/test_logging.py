"""The log as an interface: client-controlled text (HELO names, quoted
local parts, map reply texts with quotes, backslashes, key=value
lookalikes and 8-bit bytes) gives exactly one well-formed line per event
whose values round-trip; every rejection carries stage= and class=; the
disconnect line carries the session's duration, counts and TLS."""
import re
import ssl
import time

from harness import Moat, parse_kv

HELO_REPLY = 'say "no" \\ to=evil class=fake'
SENDER_REPLY = 'go "away" x=y \\\\'

_m = None


def m():
    global _m
    if _m is None:
        _m = Moat(maps={
            "helo": f"spam.example REJECT {HELO_REPLY}\n",
            "senders": f"@junk.example REJECT {SENDER_REPLY}\n",
        })
    return _m


def teardown_module():
    if _m is not None:
        _m.close()


# ---- reading the log strictly ----

LINE_RE = re.compile(rb"moatd\[(\d+)\]: (.*)$")
PAIR_RE = re.compile(rb' ([A-Za-z_][A-Za-z0-9_.-]*)=("(?:[^"\\\x00-\x1f\x7f-\xff]|'
                     rb'\\["\\nrt]|\\x[0-9a-f]{2})*"|[!#-<>-\[\]-~]+)')
EVENT_RE = re.compile(rb"[a-z][a-z-]*")
UNESC = {b'"': b'"', b"\\": b"\\", b"n": b"\n", b"r": b"\r", b"t": b"\t"}


def unescape(raw):
    """A value as written (quotes included, if any) back to its bytes."""
    if not raw.startswith(b'"'):
        return raw
    body, out, i = raw[1:-1], b"", 0
    while i < len(body):
        if body[i:i + 1] == b"\\":
            if body[i + 1:i + 2] == b"x":
                out += bytes([int(body[i + 2:i + 4], 16)])
                i += 4
            else:
                out += UNESC[body[i + 1:i + 2]]
                i += 2
        else:
            out += body[i:i + 1]
            i += 1
    return out


def strict(rest):
    """Parse 'EVENT key=value ...' fully or fail: (event, [(key, bytes)])."""
    m_ev = EVENT_RE.match(rest)
    assert m_ev, rest
    pos, pairs = m_ev.end(), []
    while pos < len(rest):
        p = PAIR_RE.match(rest, pos)
        assert p, f"not key=value at {pos}: {rest!r}"
        pairs.append((p.group(1).decode(), unescape(p.group(2))))
        pos = p.end()
    return m_ev.group(0).decode(), pairs


def raw_lines():
    with open(m().logpath, "rb") as f:
        data = f.read()
    return [l for l in data.split(b"\n") if LINE_RE.search(l)]


def session_lines(port, timeout=10):
    """Every event of the session from our local port, strictly parsed,
    once its disconnect line is there: [(event, {key: bytes}, raw)]."""
    deadline = time.time() + timeout
    while True:
        lines = [LINE_RE.search(l).group(2) for l in raw_lines()]
        sid = None
        for rest in lines:
            ev, pairs = strict(rest)
            kv = dict(pairs)
            if ev == "connect" and kv.get("port") == str(port).encode():
                sid = kv["session"]
        out = []
        if sid is not None:
            for rest in lines:
                ev, pairs = strict(rest)
                keys = [k for k, _ in pairs]
                assert len(keys) == len(set(keys)), f"a key twice: {rest!r}"
                kv = dict(pairs)
                if kv.get("session") == sid:
                    out.append((ev, kv, rest))
        if out and out[-1][0] == "disconnect":
            return out
        assert time.time() < deadline, f"no disconnect for port {port}:\n{m().log()[-3000:]}"
        time.sleep(0.05)


def harness_kv(rest):
    """What harness.parse_kv makes of a line, unescaped to bytes."""
    kv = parse_kv(rest.decode("ascii").split(" ", 1)[1])
    return {k: unescape(b'"' + v.encode() + b'"') for k, v in kv.items()}


def port_of(c):
    return c.sock.getsockname()[1]


def events(lines):
    return [ev for ev, _, _ in lines]


def tls_closed(c, timeout=5):
    """Client.closed() for a session after STARTTLS (its plain socket is
    detached once wrapped): True when the server has closed."""
    c.tls.settimeout(timeout)
    deadline = time.time() + timeout
    try:
        while time.time() < deadline:
            if not c.tls.recv(65536):
                return True
    except (ConnectionResetError, ssl.SSLError):
        return True
    except TimeoutError:
        return False
    return False


# ---- injection ----

def test_quoted_local_parts_round_trip():
    sender = '"a\\"b c=d"@remote.example'
    bad_rcpts = ['"x\\\\y to=evil"@example.test', '"q\\"uote stage=helo"@example.test',
                 '"class=relay"@example.test']
    forged = '"f\\"orged x=y"@example.test'
    c = m().client()
    port = port_of(c)
    c.expect("EHLO client.remote.example", 250)
    c.expect(f"MAIL FROM:<{sender}>", 250)
    for r in bad_rcpts:
        text = c.expect(f"RCPT TO:<{r}>", 550)
        assert text.startswith("5.1.1"), text
    c.expect("RCPT TO:<alice@example.test>", 250)
    c.expect("RSET", 250)
    text = c.expect(f"MAIL FROM:<{forged}>", 550)
    assert text.startswith("5.7.1"), text
    c.expect("QUIT", 221)
    assert c.closed()
    lines = session_lines(port)
    assert events(lines) == ["connect", "helo"] + ["reject"] * 4 + ["disconnect"], \
        events(lines)
    rejects = [(kv, rest) for ev, kv, rest in lines if ev == "reject"]
    for (kv, rest), r in zip(rejects[:3], bad_rcpts):
        assert set(kv) == {"session", "stage", "class", "ip", "helo", "from", "to",
                           "code", "reply"}, kv
        assert kv["stage"] == b"rcpt" and kv["class"] == b"unknown-recipient", kv
        assert kv["from"] == sender.encode() and kv["to"] == r.encode(), kv
        assert harness_kv(rest)["to"] == r.encode()
        assert harness_kv(rest)["from"] == sender.encode()
        assert harness_kv(rest)["stage"] == b"rcpt"
    kv, rest = rejects[3]
    assert kv["stage"] == b"mail" and kv["class"] == b"sender:forged-local", kv
    assert kv["from"] == forged.encode() and "to" not in kv, kv
    assert harness_kv(rest)["from"] == forged.encode()


def test_map_reply_texts_round_trip():
    c = m().client()
    port = port_of(c)
    code, text = c.cmd("EHLO client.remote.example")
    assert code == 250
    text = c.expect("MAIL FROM:<x@junk.example>", 550)
    assert text == "5.7.1 " + SENDER_REPLY, text
    code, text = c.cmd("EHLO spam.example")
    assert code == 550 and text == "5.7.1 " + HELO_REPLY, (code, text)
    c.expect("QUIT", 221)
    assert c.closed()
    lines = session_lines(port)
    assert events(lines) == ["connect", "helo", "reject", "reject", "disconnect"], \
        events(lines)
    (_, kv_s, rest_s), (_, kv_h, rest_h) = lines[2], lines[3]
    assert kv_s["class"] == b"sender:map" and kv_s["reply"] == SENDER_REPLY.encode(), kv_s
    assert harness_kv(rest_s)["reply"] == SENDER_REPLY.encode()
    assert kv_h["class"] == b"helo:map" and kv_h["reply"] == HELO_REPLY.encode(), kv_h
    assert harness_kv(rest_h)["reply"] == HELO_REPLY.encode()
    assert harness_kv(rest_h)["class"] == b"helo:map"


BAD_HELOS = [
    (b'bad"na=me\\.example', "helo:invalid"),
    (b"h\xe9llo.example", "helo:invalid"),
    (b"a.example stage=data class=fake", "helo:invalid"),
    (b"\xff\xfe\x7f.example", "helo:invalid"),
]


def test_bad_helo_names_one_line_each():
    c = m().client()
    port = port_of(c)
    for name, _ in BAD_HELOS:
        c.send(b"EHLO " + name + b"\r\n")
        code, lines = c.reply()
        assert code == 501 and lines[0].startswith("5.5.2"), (name, code, lines)
    c.expect("MAIL FROM:<a@remote.example>", 503)
    c.expect("QUIT", 221)
    assert c.closed()
    lines = session_lines(port)
    assert events(lines) == ["connect"] + ["reject"] * len(BAD_HELOS) + ["disconnect"], \
        events(lines)
    for (ev, kv, rest), (name, cls) in zip(lines[1:], BAD_HELOS):
        assert kv["stage"] == b"helo" and kv["class"] == cls.encode(), kv
        assert harness_kv(rest)["class"] == cls.encode()
    # nothing raw reached the file: no 8-bit byte, no control byte
    for line in raw_lines():
        assert not re.search(rb"[\x00-\x08\x0a-\x1f\x7f-\xff]", line), line


def test_refused_helo_name_is_logged():
    """A HELO refusal names the refused name, escaped, like any other
    client text (the rejected name is the fact the line is about)."""
    c = m().client()
    port = port_of(c)
    for name, _ in BAD_HELOS:
        c.send(b"HELO " + name + b"\r\n")
        assert c.reply()[0] == 501
    code, text = c.cmd("HELO spam.example")
    assert code == 550, (code, text)
    c.expect("QUIT", 221)
    assert c.closed()
    lines = session_lines(port)
    rejects = [(kv, rest) for ev, kv, rest in lines if ev == "reject"]
    assert len(rejects) == len(BAD_HELOS) + 1, events(lines)
    for (kv, rest), name in zip(rejects, [n for n, _ in BAD_HELOS] + [b"spam.example"]):
        hk = harness_kv(rest)
        assert kv.get("helo", kv.get("name")) == name, (name, rest)
        assert hk.get("helo", hk.get("name")) == name, rest


def test_8bit_addresses_refused_and_logged_cleanly():
    c = m().client()
    port = port_of(c)
    c.expect("EHLO client.remote.example", 250)
    c.send(b"MAIL FROM:<j\xc3\xb6rg@remote.example>\r\n")
    code, lines = c.reply()
    assert code == 553 and lines[0].startswith("5.6.7"), (code, lines)
    c.expect("MAIL FROM:<a@remote.example>", 250)
    c.send(b"RCPT TO:<\xe9l\xe8ve@example.test>\r\n")
    code, lines = c.reply()
    assert code == 553 and lines[0].startswith("5.6.7"), (code, lines)
    c.expect("QUIT", 221)
    assert c.closed()
    lines = session_lines(port)
    assert events(lines) == ["connect", "helo", "reject", "reject", "disconnect"], \
        events(lines)
    assert lines[2][1]["stage"] == b"mail" and lines[2][1]["class"].endswith(b":non-ascii")
    assert lines[3][1]["stage"] == b"rcpt" and lines[3][1]["class"].endswith(b":non-ascii")
    assert lines[-1][1]["rcpt_bad"] == b"1", lines[-1][1]


# ---- every rejection is classified ----

STAGES = {b"connect", b"helo", b"mail", b"rcpt", b"data", b"command", b"starttls"}
CLASS_RE = re.compile(rb"^[a-z][a-z0-9-]*(:[A-Za-z0-9._-]+)?$")


def test_every_rejection_has_stage_and_class():
    # a spread of refusals at every stage this daemon can refuse at
    c = m().client()
    assert c.cmd("EHLO localhost")[0] == 550
    c.expect("EHLO client.remote.example", 250)
    assert c.cmd("MAIL FROM:<a@remote.example> SIZE=999999999999")[0] == 552
    c.expect("MAIL FROM:<a@remote.example>", 250)
    assert c.cmd("RCPT TO:<victim@elsewhere.example>")[0] == 554
    assert c.cmd("RCPT TO:<nosuch@example.test>")[0] == 550
    c.expect("RCPT TO:<alice@example.test>", 250)
    c.expect("DATA", 354)
    c.send("Subject: bare lf\r\n\r\nbare\nlf\r\n.\r\n")
    assert c.reply()[0] == 550
    c.send("MAIL FROM:<a@remote.example>\r\nRCPT TO:<alice@example.test>\r\n"
           "DATA\r\nSubject: early\r\n\r\n.\r\n")
    assert [c.reply()[0] for _ in range(3)] == [250, 250, 554]
    assert c.closed()
    c.close()
    time.sleep(0.3)
    rejects = []
    for line in raw_lines():
        ev, pairs = strict(LINE_RE.search(line).group(2))
        kv = dict(pairs)
        # a queue's delivery "defer" is not a refusal of the client
        if ev == "reject" or (ev == "defer" and "session" in kv):
            rejects.append(kv)
    seen = set()
    for kv in rejects:
        assert kv.get("stage") in STAGES, kv
        assert CLASS_RE.match(kv.get("class", b"")), kv
        assert kv.get("code", b"").isdigit() and "reply" in kv, kv
        assert "ip" in kv, kv
        seen.add((kv["stage"], kv["class"]))
    for want in ((b"helo", b"helo:localhost"), (b"mail", b"size"), (b"rcpt", b"relay"),
                 (b"rcpt", b"unknown-recipient"), (b"data", b"protocol"),
                 (b"command", b"protocol")):
        assert want in seen, (want, seen)


# ---- disconnect ----

def test_disconnect_counts_plain_session():
    c = m().client()
    port = port_of(c)
    c.expect("EHLO client.remote.example", 250)                 # 1
    c.expect("MAIL FROM:<count@remote.example>", 250)            # 2
    c.expect("RCPT TO:<alice@example.test>", 250)                # 3
    c.expect("RCPT TO:<nosuch@example.test>", 550)               # 4
    c.expect("RCPT TO:<bob@example.test>", 250)                  # 5
    c.expect("DATA", 354)                                        # 6
    c.send("Subject: counted\r\n\r\nx\r\n.\r\n")
    code, lines = c.reply()
    assert code == 250, lines
    qid = lines[0].split()[-1]
    c.expect("MAIL FROM:<count@remote.example>", 250)            # 7
    c.expect("RCPT TO:<victim@elsewhere.example>", 554)          # 8
    c.expect("RSET", 250)                                        # 9
    c.expect("NOOP", 250)                                        # 10
    time.sleep(0.4)
    c.expect("QUIT", 221)                                        # 11
    t_end = time.time()
    assert c.closed()
    lines = session_lines(port)
    assert events(lines) == ["connect", "helo", "reject", "accept", "reject",
                             "disconnect"], events(lines)
    acc = lines[3][1]
    assert acc["qid"] == qid.encode() and acc["nrcpt"] == b"2", acc
    assert acc["from"] == b"count@remote.example", acc
    kv = lines[-1][1]
    for key in ("duration", "commands", "messages", "rcpt_ok", "rcpt_bad"):
        assert key in kv, (key, kv)
    assert kv["commands"] == b"11" and kv["messages"] == b"1", kv
    assert kv["rcpt_ok"] == b"2" and kv["rcpt_bad"] == b"2", kv
    assert re.match(rb"^\d+\.\d{3}$", kv["duration"]), kv
    assert 0.4 <= float(kv["duration"]) < 30, kv
    assert kv.get("tls", b"none") == b"none", kv
    m().wait_messages("bob", 1)


def test_disconnect_after_starttls_names_version_and_cipher():
    c = m().client()
    port = port_of(c)
    c.expect("EHLO client.remote.example", 250)                  # 1
    c.expect("STARTTLS", 220)                                    # 2
    c.starttls()
    version, cipher = c.tls.version(), c.tls.cipher()[0]
    c.expect("EHLO client.remote.example", 250)                  # 3
    c.expect("MAIL FROM:<tls@remote.example>", 250)              # 4
    c.expect("RCPT TO:<alice@example.test>", 250)                # 5
    c.expect("DATA", 354)                                        # 6
    c.send("Subject: counted over tls\r\n\r\nx\r\n.\r\n")
    assert c.reply()[0] == 250
    c.expect("QUIT", 221)                                        # 7
    assert tls_closed(c)
    lines = session_lines(port)
    assert events(lines) == ["connect", "helo", "helo", "accept", "disconnect"], \
        events(lines)
    kv = lines[-1][1]
    assert kv["tls"] == f"{version}:{cipher}".encode(), (kv, version, cipher)
    assert kv["commands"] == b"7" and kv["messages"] == b"1", kv
    assert kv["rcpt_ok"] == b"1" and kv["rcpt_bad"] == b"0", kv
