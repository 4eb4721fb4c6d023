"""moatctl queue and flush against a running daemon: mail deferred by a
maildir that cannot be made is listed with its recipients and last
error, delivered at once by flush once mended, kept while held and
delivered exactly once on release, never delivered once deleted;
unknown ids, a stopped daemon, a stale or busy socket, other users and
broken requests on the control socket."""
import json
import os
import pwd
import re
import signal
import socket
import stat
import struct
import subprocess
import time

from harness import IS_ROOT, MOATCTL, ROOT, Moat, send_message

TIMEOUT = 20
MISSING = "0123456789ABCDEF"


def ctl(srv, *args):
    return subprocess.run([MOATCTL, "-f", srv.conf_path] + list(args),
                          capture_output=True, text=True, env=srv.env(),
                          timeout=TIMEOUT)


def block_maildir(srv, user):
    """A file where USER's maildir goes: delivery fails until removed."""
    os.makedirs(os.path.join(srv.dir, "mail"), exist_ok=True)
    blocker = os.path.join(srv.dir, "mail", user)
    with open(blocker, "w") as f:
        f.write("not a folder")
    return blocker


def deferred(srv, subject, rcpts=("<alice@example.test>",)):
    """Send one message; wait for its first defer line; its queue id."""
    c = srv.client()
    code, text = send_message(c, rcpts=rcpts,
                              body=f"Subject: {subject}\r\n\r\nx\r\n")
    assert code == 250, (code, text)
    c.expect("QUIT", 221)
    c.close()
    qid = re.search(r"queued as ([0-9A-F]{16})", text).group(1)
    srv.wait_log(lambda e, kv: e == "defer" and kv.get("qid") == qid)
    return qid


def spool_has(srv, sub, qid):
    return os.path.exists(os.path.join(srv.dir, "spool", sub, qid))


def with_subject(srv, user, subject):
    return [m for m in srv.messages(user) if subject.encode() in m]


def logged(srv, event, qid):
    return [kv for ev, kv in srv.log_lines(event) if kv.get("qid") == qid]


def test_queue_lists_deferred_with_recipients_and_last_error():
    srv = Moat(retry_min="1h", retry_max="2h")
    try:
        block_maildir(srv, "alice")
        q1 = deferred(srv, "first",
                      ("<alice@example.test>", "<bob@example.test>"))
        q2 = deferred(srv, "second")
        p = ctl(srv, "queue")
        assert p.returncode == 0, p
        lines = p.stdout.splitlines()
        assert lines[0].split()[:2] == ["QUEUE", "ID"], p.stdout
        heads = [l.split() for l in lines if l[:16] in (q1, q2)]
        assert [h[0] for h in heads] == [q1, q2], p.stdout     # oldest first
        assert all(h[1] == "deferred" and h[3] == "in" for h in heads), p.stdout
        assert all(h[-1] == "sender@remote.example" for h in heads), p.stdout
        alice = [l for l in lines if "alice@example.test" in l]
        assert len(alice) == 2 and all(
            l.split()[0] == "pending" and "(1 failed try)" in l and
            "Not a directory" in l for l in alice), p.stdout
        bob = [l for l in lines if "bob@example.test" in l]
        assert len(bob) == 1 and bob[0].split()[0] == "delivered", p.stdout
        assert lines[-1] == "2 entries: 2 deferred", p.stdout

        p = ctl(srv, "queue", "list", "json")
        assert p.returncode == 0, p
        entries = {e["id"]: e for e in json.loads(p.stdout)}
        assert set(entries) == {q1, q2}, entries
        e = entries[q1]
        assert e["state"] == "deferred" and e["sender"] == "sender@remote.example"
        assert 3000 < e["next_try"] <= 3600 and 0 <= e["age"] < 60, e
        r = {x["address"]: x for x in e["recipients"]}
        assert r["alice@example.test"]["status"] == "pending"
        assert r["alice@example.test"]["attempts"] == 1
        assert "Not a directory" in r["alice@example.test"]["error"]
        assert r["bob@example.test"]["status"] == "delivered"
        assert r["bob@example.test"]["error"] is None
    finally:
        srv.close()


