"""LMTP delivery to a real Dovecot (dovecot-lmtpd from Debian), started by
the test with a configuration of its own: LMTP on a loopback port, a
passwd-file user database, maildirs under the test's folder, the quota
plugin.  Messages are read back from Dovecot's store: delivered once;
with Dovecot stopped they stay queued and arrive exactly once when it
is back; a recipient over quota (452) is the only one retried."""
import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import time

from harness import Moat, free_port, send_message

CONF = """base_dir = {d}/run
state_dir = {d}/state
log_path = {d}/dovecot.log
protocols = lmtp
ssl = no
listen = 127.0.0.1
default_internal_user = dovecot
default_login_user = dovenull
auth_username_format = %Ln
first_valid_uid = 1
passdb {{
  driver = passwd-file
  args = {d}/passwd
}}
userdb {{
  driver = passwd-file
  args = {d}/passwd
}}
mail_location = maildir:~/Maildir
mail_plugins = quota
quota_full_tempfail = yes
plugin {{
  quota = maildir:User quota
}}
service lmtp {{
  inet_listener lmtp {{
    address = 127.0.0.1
    port = {port}
  }}
}}
"""


class Dovecot:
    def __init__(self, users):
        self.dir = tempfile.mkdtemp(prefix="moat-dovecot-")
        os.chmod(self.dir, 0o755)
        self.port = free_port()
        self.proc = None
        nobody = pwd.getpwnam("nobody")
        self.uid, self.gid = nobody.pw_uid, nobody.pw_gid
        for u in users:
            home = os.path.join(self.dir, "home", u)
            os.makedirs(home)
            os.chown(home, self.uid, self.gid)
        self.write_users(users)
        with open(os.path.join(self.dir, "dovecot.conf"), "w") as f:
            f.write(CONF.format(d=self.dir, port=self.port))
        self.start()

    def write_users(self, users):
        """users: name -> quota rule ("" none)."""
        lines = []
        for u, quota in users.items():
            extra = f"userdb_quota_rule=*:storage={quota}" if quota else ""
            lines.append(f"{u}:{{PLAIN}}x:{self.uid}:{self.gid}::"
                         f"{self.dir}/home/{u}::{extra}\n")
        tmp = os.path.join(self.dir, "passwd.tmp")
        with open(tmp, "w") as f:
            f.writelines(lines)
        os.rename(tmp, os.path.join(self.dir, "passwd"))

    def start(self):
        pidfile = os.path.join(self.dir, "run", "master.pid")
        if os.path.exists(pidfile):
            os.unlink(pidfile)
        self.proc = subprocess.Popen(
            ["dovecot", "-F", "-c", os.path.join(self.dir, "dovecot.conf")],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.time() + 15
        while time.time() < deadline:
            try:
                socket.create_connection(("127.0.0.1", self.port), 1).close()
                return
            except OSError:
                time.sleep(0.1)
        raise AssertionError("dovecot did not start: " + self.log()[-2000:])

    def stop(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None

    def close(self):
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)

    def log(self):
        try:
            with open(os.path.join(self.dir, "dovecot.log")) as f:
                return f.read()
        except OSError:
            return ""

    def messages(self, user):
        new = os.path.join(self.dir, "home", user, "Maildir", "new")
        out = []
        if os.path.isdir(new):
            for name in sorted(os.listdir(new)):
                with open(os.path.join(new, name), "rb") as f:
                    out.append(f.read())
        return out


def dovecot_moat(dv):
    target = f"lmtp:127.0.0.1:{dv.port}"
    maps = {"recipients": f"alice@example.test {target}\n"
                          f"bob@example.test {target}\n"}
    return Moat(maps=maps, retry_min="1s", retry_max="1s")


def wait_until(pred, seconds=15):
    deadline = time.time() + seconds
    while time.time() < deadline:
        if pred():
            return True
        time.sleep(0.1)
    return False


def with_token(msgs, token):
    return [m for m in msgs if token in m]


def test_delivered_and_read_back_from_dovecot():
    dv = Dovecot({"alice": "", "bob": ""})
    srv = dovecot_moat(dv)
    try:
        body = "Subject: lmtp-token-1\r\n\r\n..dotted line\r\nhello\r\n"
        code, text = send_message(srv.client(), body=body,
                                  rcpts=("<alice@example.test>", "<bob@example.test>"))
        assert code == 250, text
        assert wait_until(lambda: dv.messages("alice") and dv.messages("bob")), dv.log()
        for user in ("alice", "bob"):
            got = with_token(dv.messages(user), b"lmtp-token-1")
            assert len(got) == 1, (user, got)
            assert b"\n.dotted line\r\n" in got[0] or b"\n.dotted line\n" in got[0]
            assert b"Received: from client.remote.example" in got[0]
        d = [kv for e, kv in srv.log_lines("deliver")]
        assert len(d) == 2 and all(kv["to"].startswith("lmtp:") for kv in d), d
    finally:
        srv.close()
        dv.close()


def test_dovecot_stopped_keeps_mail_queued_then_delivers_once():
    dv = Dovecot({"alice": ""})
    srv = dovecot_moat(dv)
    try:
        dv.stop()
        code, text = send_message(srv.client(), body="Subject: lmtp-token-2\r\n\r\nx\r\n")
        assert code == 250, text
        srv.wait_log(lambda e, kv: e == "defer" and "cannot connect" in kv.get("reason", ""))
        queue = os.path.join(srv.dir, "spool", "queue")
        assert len(os.listdir(queue)) == 1, "kept in the queue"
        time.sleep(2)                       # more failed tries
        dv.start()
        assert wait_until(lambda: dv.messages("alice")), dv.log()
        assert wait_until(lambda: not os.listdir(queue))
        time.sleep(2)
        assert len(with_token(dv.messages("alice"), b"lmtp-token-2")) == 1, "exactly once"
    finally:
        srv.close()
        dv.close()


def test_one_recipient_over_quota_is_the_only_one_retried():
    dv = Dovecot({"alice": "", "bob": "1k"})
    srv = dovecot_moat(dv)
    try:
        body = "Subject: lmtp-token-3\r\n\r\n" + "y" * 3000 + "\r\n"
        code, text = send_message(srv.client(), body=body,
                                  rcpts=("<alice@example.test>", "<bob@example.test>"))
        assert code == 250, text
        assert wait_until(lambda: srv.log().count("defer qid=") >= 2), srv.log()[-2000:]
        defers = [kv for e, kv in srv.log_lines("defer") if kv.get("rcpt")]
        assert {kv["rcpt"] for kv in defers} == {"bob@example.test"}, defers
        assert "452" in defers[0]["reason"], defers[0]
        assert len(with_token(dv.messages("alice"), b"lmtp-token-3")) == 1
        assert dv.messages("bob") == []
        dv.write_users({"alice": "", "bob": "10M"})       # room again
        assert wait_until(lambda: dv.messages("bob")), dv.log()[-2000:]
        time.sleep(1.5)
        assert len(with_token(dv.messages("bob"), b"lmtp-token-3")) == 1
        assert len(with_token(dv.messages("alice"), b"lmtp-token-3")) == 1, "alice once"
    finally:
        srv.close()
        dv.close()
