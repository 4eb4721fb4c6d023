"""moatctl report, number by number: first on a log written by the real
daemon while the test drives known sessions through it (messages
accepted and delivered, unknown recipients, a blocked client refused at
accept), then on a larger synthetic log with a known answer (hours over
two days, syslog lines among other programs', top clients, networks,
--since and --until)."""
import os
import re
import subprocess
import tempfile

from harness import MOATCTL, Client, Moat, send_message


def report(*args):
    p = subprocess.run([MOATCTL, "report", *args], capture_output=True,
                       text=True, timeout=60)
    assert p.returncode == 0, p.stderr
    return p.stdout


def section(text, title, header=True):
    """The lines of a section, its title (and header) left out."""
    lines = text.split("\n")
    i = next(n for n, l in enumerate(lines) if l.startswith(title))
    out = []
    for l in lines[i + (2 if header else 1):]:
        if not l.strip():
            break
        out.append(l.split())
    return out


def test_a_log_of_real_sessions_adds_up():
    srv = Moat()
    try:
        for _ in range(3):
            c = Client(srv.port, source="127.0.60.1")
            assert c.reply()[0] == 220
            code, _ = send_message(c)
            assert code == 250
            c.expect("QUIT", 221)
        c = Client(srv.port, source="127.0.60.2")
        assert c.reply()[0] == 220
        c.expect("EHLO client.example.org", 250)
        c.expect("MAIL FROM:<s@remote.example>", 250)
        for n in range(2):
            code, _ = c.cmd(f"RCPT TO:<nobody{n}@example.test>")
            assert code == 550
        c.expect("QUIT", 221)
        p = subprocess.run([MOATCTL, "-f", srv.conf_path, "block", "127.0.60.3"],
                           capture_output=True, text=True, env=srv.env())
        assert p.returncode == 0, p.stderr
        for _ in range(2):
            c = Client(srv.port, source="127.0.60.3")
            c.sock.settimeout(5)
            assert c.sock.recv(10) == b""
        srv.wait_messages("alice", 3)
        srv.stop()
        out = report(srv.logpath)
    finally:
        srv.close()
    total = section(out, "Traffic per hour")[-1]
    assert total[0] == "total"
    assert total[1:] == ["3", "3", "0", "0", "4"], total
    classes = {(r[3], r[4]): (r[0], r[2]) for r in section(out, "Rejections by class")
               if len(r) == 5}
    assert classes[("rcpt", "unknown-recipient")] == ("2", "1"), classes
    assert classes[("connect", "blocked")] == ("2", "1"), classes
    hosts = {r[3]: r[0] for r in section(out, "Top 10 clients")}
    assert hosts["127.0.60.1"] == "3" and hosts["127.0.60.2"] == "1"
    assert hosts["127.0.60.3"] == "2", hosts
    funnel = dict((" ".join(r[1:]), int(r[0])) for r in section(out, "Client addresses", False))
    assert funnel["had a message accepted"] == 1
    assert funnel["began a transaction"] == 2
    assert funnel["connected"] >= 3


def synthetic(path):
    """A log with a known answer; returns what the report must say."""
    lines = []
    ts = lambda day, h, m: f"2026-11-{day:02d}T{h:02d}:{m:02d}:00.000"
    for day, hour, n in ((22, 23, 4), (23, 0, 6), (23, 1, 2)):
        for i in range(n):
            ip = f"198.51.100.{i % 3 + 1}" if i % 2 == 0 else f"203.0.113.{i}"
            t = ts(day, hour, i)
            lines.append(f"{t} moatd[10]: connect session={i:016x} ip={ip} port=1")
            lines.append(f"{t} moatd[10]: accept session={i:016x} qid=X ip={ip} nrcpt=1")
            lines.append(f"{t} moatd[11]: deliver qid=X rcpt=a@x to=maildir:a/ result=ok")
            ptr = f" ptr=mail{ip.split('.')[3]}.example.net" if ip.startswith("198.") else ""
            lines.append(f"{t} moatd[10]: disconnect session={i:016x} ip={ip} duration={i + 1}.500 commands=5{ptr}")
        lines.append(f"{ts(day, hour, 59)} moatd[10]: reject stage=connect class=dnsbl:zen.example ip=192.0.2.{hour} reply=\"554 5.7.1 listed\"")
        lines.append(f"{ts(day, hour, 59)} moatd[11]: defer qid=Y rcpt=b@x to=maildir:b/ reason=\"disk full\" attempts=1 retry_in=60")
        lines.append("Nov 23 00:30:00 mx postfix/smtpd[5]: connect from elsewhere")
    with open(path, "w") as f:
        f.write("\n".join(lines) + "\n")


