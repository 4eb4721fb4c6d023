"""Listeners and running without root: IPv4 and IPv6 on loopback, the
access map on IPv6, and a daemon started as an ordinary user."""
import os
import shutil
import socket
import subprocess
import time

from harness import IS_ROOT, MOATD, Client, Moat, free_port, send_message


def client6(port):
    c = Client.__new__(Client)
    c.sock = socket.create_connection(("::1", port), timeout=10)
    c.buf = b""
    c.tls = None
    code, lines = c.reply()
    return c, code, lines


def test_ipv4_and_ipv6_listeners():
    port6 = free_port()
    srv = Moat(start=False)
    srv.conf["listen"] = [f"127.0.0.1:{srv.port}", f"[::1]:{port6}"]
    srv.write_conf()
    try:
        srv.start()
        c, code, _ = client6(port6)
        assert code == 220
        code, text = send_message(c, rcpts=("<bob@example.test>",),
                                  body="Subject: over ipv6\r\n\r\nx\r\n")
        assert code == 250, text
        c.expect("QUIT", 221)
        msgs = srv.wait_messages("bob", 1)
        assert any(b"Received: from client.remote.example ([::1])" in x for x in msgs)
        c = srv.client()
        c.expect("QUIT", 221)
    finally:
        srv.close()


def test_access_map_ipv6_prefix():
    port6 = free_port()
    srv = Moat(start=False, maps={"access": "::/64 REJECT v6 refused\n"})
    srv.conf["listen"] = [f"127.0.0.1:{srv.port}", f"[::1]:{port6}"]
    srv.write_conf()
    try:
        srv.start()
        c, code, _ = client6(port6)
        c.expect("EHLO client.remote.example", 250)
        c.expect("MAIL FROM:<a@remote.example>", 250)
        code, text = c.cmd("RCPT TO:<alice@example.test>")
        assert code == 554 and "v6 refused" in text, (code, text)
        c.expect("QUIT", 221)
        c = srv.client()          # IPv4 is not in the map
        c.expect("EHLO client.remote.example", 250)
        c.expect("MAIL FROM:<a@remote.example>", 250)
        c.expect("RCPT TO:<alice@example.test>", 250)
        c.expect("QUIT", 221)
    finally:
        srv.close()


def test_runs_without_root():
    """As an ordinary user: no privilege drop, said in the log, mail flows."""
    if not IS_ROOT:
        return
    srv = Moat(start=False)
    try:
        nobody = 65534
        for root, dirs, files in os.walk(srv.dir):
            os.chown(root, nobody, nobody)
            for f in files:
                os.chown(os.path.join(root, f), nobody, nobody)
        cert = srv.conf["tls_cert"]
        srv.conf["tls_cert"] = os.path.join(srv.etc, "cert.pem")
        srv.conf["tls_key"] = os.path.join(srv.etc, "key.pem")
        for src, dst in ((cert, srv.conf["tls_cert"]),
                         (cert.replace("cert.pem", "key.pem"), srv.conf["tls_key"])):
            with open(src, "rb") as a, open(dst, "wb") as b:
                b.write(a.read())
            os.chown(dst, nobody, nobody)
        srv.write_conf()
        # the checkout may sit where nobody cannot reach: run a copy
        binary = os.path.join(srv.dir, "moatd")
        shutil.copy(MOATD, binary)
        os.chmod(binary, 0o755)
        srv.logf = open(srv.logpath, "ab")
        srv.proc = subprocess.Popen(
            ["setpriv", f"--reuid={nobody}", f"--regid={nobody}", "--clear-groups",
             binary, "-d", "-f", srv.conf_path],
            stdout=srv.logf, stderr=srv.logf, env=srv.env())
        srv.wait_ready()
        assert "not root: no privilege separation" in srv.log()
        c = srv.client()
        code, text = send_message(c, body="Subject: as nobody\r\n\r\nx\r\n")
        assert code == 250, text
        c.expect("QUIT", 221)
        msgs = srv.wait_messages("alice", 1)
        assert any(b"as nobody" in x for x in msgs)
        st = os.stat(os.path.join(srv.dir, "mail", "alice", "new"))
        assert st.st_uid == nobody
    finally:
        srv.close()