def test_flush_after_repair_delivers_at_once():
    srv = Moat(retry_min="1h", retry_max="2h")
    try:
        blocker = block_maildir(srv, "alice")
        qid = deferred(srv, "flushed-now")
        os.unlink(blocker)
        time.sleep(1.5)
        assert srv.messages("alice") == []     # the back-off is an hour
        p = ctl(srv, "flush")
        assert p.returncode == 0, p
        assert p.stdout.strip() == "1 deferred entry due now", p.stdout
        srv.wait_messages("alice", 1, timeout=5)
        assert len(with_subject(srv, "alice", "flushed-now")) == 1
        srv.wait_log(lambda e, kv: e == "deliver" and kv.get("qid") == qid)
        assert not srv.spool_files()
        assert ctl(srv, "queue").stdout.strip() == "0 entries"
    finally:
        srv.close()


def test_hold_keeps_mail_and_release_delivers_it_once():
    srv = Moat(retry_min="1h", retry_max="2h")
    try:
        blocker = block_maildir(srv, "alice")
        qid = deferred(srv, "held-mail",
                       ("<alice@example.test>", "<bob@example.test>"))
        srv.wait_messages("bob", 1)
        p = ctl(srv, "queue", "hold", qid)
        assert p.returncode == 0 and p.stdout.strip() == f"{qid} held", p
        assert spool_has(srv, "hold", qid) and not spool_has(srv, "queue", qid)
        kv = logged(srv, "hold", qid)[-1]
        assert kv.get("by") == "moatctl" and kv["pending"] == "1" and \
            kv["delivered"] == "1", kv

        os.unlink(blocker)
        assert ctl(srv, "flush").returncode == 0
        time.sleep(1.5)
        assert srv.messages("alice") == [], "delivered while held"
        assert spool_has(srv, "hold", qid)
        p = ctl(srv, "queue")
        held = [l for l in p.stdout.splitlines() if l.startswith(qid)]
        assert held and held[0].split()[1] == "held", p.stdout
        assert p.stdout.splitlines()[-1] == "1 entry: 1 held", p.stdout

        p = ctl(srv, "queue", "release", qid.lower())   # any case
        assert p.returncode == 0 and p.stdout.strip() == f"{qid} released", p
        srv.wait_messages("alice", 1, timeout=5)
        time.sleep(1)
        assert len(srv.messages("alice")) == 1
        assert len(with_subject(srv, "alice", "held-mail")) == 1
        assert len(srv.messages("bob")) == 1, "bob got it again"
        assert not srv.spool_files()
        kv = logged(srv, "release", qid)[-1]
        assert kv.get("by") == "moatctl" and kv["pending"] == "1", kv
    finally:
        srv.close()


def test_delete_from_queue_and_from_hold_never_delivers():
    srv = Moat(retry_min="1h", retry_max="2h")
    try:
        blocker = block_maildir(srv, "alice")
        q1 = deferred(srv, "deleted-queued")
        q2 = deferred(srv, "deleted-held")
        assert ctl(srv, "queue", "hold", q2).returncode == 0
        p = ctl(srv, "queue", "delete", q1, q2)
        assert p.returncode == 0, p
        assert p.stdout.split("\n")[:2] == [f"{q1} deleted", f"{q2} deleted"], p
        assert not srv.spool_files()
        for qid, folder in ((q1, "queue"), (q2, "hold")):
            kv = logged(srv, "delete", qid)[-1]
            assert kv["by"] == "moatctl" and kv["folder"] == folder, kv
            assert kv["rcpt"] == "alice@example.test" and \
                kv["undelivered"] == "1" and \
                kv["from"] == "sender@remote.example", kv
        os.unlink(blocker)
        assert ctl(srv, "flush").returncode == 0
        time.sleep(1.5)
        assert srv.messages("alice") == []
        assert ctl(srv, "queue").stdout.strip() == "0 entries"
        p = ctl(srv, "queue", "delete", q1)
        assert p.returncode == 1 and "no such entry" in p.stderr, p
    finally:
        srv.close()


