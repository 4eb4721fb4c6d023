"""Integration test harness: a real moatd on loopback, real clients.

Moat(**settings) writes a config into a fresh folder (maps included),
compiles the maps with moatctl, starts the daemon built with ASan and
UBSan in the foreground, and waits for its port.  Everything it starts it
stops by PID.  Every wait is bounded.
"""
import glob
import os
import pwd
import re
import shutil
import signal
import socket
import ssl
import subprocess
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
MOATD = os.path.join(ROOT, "obj-san", "moatd")
MOATCTL = os.path.join(ROOT, "obj-san", "moatctl")
CERT_DIR = os.path.join(ROOT, "run", "test-cert")
IS_ROOT = os.geteuid() == 0

DEFAULT_MAPS = {
    "domains": "example.test\nexample.org\n",
    "recipients": ("alice@example.test maildir:alice/\n"
                   "bob@example.test maildir:bob/\n"
                   "postmaster@example.test maildir:postmaster/\n"
                   "postmaster maildir:postmaster/\n"
                   "@example.org maildir:catchall/\n"),
    "access": "",
    "helo": "",
    "senders": "",
}

SAN_ENV = {
    "ASAN_OPTIONS": "detect_leaks=0:abort_on_error=0:log_path=stderr",
    "UBSAN_OPTIONS": "print_stacktrace=1:halt_on_error=1",
}


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def ensure_cert():
    cert = os.path.join(CERT_DIR, "cert.pem")
    key = os.path.join(CERT_DIR, "key.pem")
    if not os.path.exists(cert):
        os.makedirs(CERT_DIR, exist_ok=True)
        subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048",
                        "-nodes", "-days", "3650", "-subj", "/CN=mx.example.test",
                        "-keyout", key, "-out", cert],
                       check=True, capture_output=True)
    return cert, key


def ensure_users():
    if not IS_ROOT:
        return
    for u in ("moat", "moatq", "moatf"):
        if subprocess.run(["id", u], capture_output=True).returncode != 0:
            subprocess.run(["useradd", "--system", "--no-create-home",
                            "--home-dir", "/nonexistent", "--shell",
                            "/usr/sbin/nologin", u], check=True)