def test_a_synthetic_log_with_a_known_answer():
    fd, path = tempfile.mkstemp(prefix="moat-report-")
    os.close(fd)
    try:
        synthetic(path)
        out = report(path)
        rows = section(out, "Traffic per hour")
        assert [r[:2] for r in rows[:-1]] == [["2026-11-22", "23:00"],
                                              ["2026-11-23", "00:00"],
                                              ["2026-11-23", "01:00"]], rows
        assert [r[2:] for r in rows[:-1]] == [["4", "4", "1", "0", "1"],
                                              ["6", "6", "1", "0", "1"],
                                              ["2", "2", "1", "0", "1"]], rows
        assert rows[-1] == ["total", "12", "12", "3", "0", "3"], rows
        conns = section(out, "Connections per hour")
        # hour 00: 6 sessions of 1.5..6.5 s (+1 refusal at accept: 7)
        assert conns[1] == ["2026-11-23", "00:00", "7", "24.0", "3.43", "6.50"], conns
        days = section(out, "Per day")
        assert days == [["2026-11-22", "4", "4", "1", "0", "1", "5"],
                        ["2026-11-23", "8", "8", "2", "0", "2", "10"]], days
        classes = section(out, "Rejections by class")
        assert classes[0] == ["3", "100.0%", "3", "connect", "dnsbl:zen.example"], classes
        top = section(out, "Top 10 clients")
        assert top[:3] == [["3", "4.5", "1.50", "198.51.100.1", "mail1.example.net"],
                           ["3", "7.5", "2.50", "203.0.113.1", "-"],
                           ["2", "7.0", "3.50", "198.51.100.3", "mail3.example.net"]], top
        nets = section(out, "Top 10 networks")
        assert nets[:3] == [["6", "17.0", "3", "198.51.100.0/24"],
                            ["6", "23.0", "3", "203.0.113.0/24"],
                            ["3", "0.0", "3", "192.0.2.0/24"]], nets
        funnel = dict((" ".join(r[1:]), int(r[0])) for r in section(out, "Client addresses", False))
        assert funnel["connected"] == 9 and funnel["had a message accepted"] == 6, funnel

        out = report("--since", "2026-11-23", "--until", "2026-11-23T01", path)
        rows = section(out, "Traffic per hour")
        assert rows == [["2026-11-23", "00:00", "6", "6", "1", "0", "1"],
                        ["total", "6", "6", "1", "0", "1"]], rows
        assert re.search(r"\(\d+ lines read, 26 counted\)", out), out.split("\n")[0]
    finally:
        os.unlink(path)


def test_bad_arguments():
    for args in (["--since", "yesterday"], ["--top", "0"], ["--format", "pdf"],
                 ["--nope", "x"]):
        p = subprocess.run([MOATCTL, "report", *args, "/dev/null"],
                           capture_output=True, text=True, timeout=10)
        assert p.returncode == 2, (args, p)
    p = subprocess.run([MOATCTL, "report", "/nonexistent/log"],
                       capture_output=True, text=True, timeout=10)
    assert p.returncode == 1 and "nonexistent" in p.stderr
    fd, path = tempfile.mkstemp(prefix="moat-report-")
    os.close(fd)
    try:
        long_zone = "dnsbl:" + "z" * 120
        with open(path, "w") as f:
            for n in range(50):     # one class however long its name
                f.write(f"2026-11-23T10:00:00.000 moatd[1]: reject stage=rcpt "
                        f"class={long_zone} ip=192.0.2.{n}\n")
        out = report("--top", "3", "--", path)
        rows = [r for r in section(out, "Rejections by class") if len(r) == 5]
        assert len(rows) == 1 and rows[0][0] == "50", rows
    finally:
        os.unlink(path)


