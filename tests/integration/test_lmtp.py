"""LMTP delivery (RFC 2033) against a small LMTP test server written here,
which can be told to misbehave: per-recipient replies after the message
(2xx delivered, 4xx retried until it is taken, 5xx held at once), fewer
replies than recipients, a 1 MB line, a close right after the dot.  What
the server received is checked, message by message and recipient by
recipient: nothing lost; a recipient left without a reply is sent again
(the documented possible duplicate)."""
import os
import signal
import socket
import struct
import tempfile
import threading
import time

from harness import Moat, send_message


class LmtpServer:
    """LMTP on 127.0.0.1: records every transaction; `plan` says how to
    answer: a list of behaviours used one per transaction, the last one
    repeated.  A behaviour is a dict: rcpt (address -> reply), after
    (address -> reply after the dot), cut (stop after N replies and
    close), huge (a 1 MB line instead of the replies)."""

    def __init__(self, plan, port=0, path=None):
        self.plan = plan
        self.got = []           # (sender, [rcpts], data, [delivered rcpts])
        self.peers = []         # unix: the pid of each client
        if path is None:
            self.sock = socket.socket()
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            self.sock.bind(("127.0.0.1", port))
            self.port = self.sock.getsockname()[1]
        else:
            self.sock = socket.socket(socket.AF_UNIX)
            self.sock.bind(path)
            os.chmod(path, 0o777)
            self.port = None
        self.sock.listen(16)
        self.stop = False
        self.thread = threading.Thread(target=self.run, daemon=True)
        self.thread.start()

    def close(self):
        """Stop the thread before the socket's descriptor can be reused:
        a thread left in accept() would take the next server's clients."""
        self.stop = True
        try:
            self.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.thread.join(10)
        self.sock.close()

    def run(self):
        while not self.stop:
            try:
                c, _ = self.sock.accept()
            except OSError:
                return
            if c.family == socket.AF_UNIX:
                cred = c.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED,
                                    struct.calcsize("3i"))
                self.peers.append(struct.unpack("3i", cred)[0])
            # a thread each: moat keeps a connection open between
            # transactions, and a retry may come on another
            threading.Thread(target=self.serve_one, args=(c,),
                             daemon=True).start()

    def serve_one(self, c):
        try:
            self.session(c)
        except OSError:
            pass
        finally:
            c.close()

    def session(self, c):
        f = c.makefile("rb")
        beh = self.plan[min(len(self.got), len(self.plan) - 1)]
        c.sendall(b"220 lmtp.test LMTP ready\r\n")
        sender, rcpts, ok = None, [], []
        while True:
            line = f.readline()
            if not line:
                return
            cmd = line.decode().strip()
            up = cmd.upper()
            if up.startswith("LHLO"):
                c.sendall(b"250-lmtp.test\r\n250 PIPELINING\r\n")
            elif up.startswith("MAIL FROM:"):
                sender = cmd[10:].strip("<>")
                c.sendall(b"250 2.1.0 ok\r\n")
            elif up.startswith("RCPT TO:"):
                r = cmd[8:].strip("<>")
                rcpts.append(r)
                reply = beh.get("rcpt", {}).get(r, "250 2.1.5 ok")
                if reply.startswith("2"):
                    ok.append(r)
                c.sendall(reply.encode() + b"\r\n")
            elif up == "DATA":
                c.sendall(b"354 go ahead\r\n")
                data = b""
                while True:
                    l = f.readline()
                    if l in (b".\r\n", b""):
                        break
                    data += l
                delivered = []
                self.got.append((sender, rcpts, data, delivered))
                if beh.get("hang"):       # no reply until the client goes
                    c.settimeout(beh["hang"])
                    try:
                        while c.recv(4096):
                            pass
                    except OSError:
                        pass
                    return
                if beh.get("huge"):
                    c.sendall(b"250 " + b"x" * (1 << 20) + b"\r\n")
                    return
                for n, r in enumerate(ok):
                    if "cut" in beh and n >= beh["cut"]:
                        return
                    reply = beh.get("after", {}).get(r, "250 2.0.0 delivered")
                    if reply.startswith("2"):
                        delivered.append(r)
                    c.sendall(reply.encode() + b"\r\n")
                sender, rcpts, ok = None, [], []
            elif up == "QUIT":
                c.sendall(b"221 bye\r\n")
                return
            else:
                c.sendall(b"500 what\r\n")

    def delivered(self, rcpt):
        return sum(d.count(rcpt) for _, _, _, d in self.got)


def lmtp_moat(server, **settings):
    target = f"lmtp:127.0.0.1:{server.port}"
    maps = {"recipients": (f"alice@example.test {target}\n"
                           f"bob@example.test {target}\n"
                           "carol@example.test maildir:carol/\n")}
    settings.setdefault("retry_min", "1s")
    settings.setdefault("retry_max", "1s")
    return Moat(maps=maps, **settings)


def wait_until(pred, seconds=15):
    deadline = time.time() + seconds
    while time.time() < deadline:
        if pred():
            return True
        time.sleep(0.1)
    return False


RCPTS = ("<alice@example.test>", "<bob@example.test>")