class Moat:
    def __init__(self, maps=None, tls=True, start=True, **settings):
        ensure_users()
        self.dir = tempfile.mkdtemp(prefix="moat-test-")
        os.chmod(self.dir, 0o755)
        self.etc = os.path.join(self.dir, "etc")
        os.makedirs(self.etc)
        self.port = free_port()
        self.proc = None
        self.logpath = os.path.join(self.dir, "moatd.log")
        self.maps = dict(DEFAULT_MAPS)
        self.maps.update(maps or {})
        conf = {
            "hostname": "mx.example.test",
            "listen": [f"127.0.0.1:{self.port}"],
            "workers": "2",
            "user": "moat",
            "queue_user": "moatq",
            "chroot": "../empty",
            "spool": "../spool",
            "mail_root": "../mail",
            "pidfile": "../moatd.pid",
            "control_socket": "../moatd.sock",
            "state_db": "../db",
            "min_free_space": "0",
            "retry_min": "1s",
            "retry_max": "2s",
        }
        for m in self.maps:
            conf[m] = m
        if tls:
            cert, key = ensure_cert()
            conf["tls_cert"] = cert
            conf["tls_key"] = key
        for k, v in settings.items():
            conf[k] = v
        self.conf = conf
        self.write_conf()
        for m, text in self.maps.items():
            self.write_map(m, text)
        if start:
            try:
                self.start()
            except BaseException:
                self.kill_all()
                raise

    # ---- files ----
    @property
    def conf_path(self):
        return os.path.join(self.etc, "moat.conf")

    def write_conf(self):
        with open(self.conf_path, "w") as f:
            for k, v in self.conf.items():
                for item in (v if isinstance(v, list) else [v]):
                    f.write(f"{k} = {item}\n")

    def write_map(self, name, text, force=True):
        path = os.path.join(self.etc, name)
        with open(path, "w") as f:
            f.write(text)
        args = [MOATCTL, "-f", self.conf_path, "makemap"]
        if force:
            args.append("-f")
        args.append(name)
        p = subprocess.run(args, capture_output=True, text=True, env=self.env())
        if p.returncode != 0:
            raise AssertionError(f"makemap {name}: {p.stdout}{p.stderr}")
        return p

    def env(self):
        e = dict(os.environ)
        e.update(SAN_ENV)
        return e

    # ---- process ----
    def start(self, wait=True):
        self.logf = open(self.logpath, "ab")
        self.proc = subprocess.Popen([MOATD, "-d", "-f", self.conf_path],
                                     stdout=self.logf, stderr=self.logf,
                                     env=self.env())
        if wait:
            self.wait_ready()

    def wait_ready(self, timeout=15):
        deadline = time.time() + timeout
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(f"moatd exited {self.proc.returncode}:\n{self.log()}")
            try:
                c = Client(self.port, timeout=5)
                code, _ = c.reply()
                c.close()
                if code in (220, 554) and self.log_count("moatd ready") > 0:
                    self.wait_probes_gone(deadline)
                    return
            except OSError:
                pass
            time.sleep(0.05)
        raise AssertionError(f"moatd not ready on port {self.port}:\n{self.log()}")

    def wait_probes_gone(self, deadline):
        """Readiness probes count against session limits until the
        daemon has seen them go: wait for their disconnect lines."""
        while time.time() < deadline:
            if len(self.log_lines("disconnect")) >= len(self.log_lines("connect")):
                return
            time.sleep(0.02)

    def signal(self, sig):
        os.kill(self.proc.pid, sig)

    def stop(self, timeout=20):
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill_all()
            raise AssertionError("moatd did not stop on SIGTERM")
        finally:
            self.logf.close()

    def kill_all(self):
        for pid in self.pids():
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        if self.proc:
            self.proc.wait(5)

    def close(self):
        try:
            self.stop()
        finally:
            bad = sanitizer_errors(self.log())
            if bad:
                raise AssertionError("sanitizer report in moatd log:\n" + bad)
            shutil.rmtree(self.dir, ignore_errors=True)

    def pids(self):
        """The parent and every child of it."""
        if self.proc is None:
            return []
        out = [self.proc.pid]
        for status in glob.glob("/proc/[0-9]*/status"):
            try:
                with open(status) as f:
                    text = f.read()
            except OSError:
                continue
            m = re.search(r"^PPid:\s+(\d+)", text, re.M)
            if m and int(m.group(1)) == self.proc.pid:
                out.append(int(status.split("/")[2]))
        return out

    def children(self, kind):
        """PIDs of the children whose log 'start' or fork we know: by uid."""
        res = []
        for pid in self.pids()[1:]:
            try:
                with open(f"/proc/{pid}/status") as f:
                    text = f.read()
            except OSError:
                continue
            uid = int(re.search(r"^Uid:\s+(\d+)", text, re.M).group(1))
            res.append((pid, uid))
        return res

    def workers(self):
        """PIDs of the smtp workers: the children running as moat."""
        uid = pwd.getpwnam("moat").pw_uid
        return [pid for pid, u in self.children(None) if u == uid]

    # ---- log ----
    def log(self):
        try:
            with open(self.logpath, "rb") as f:
                return f.read().decode("utf-8", "replace")
        except OSError:
            return ""

    def log_lines(self, event=None):
        lines = []
        for line in self.log().splitlines():
            m = re.search(r"moatd\[\d+\]: (\S+)(.*)$", line)
            if not m:
                continue
            if event is None or m.group(1) == event:
                lines.append((m.group(1), parse_kv(m.group(2))))
        return lines

    def log_count(self, needle):
        return self.log().count(needle)

    def wait_log(self, pred, timeout=10):
        deadline = time.time() + timeout
        while time.time() < deadline:
            for ev, kv in self.log_lines():
                if pred(ev, kv):
                    return ev, kv
            time.sleep(0.05)
        raise AssertionError("log line not seen; log:\n" + self.log()[-4000:])

    # ---- mail ----
    def maildir(self, user):
        return os.path.join(self.dir, "mail", user)

    def messages(self, user):
        """Contents of the files in USER's maildir new/ (sorted by name)."""
        d = os.path.join(self.maildir(user), "new")
        out = []
        if not os.path.isdir(d):
            return out
        for name in sorted(os.listdir(d)):
            with open(os.path.join(d, name), "rb") as f:
                out.append(f.read())
        return out

    def wait_messages(self, user, n, timeout=10):
        deadline = time.time() + timeout
        while time.time() < deadline:
            msgs = self.messages(user)
            if len(msgs) >= n:
                return msgs
            time.sleep(0.05)
        raise AssertionError(f"{user}: {len(self.messages(user))} messages, wanted {n};"
                             f" log:\n{self.log()[-4000:]}")

    def spool_files(self):
        """Entries in tmp/, queue/ and hold/ (free/ holds spent files)."""
        return [f for sub in ("tmp", "queue", "hold")
                for f in glob.glob(os.path.join(self.dir, "spool", sub, "*"))]

    def client(self, **kw):
        c = Client(self.port, **kw)
        code, text = c.reply()
        assert code == 220, (code, text)
        return c