def test_unknown_ids_and_wrong_states_fail():
    srv = Moat(retry_min="1h", retry_max="2h")
    try:
        for op in ("hold", "release", "delete"):
            p = ctl(srv, "queue", op, MISSING)
            assert p.returncode == 1, (op, p)
            assert p.stderr.strip() == f"moatctl: {MISSING}: no such entry", p
        p = ctl(srv, "queue", "delete", "xyz")
        assert p.returncode == 2 and "not a queue id" in p.stderr, p
        assert ctl(srv, "queue", "hold").returncode == 2
        assert ctl(srv, "queue", "yaml").returncode == 2
        assert ctl(srv, "flush", "now").returncode == 2

        block_maildir(srv, "alice")
        qid = deferred(srv, "states")
        p = ctl(srv, "queue", "release", qid)
        assert p.returncode == 1 and "is not held" in p.stderr, p
        assert ctl(srv, "queue", "hold", qid).returncode == 0
        p = ctl(srv, "queue", "hold", qid)
        assert p.returncode == 1 and "held already" in p.stderr, p
        # one bad id among good ones: the others are still done
        p = ctl(srv, "queue", "release", MISSING, qid)
        assert p.returncode == 1 and f"{qid} released" in p.stdout, p
        assert spool_has(srv, "queue", qid)
    finally:
        srv.close()


def sock_path(srv):
    return os.path.join(srv.dir, "moatd.sock")


def test_stopped_daemon_stale_and_busy_socket():
    srv = Moat()
    try:
        st = os.lstat(sock_path(srv))
        assert stat.S_ISSOCK(st.st_mode) and stat.S_IMODE(st.st_mode) == 0o600
        assert st.st_uid == os.geteuid()
        srv.stop()
        assert not os.path.exists(sock_path(srv)), "socket left at stop"
        for args in (("queue",), ("flush",), ("queue", "hold", MISSING)):
            p = ctl(srv, *args)
            assert p.returncode == 2, (args, p)
            assert "is moatd running?" in p.stderr, p

        # a socket left by a moatd that died is cleared at start
        stale = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        stale.bind(sock_path(srv))
        stale.close()
        p = ctl(srv, "queue")
        assert p.returncode == 2 and "is moatd running?" in p.stderr, p
        srv.start()
        assert ctl(srv, "queue").returncode == 0
        srv.stop()

        # one that answers is another moatd's: refuse to start
        live = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        live.bind(sock_path(srv))
        live.listen(1)
        try:
            srv.start(wait=False)
            assert srv.proc.wait(TIMEOUT) == 1
            assert "another moatd answers on it" in srv.log()
        finally:
            live.close()
            srv.logf.close()
    finally:
        srv.close()


# ---- the protocol itself (smtpd/control.h) ----

def frame_types():
    """FRAME_* values, counted from smtpd/frame.h as the compiler does."""
    with open(os.path.join(ROOT, "smtpd", "frame.h")) as f:
        body = f.read().split("enum frame_type {")[1].split("};")[0]
    values, n = {}, 0
    for m in re.finditer(r"(FRAME_\w+)(?:\s*=\s*(\d+))?", body):
        n = int(m.group(2)) if m.group(2) else n + 1
        values[m.group(1)] = n
    return values


def request(op, qid=""):
    t = frame_types()["FRAME_CTL_REQUEST"]
    q = qid.encode()
    return struct.pack("=III", t, op, len(q)) + q


def raw_client(srv):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    s.settimeout(10)
    s.connect(sock_path(srv))
    return s


def closed_without_reply(s):
    try:
        return s.recv(65536) == b""
    except ConnectionResetError:
        return True