def test_delivered_per_recipient_and_dot_stuffed():
    server = LmtpServer([{}])
    srv = lmtp_moat(server)
    try:
        body = "Subject: dots\r\n\r\n..a line with a dot\r\nend\r\n"
        code, text = send_message(srv.client(), rcpts=RCPTS + ("<carol@example.test>",),
                                  body=body)
        assert code == 250, text
        assert wait_until(lambda: server.delivered("bob@example.test") == 1)
        sender, rcpts, data, _ = server.got[0]
        assert sender == "sender@remote.example"
        assert rcpts == ["alice@example.test", "bob@example.test"], rcpts
        assert b"\r\n..a line with a dot\r\n" in data, data
        assert data.startswith(b"Received: from ")
        assert len(srv.wait_messages("carol", 1)) == 1, "maildir beside LMTP"
        d = [kv for e, kv in srv.log_lines("deliver")]
        assert sorted(kv["rcpt"] for kv in d) == ["alice@example.test",
                                                   "bob@example.test",
                                                   "carol@example.test"], d
        assert wait_until(lambda: not os.listdir(os.path.join(srv.dir, "spool", "queue")))
    finally:
        srv.close()
        server.close()


def test_a_4xx_recipient_alone_is_retried():
    server = LmtpServer([{"after": {"bob@example.test": "452 4.2.2 Mailbox full"}},
                         {}])
    srv = lmtp_moat(server)
    try:
        code, text = send_message(srv.client(), rcpts=RCPTS)
        assert code == 250, text
        assert wait_until(lambda: server.delivered("bob@example.test") == 1), \
            (server.got, srv.log()[-3000:])
        assert server.delivered("alice@example.test") == 1, "alice once"
        assert server.got[1][1] == ["bob@example.test"], server.got
        defer = [kv for e, kv in srv.log_lines("defer") if kv.get("qid")]
        assert "452 4.2.2 Mailbox full" in defer[0]["reason"], defer
    finally:
        srv.close()
        server.close()


def test_a_5xx_recipient_is_held_the_other_delivered():
    server = LmtpServer([{"rcpt": {"bob@example.test": "550 5.1.1 No such user"}}])
    srv = lmtp_moat(server)
    try:
        code, text = send_message(srv.client(), rcpts=RCPTS)
        assert code == 250, text
        hold = os.path.join(srv.dir, "spool", "hold")
        assert wait_until(lambda: os.path.isdir(hold) and os.listdir(hold))
        assert server.delivered("alice@example.test") == 1
        h = [kv for e, kv in srv.log_lines("hold") if kv.get("rcpt")]
        assert h and h[0]["rcpt"] == "bob@example.test", h
        assert "550 5.1.1 No such user" in h[0]["reason"]
        time.sleep(2)
        assert len(server.got) == 1, "no retry of a 5xx"
    finally:
        srv.close()
        server.close()


def test_fewer_replies_than_recipients_retries_the_rest():
    server = LmtpServer([{"cut": 1}, {}])
    srv = lmtp_moat(server)
    try:
        code, text = send_message(srv.client(), rcpts=RCPTS)
        assert code == 250, text
        assert wait_until(lambda: server.delivered("bob@example.test") == 1)
        assert server.delivered("alice@example.test") == 1
        assert server.got[1][1] == ["bob@example.test"], "only the unanswered one"
        d = [kv for e, kv in srv.log_lines("defer") if kv.get("rcpt")]
        assert d and "may have been delivered" in d[0]["reason"], d
    finally:
        srv.close()
        server.close()


def test_a_1mb_line_and_a_close_after_the_dot_lose_nothing():
    for plan in ([{"huge": True}, {}], [{"cut": 0}, {}]):
        server = LmtpServer(plan)
        srv = lmtp_moat(server)
        try:
            code, text = send_message(srv.client(), rcpts=RCPTS)
            assert code == 250, text
            assert wait_until(lambda: server.delivered("bob@example.test") == 1 and
                              server.delivered("alice@example.test") == 1), \
                (len(server.got), srv.log()[-2500:])
            assert wait_until(lambda: not os.listdir(os.path.join(srv.dir, "spool", "queue")))
        finally:
            srv.close()
            server.close()


def test_the_delivery_default_and_a_server_away():
    server = LmtpServer([{}])
    port = server.port
    server.close()                   # nobody listens for a while
    maps = {"recipients": "alice@example.test OK\n"}
    srv = Moat(maps=maps, delivery=f"lmtp:127.0.0.1:{port}", retry_min="1s",
               retry_max="1s")
    try:
        code, text = send_message(srv.client(), rcpts=("<alice@example.test>",))
        assert code == 250, text
        assert srv.wait_log(lambda e, kv: e == "defer" and
                            "cannot connect" in kv.get("reason", ""))
        server = LmtpServer([{}], port)
        assert wait_until(lambda: server.delivered("alice@example.test") == 1)
        time.sleep(1.5)
        assert server.delivered("alice@example.test") == 1, "exactly once"
    finally:
        srv.close()
        server.close()


def test_an_lmtp_helper_that_dies_mid_delivery_is_replaced():
    """The helper is killed while the server holds the message: the
    queue notices, starts new helpers and retries; the entry does not
    wait for good."""
    d = tempfile.mkdtemp(prefix="moat-lmtp-")
    os.chmod(d, 0o755)
    path = os.path.join(d, "lmtp.sock")
    server = LmtpServer([{"hang": 20}, {}], path=path)
    maps = {"recipients": f"alice@example.test lmtp:unix:{path}\n"}
    srv = Moat(maps=maps, retry_min="1s", retry_max="1s", lmtp_timeout="60s")
    try:
        code, text = send_message(srv.client(), rcpts=("<alice@example.test>",))
        assert code == 250, text
        assert wait_until(lambda: len(server.got) == 1)
        os.kill(server.peers[0], signal.SIGKILL)
        assert srv.wait_log(lambda e, kv: e == "error" and
                            "LMTP helper died" in kv.get("msg", ""))
        assert wait_until(lambda: server.delivered("alice@example.test") == 1)
        assert wait_until(lambda: not os.listdir(os.path.join(srv.dir, "spool", "queue")))
    finally:
        srv.close()
        server.close()
        os.unlink(path)
        os.rmdir(d)