def test_dns_lists_and_greylisting_sections():
    t = "2026-11-23T10:00:00.000 moatd[1]: "
    lines = [
        t + 'reject session=1 stage=rcpt class=dnsbl:zen.example ip=192.0.2.1 hits=zen.example=127.0.0.2 reply=x',
        t + 'reject session=2 stage=rcpt class=dnsbl:zen.example ip=192.0.2.2 hits=zen.example=127.0.0.2 reply=x',
        t + 'reject session=3 stage=connect class=dnsbl:zen.example ip=192.0.2.3 hits="zen.example=127.0.0.2,bl.example=127.0.0.4" reply=x',
        t + 'reject session=4 stage=rcpt class=unknown-recipient ip=192.0.2.4 reply=x',
        t + 'dnsbl-stats zone=zen.example period=300 queries=100 listed=3 not_listed=96 errors=1 latency_ms=4',
        t + 'dnsbl-stats zone=zen.example period=300 queries=50 listed=0 not_listed=50 errors=0 latency_ms=4',
        t + 'dnsbl-stats zone=dead.example period=300 queries=150 listed=0 not_listed=150 errors=0 latency_ms=4',
        t + 'greylist session=5 ip=198.51.100.7 from=a@x.example to=u@example.test result=new net=198.51.100.0/24 retry_in=300',
        t + 'greylist session=6 ip=198.51.100.8 from=b@x.example to=u@example.test result=new net=198.51.100.0/24 retry_in=300',
        t + 'greylist session=7 ip=203.0.113.9 from=c@y.example to=u@example.test result=new net=203.0.113.0/24 retry_in=300',
        t + 'greylist session=8 ip=198.51.100.7 from=a@x.example to=u@example.test result=early net=198.51.100.0/24 retry_in=200 early=1',
        t + 'greylist session=9 ip=198.51.100.9 from=a@x.example to=u@example.test result=passed net=198.51.100.0/24 delay=300',
        t + 'greylist session=10 ip=198.51.100.8 from=b@x.example to=u@example.test result=passed net=198.51.100.0/24 delay=900',
        t + 'greylist session=11 ip=198.51.100.8 from=d@x.example to=u@example.test result=awl net=198.51.100.0/24',
        t + 'greylist session=12 ip=127.0.0.1 from=e@x.example to=postmaster@example.test result=skip',
    ]
    fd, path = tempfile.mkstemp(prefix="moat-report-")
    with os.fdopen(fd, "w") as f:
        f.write("\n".join(lines) + "\n")
    try:
        out = report(path)
        zones = {r[6]: r[:6] for r in section(out, "DNS lists")}
        # 8 refusals in all: 4 lines above and the 4 greylisting 451s
        assert zones["zen.example"] == ["3", "37.5%", "1", "150", "3", "1"], zones
        assert zones["bl.example"] == ["1", "12.5%", "1", "0", "0", "0"], zones
        assert "dead.example (never hit)" in out, out
        grey = dict((" ".join(r[1:]), r[0]) for r in section(out, "Greylisting", False))
        assert grey["new triplets"] == "3", grey
        assert grey["retries too early"] == "1"
        assert grey["passed (median delay 300 s)"] == "2", grey
        assert grey["new triplets never seen again"] == "1"
        assert grey["auto-allowlisted"] == "1" and grey["not greylisted"] == "1"
    finally:
        os.unlink(path)