def sanitizer_errors(log):
    bad = [l for l in log.splitlines()
           if "runtime error:" in l or "AddressSanitizer" in l
           or "LeakSanitizer" in l or "UndefinedBehaviorSanitizer" in l]
    return "\n".join(bad[:20])


def parse_kv(text):
    kv = {}
    for m in re.finditer(r'(\w[\w.-]*)=("((?:[^"\\]|\\.)*)"|\S*)', text):
        kv[m.group(1)] = m.group(3) if m.group(3) is not None else m.group(2)
    return kv


class Client:
    """A raw SMTP client: exact bytes out, whole replies in."""

    def __init__(self, port, host="127.0.0.1", timeout=10, source=None):
        self.sock = socket.create_connection(
            (host, port), timeout=timeout,
            source_address=(source, 0) if source else None)
        self.buf = b""
        self.tls = None

    def send(self, data):
        if isinstance(data, str):
            data = data.encode()
        (self.tls or self.sock).sendall(data)

    def _recv(self):
        data = (self.tls or self.sock).recv(65536)
        if not data:
            raise EOFError("connection closed")
        self.buf += data

    def reply(self):
        """One whole reply: (code, [text lines])."""
        lines = []
        while True:
            while b"\r\n" not in self.buf:
                self._recv()
            line, self.buf = self.buf.split(b"\r\n", 1)
            line = line.decode("utf-8", "replace")
            lines.append(line[4:])
            if len(line) < 4 or line[3] != "-":
                return int(line[:3]), lines

    def cmd(self, line):
        self.send(line + "\r\n")
        code, lines = self.reply()
        return code, " ".join(lines)

    def expect(self, line, code):
        got, text = self.cmd(line)
        assert got == code, f"{line!r}: expected {code}, got {got} {text}"
        return text

    def closed(self, timeout=5):
        """True when the server has closed the connection."""
        self.sock.settimeout(timeout)
        try:
            while True:
                data = (self.tls or self.sock).recv(65536)
                if not data:
                    return True
                self.buf += data
        except (ConnectionResetError, ssl.SSLError):
            return True
        except socket.timeout:
            return False

    def starttls(self):
        ctx = ssl.create_default_context()
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        self.tls = ctx.wrap_socket(self.sock, server_hostname="mx.example.test")

    def close(self):
        try:
            (self.tls or self.sock).close()
        except OSError:
            pass


def send_message(c, sender="<sender@remote.example>", rcpts=("<alice@example.test>",),
                 body="Subject: test\r\n\r\nhello\r\n", ehlo="client.remote.example"):
    """A whole transaction in lockstep; returns the final (code, text)."""
    c.expect(f"EHLO {ehlo}", 250)
    c.expect(f"MAIL FROM:{sender}", 250)
    for r in rcpts:
        c.expect(f"RCPT TO:{r}", 250)
    c.expect("DATA", 354)
    c.send(body + ".\r\n")
    code, lines = c.reply()
    return code, " ".join(lines)