def test_bad_requests_and_idle_clients_do_not_hurt():
    srv = Moat()
    try:
        idle = [raw_client(srv) for _ in range(3)]
        p = ctl(srv, "queue")
        assert p.returncode == 0, p      # idle connections block nobody

        cases = [(request(1)[:6], "malformed"),
                 (request(99), "unknown operation"),
                 (request(1, MISSING), "a queue id where none goes"),
                 (request(3, "0123"), "not a queue id")]
        for data, why in cases:
            s = raw_client(srv)
            s.send(data)
            assert closed_without_reply(s), why
            s.close()
            srv.wait_log(lambda e, kv, why=why: e == "error" and
                         f"bad request from uid=0: {why}" in kv.get("msg", ""))
        s = raw_client(srv)
        r, w = os.pipe()
        socket.send_fds(s, [request(1)], [r])
        os.close(r)
        os.close(w)
        assert closed_without_reply(s)
        s.close()
        srv.wait_log(lambda e, kv: e == "error" and
                     "bad request from uid=0: a descriptor" in kv.get("msg", ""))

        # a good request by hand: one reply frame, then the end
        s = raw_client(srv)
        s.send(request(2))
        reply = s.recv(65536)
        t, status, n = struct.unpack("=III", reply[:12])
        assert t == frame_types()["FRAME_CTL_REPLY"] and status == 0, reply
        assert reply[12:12 + n] == b"0 deferred entries due now", reply
        assert s.recv(65536) == b""
        s.close()
        for s in idle:
            s.close()
        assert srv.proc.poll() is None
        assert ctl(srv, "queue").returncode == 0
    finally:
        srv.close()


def connect_as(user, path, data):
    """In a child running as USER: "denied", "closed" or "answered"."""
    pw = pwd.getpwnam(user)
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        out = "error"
        try:
            os.close(r)
            os.setgid(pw.pw_gid)
            os.setuid(pw.pw_uid)
            s = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
            s.settimeout(10)
            try:
                s.connect(path)
            except PermissionError:
                out = "denied"
            else:
                try:        # refused at accept: the send itself may fail
                    s.send(data)
                    out = "closed" if closed_without_reply(s) else "answered"
                except (BrokenPipeError, ConnectionResetError):
                    out = "closed"
        except Exception as e:      # named in the assertion
            out = "error: " + repr(e)[:50]
        finally:
            os.write(w, out.encode())
            os._exit(0)
    os.close(w)
    out = os.read(r, 64).decode()
    os.close(r)
    os.waitpid(pid, 0)
    return out


def test_only_root_may_ask():
    if not IS_ROOT:
        return
    srv = Moat()
    try:
        path = sock_path(srv)
        out = connect_as("moat", path, request(1))
        assert out == "denied", out                                # 0600
        os.chmod(path, 0o666)
        out = connect_as("moat", path, request(1))
        assert out == "closed", out                                # PEERCRED
        srv.wait_log(lambda e, kv: e == "error" and re.search(
            r"connection from uid=\d+ pid=\d+ refused", kv.get("msg", "")))
        assert ctl(srv, "queue").returncode == 0
    finally:
        srv.close()


def test_sigusr1_still_flushes():
    srv = Moat(retry_min="1h", retry_max="2h")
    try:
        blocker = block_maildir(srv, "alice")
        deferred(srv, "by-signal")
        os.unlink(blocker)
        time.sleep(1.5)
        assert srv.messages("alice") == []
        srv.signal(signal.SIGUSR1)
        srv.wait_messages("alice", 1, timeout=5)
        srv.wait_log(lambda e, kv: e == "flush" and
                     kv.get("msg") == "1 deferred entries due now")
    finally:
        srv.close()


def queue_pid(srv):
    uid = pwd.getpwnam("moatq").pw_uid if IS_ROOT else os.geteuid()
    workers = set(srv.workers()) if IS_ROOT else set()
    return [p for p, u in srv.children(None) if u == uid and p not in workers]


def test_request_pending_when_the_queue_dies():
    if not IS_ROOT:
        return
    srv = Moat()
    try:
        (pid,) = queue_pid(srv)
        os.kill(pid, signal.SIGSTOP)
        s = raw_client(srv)
        s.send(request(1))
        time.sleep(0.3)
        os.kill(pid, signal.SIGKILL)
        reply = s.recv(65536)
        t, status, n = struct.unpack("=III", reply[:12])
        assert t == frame_types()["FRAME_CTL_REPLY"] and status == 4, reply
        assert b"ended before it answered" in reply[12:12 + n], reply
        s.close()
        srv.wait_log(lambda e, kv: e == "start" and
                     kv.get("msg", "").startswith("queue pid=") and
                     kv["msg"] != f"queue pid={pid}")
        deadline = time.time() + 10
        while ctl(srv, "queue").returncode != 0 and time.time() < deadline:
            time.sleep(0.1)
        assert ctl(srv, "queue").returncode == 0
    finally:
        srv.close()