def test_json_says_what_text_says_and_is_valid_json():
    import json
    fd, path = tempfile.mkstemp(prefix="moat-report-")
    os.close(fd)
    try:
        synthetic(path)
        with open(path, "a") as f:     # a class full of what JSON must escape
            f.write('2026-11-23T01:59:00.000 moatd[10]: reject stage=rcpt '
                    'class="we\\"ird\\\\\\x01\\n" ip=192.0.2.200 reply=x\n')
        d = json.loads(report("--format", "json", path))
        assert d["version"] == 1
        assert [h["hour"] for h in d["hours"]] == ["2026-11-22T23", "2026-11-23T00",
                                                   "2026-11-23T01"]
        assert d["total"]["received"] == 12 and d["total"]["rejected"] == 4, d["total"]
        assert d["hours"][1]["connections"] == 7
        assert d["days"][1] == dict(d["days"][1], day="2026-11-23", received=8)
        assert {"stage": "rcpt", "class": 'we"ird\\\x01\n', "count": 1,
                "addresses": 1} in d["rejections"], d["rejections"]
        assert d["top_clients"][0] == {"address": "198.51.100.1", "connections": 3,
                                       "seconds": 4.5, "ptr": "mail1.example.net"}
        assert d["top_clients"][1]["ptr"] == ""
        assert d["top_networks"][0]["network"] == "198.51.100.0/24"
        assert d["clients"] == {"connected": 10, "spoke": 7, "transaction": 7,
                                "accepted": 6}, d["clients"]
    finally:
        os.unlink(path)


def png_pixels(path):
    """(width, height, set of (r, g, b)) of an 8-bit RGB or RGBA PNG, no
    interlacing: what Chromium writes."""
    import struct
    import zlib
    with open(path, "rb") as f:
        data = f.read()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    pos, idat = 8, b""
    while pos < len(data):
        n, kind = struct.unpack(">I4s", data[pos:pos + 8])
        body = data[pos + 8:pos + 8 + n]
        if kind == b"IHDR":
            w, h, depth, ctype = struct.unpack(">IIBB", body[:10])
            assert depth == 8 and ctype in (2, 6) and body[12] == 0, body
        elif kind == b"IDAT":
            idat += body
        pos += 12 + n
    bpp = 3 if ctype == 2 else 4
    raw, stride = zlib.decompress(idat), w * bpp
    prev, colours, i = bytearray(stride), set(), 0
    for _ in range(h):
        ftype, line = raw[i], bytearray(raw[i + 1:i + 1 + stride])
        i += 1 + stride
        for x in range(stride):
            a = line[x - bpp] if x >= bpp else 0
            b = prev[x]
            c = prev[x - bpp] if x >= bpp else 0
            if ftype == 1:
                line[x] = (line[x] + a) & 255
            elif ftype == 2:
                line[x] = (line[x] + b) & 255
            elif ftype == 3:
                line[x] = (line[x] + (a + b) // 2) & 255
            elif ftype == 4:
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                line[x] = (line[x] + (a if pa <= pb and pa <= pc else
                                      b if pb <= pc else c)) & 255
        for x in range(0, stride, bpp * 4):       # a sample is enough
            colours.add(tuple(line[x:x + 3]))
        prev = line
    return w, h, colours


def test_html_renders_its_charts_in_chromium():
    import shutil
    chromium = shutil.which("chromium")
    assert chromium, "chromium is installed by make deps"
    d = tempfile.mkdtemp(prefix="moat-report-")
    try:
        log = os.path.join(d, "mail.log")
        synthetic(log)
        page = os.path.join(d, "report.html")
        with open(page, "w") as f:
            f.write(report("--format", "html", log))
        with open(page) as f:
            html = f.read()
        assert "http" not in html.replace("http://www.w3.org/2000/svg", ""), \
            "no external asset"
        assert html.count("<rect ") >= 6 and '<svg id="traffic"' in html
        shot = os.path.join(d, "shot.png")
        p = subprocess.run([chromium, "--headless", "--no-sandbox", "--disable-gpu",
                            f"--user-data-dir={d}/profile", "--enable-logging=stderr",
                            "--v=0", f"--screenshot={shot}", "--window-size=1000,900",
                            "file://" + page],
                           capture_output=True, text=True, timeout=120, cwd=d)
        assert os.path.exists(shot), p.stderr[-2000:]
        console = [l for l in p.stderr.splitlines() if "CONSOLE" in l]
        assert console == [], console
        w, h, colours = png_pixels(shot)
        assert (w, h) == (1000, 900)
        for hexc in ("2ca02c", "d62728", "1f77b4"):     # accepted, a class, conns
            rgb = tuple(int(hexc[i:i + 2], 16) for i in (0, 2, 4))
            assert rgb in colours, f"#{hexc} not on the screenshot"
    finally:
        shutil.rmtree(d, ignore_errors=True)


def test_asn_table_groups_refused_clients_by_longest_prefix():
    import json
    d = tempfile.mkdtemp(prefix="moat-report-")
    try:
        log, asn = os.path.join(d, "mail.log"), os.path.join(d, "asn.txt")
        synthetic(log)
        with open(log, "a") as f:
            f.write("2026-11-23T01:59:00.000 moatd[10]: reject stage=rcpt "
                    "class=unknown-recipient ip=192.0.2.200 reply=x\n"
                    "2026-11-23T01:59:00.000 moatd[10]: reject stage=rcpt "
                    "class=unknown-recipient ip=2001:db8::7 reply=x\n"
                    "2026-11-23T01:59:00.000 moatd[10]: reject stage=rcpt "
                    "class=unknown-recipient ip=10.9.9.9 reply=x\n")
        with open(asn, "w") as f:
            f.write("# prefix asn owner\n192.0.2.0/24 64501 Doc Net B\n"
                    "192.0.2.0/25 AS64500 Doc Net A\n"
                    "2001:db8::/32 64502 Six <Net>\n")
        out = report("--asn", asn, log)
        rows = section(out, "Top 10 network owners")
        assert rows == [["3", "64500", "Doc", "Net", "A"],
                        ["1", "0", "(in", "no", "prefix", "of", "the", "file)"],
                        ["1", "64501", "Doc", "Net", "B"],
                        ["1", "64502", "Six", "<Net>"]], rows
        j = json.loads(report("--asn", asn, "--format", "json", log))
        assert j["asns"][0] == {"asn": 64500, "owner": "Doc Net A",
                                "refused_clients": 3}, j["asns"]
        html = report("--asn", asn, "--format", "html", log)
        assert "Six &lt;Net&gt;" in html
        with open(asn, "a") as f:
            f.write("not a prefix line\n")
        p = subprocess.run([MOATCTL, "report", "--asn", asn, log],
                           capture_output=True, text=True, timeout=10)
        assert p.returncode == 1 and ":5: expected PREFIX ASN" in p.stderr, p
    finally:
        import shutil
        shutil.rmtree(d, ignore_errors=True)


def test_hostile_values_give_valid_json_and_finite_figures():
    import json
    t = "2026-11-23T10:00:00.000 moatd[1]: "
    lines = [t + "disconnect session=1 ip=192.0.2.1 duration=nan",
             t + "disconnect session=2 ip=192.0.2.2 duration=1e308",
             t + "disconnect session=3 ip=192.0.2.3 duration=-5",
             t + "disconnect session=4 ip=192.0.2.4 duration=2.500",
             t + 'reject stage=rcpt class="<script>alert(1)</script>" ip=192.0.2.5 reply="unterminated',
             t + "greylist ip=192.0.2.6 result=passed delay=-7 " + " ".join(f"k{i}=v" for i in range(200)),
             "2026-13-45T10:00:00.000 moatd[1]: accept ip=192.0.2.7"]
    fd, path = tempfile.mkstemp(prefix="moat-report-")
    with os.fdopen(fd, "w") as f:
        f.write("\n".join(lines) + "\n")
    try:
        d = json.loads(report("--format", "json", path))
        assert d["total"]["connection_seconds"] == 2.5, d["total"]
        assert d["total"]["connection_max_seconds"] == 2.5
        assert d["total"]["received"] == 0, "the impossible date is skipped"
        assert d["greylisting"]["passed"] == 1
        html = report("--format", "html", path)
        assert "<script>" not in html and "&lt;script&gt;" in html
    finally:
        os.unlink(path)
