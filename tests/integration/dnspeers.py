"""Real DNS servers from Debian on loopback, for tests: rbldnsd for
DNSBL zones, dnsmasq as the one front server a resolver is pointed at.

Each starts in the foreground on a free port of 127.0.0.1 (never port
53), with its files in a fresh folder, and is stopped by its PID.
Every wait is bounded.  As root each drops to an unprivileged user.

    with Rbldnsd({"bl.test": ("ip4set", ["127.0.0.2"])}) as rbl, \\
         Dnsmasq([("2.0.0.127.in-addr.arpa", "PTR", "mx.example")],
                  forward={"bl.test": rbl.port}) as front:
        query(front.port, "2.0.0.127.bl.test", "A")   # (0, ["127.0.0.2"])

What these servers do, as found with rbldnsd 1.0~20210120 and dnsmasq
2.90 (Debian 12):

rbldnsd answers UDP only: it has no TCP at all, so neither has a zone
forwarded to it (dnsmasq closes a TCP client's connection).  An address
listed without a value answers A 127.0.0.2 and no TXT.  It ignores
EDNS0 (no OPT in replies) and sends no SOA unless the data has $SOA.
Installing the Debian package starts no service: its /etc/default file
lists no zones.

dnsmasq, with --cache-size=0, passes a forwarded zone's answers on as
they come, over UDP and TCP: 127.0.0.x A records pass (--stop-dns-rebind
is off by default and not given here), NXDOMAIN stays NXDOMAIN, SERVFAIL
and REFUSED pass, TC passes over UDP.  Replies it cannot use it drops
(the client times out over UDP, the connection closes over TCP):
garbage, a header cut short, a wrong id over UDP, a question that does
not match.  A name loop or a label of 64 bytes comes back as SERVFAIL.
A PTR target full of control and shell characters passes unchanged.
A burst of 500 queries at once to a zone whose server answers 0.1 s
later lost about a hundred at dnsmasq (300 at once all passed, and 500
to a server answering at once): for load, point the resolver at
dnsserver.py itself.
Without any upstream, dnsmasq answers REFUSED for every name it does
not hold, even a name it holds with another type; so this wrapper adds
address=/#/, which makes those NXDOMAIN (NODATA for its own names),
while the more specific forwarded zones still go to their servers.
Its own records have TTL 0.  An A or AAAA record (host-record) brings
an automatic PTR for the address, unless a PTR record for that address
is given too.  CNAME targets must be dnsmasq's own names.
"""
import ipaddress
import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import time

from dnsserver import query

IS_ROOT = os.geteuid() == 0
START_TRIES = 3
READY_TIMEOUT = 10.0


def free_port():
    """A port of 127.0.0.1 free for both UDP and TCP right now."""
    for _ in range(20):
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as u, \
                socket.socket(socket.AF_INET, socket.SOCK_STREAM) as t:
            u.bind(("127.0.0.1", 0))
            port = u.getsockname()[1]
            try:
                t.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise OSError("no port free for both UDP and TCP")


class _Daemon:
    """A server process on 127.0.0.1:port with its files in self.dir.
    Subclasses give argv() and a name to probe for readiness."""
    name = "daemon"
    probe = "ready.invalid"

    def __init__(self):
        self.dir = tempfile.mkdtemp(prefix=f"moat-{self.name}-")
        os.chmod(self.dir, 0o755)     # the unprivileged user reads it
        self.logpath = os.path.join(self.dir, f"{self.name}.log")
        self.proc = None
        self.port = None

    def start(self):
        """Start, on a new port each try: a port taken between
        free_port() and the bind makes the daemon exit."""
        try:
            for _ in range(START_TRIES):
                self.port = free_port()
                with open(self.logpath, "ab") as log:
                    self.proc = subprocess.Popen(self.argv(), stdin=subprocess.DEVNULL,
                                                 stdout=log, stderr=log)
                if self.wait_ready():
                    return self
            raise AssertionError(f"{self.name} did not start:\n{self.log()}")
        except BaseException:
            self.stop()
            raise

    def wait_ready(self):
        """True once the daemon answers a query, False if it exited."""
        deadline = time.monotonic() + READY_TIMEOUT
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                return False
            try:
                query(self.port, self.probe, "A", timeout=0.2)
                return True
            except (OSError, ValueError):
                time.sleep(0.05)
        raise AssertionError(f"{self.name} not answering on port {self.port}:\n{self.log()}")

    def log(self):
        try:
            with open(self.logpath, "rb") as f:
                return f.read().decode("utf-8", "replace")
        except OSError:
            return ""

    def stop(self):
        """SIGTERM by PID, SIGKILL if it lingers; then remove the folder."""
        if self.proc is not None and self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                os.kill(self.proc.pid, signal.SIGKILL)
                self.proc.wait(5)
        shutil.rmtree(self.dir, ignore_errors=True)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()


class Rbldnsd(_Daemon):
    """rbldnsd serving zones: {zone: (dataset type, [data lines])}, e.g.
    {"bl.test": ("ip4set", ["127.0.0.2", "192.0.2.0/24 :127.0.0.4:listed"]),
     "dbl.test": ("dnset", [".spam.example"])}.
    See rbldnsd(8) for the data formats.  Started on construction."""
    name = "rbldnsd"

    def __init__(self, zones):
        super().__init__()
        self.specs = []
        for i, (zone, (dataset, lines)) in enumerate(zones.items()):
            path = f"zone{i}"
            with open(os.path.join(self.dir, path), "w") as f:
                f.write("".join(line + "\n" for line in lines))
            os.chmod(os.path.join(self.dir, path), 0o644)
            self.specs.append(f"{zone}:{dataset}:{path}")
        self.probe = next(iter(zones))
        self.start()

    def argv(self):
        """-n: foreground.  As root it drops to a user (-u; it will not
        serve as root) inside a chroot of its folder (-r); as another
        user both are refused, so it only changes folder (-w)."""
        where = (["-r", self.dir, "-u", unprivileged_user("rbldns")] if IS_ROOT
                 else ["-w", self.dir])
        return ["rbldnsd", "-n", "-b", f"127.0.0.1/{self.port}"] + where + self.specs


class Dnsmasq(_Daemon):
    """dnsmasq answering records [(name, type, value)] itself and
    forwarding zones {zone: port} to other servers on 127.0.0.1; every
    other name is NXDOMAIN.  Types: A, AAAA, PTR (name is the
    in-addr.arpa name), MX ("PREF HOST", "0 ." for a null MX), TXT,
    CNAME.  Started on construction."""
    name = "dnsmasq"

    def __init__(self, records=(), forward=None):
        super().__init__()
        lines = [config_line(*r) for r in records]
        lines += [f"server=/{zone}/127.0.0.1#{port}"
                  for zone, port in (forward or {}).items()]
        lines.append("address=/#/")
        self.conf = os.path.join(self.dir, "dnsmasq.conf")
        with open(self.conf, "w") as f:
            f.write("".join(line + "\n" for line in lines))
        self.start()

    def argv(self):
        """-k: foreground; the records in a config file, where quoting
        works; no cache so every query reaches the forwarded servers;
        room for many forwarded queries in flight (default 150)."""
        user = ["--user=nobody", "--group=nogroup"] if IS_ROOT else []
        return ["dnsmasq", "-k", "--no-resolv", "--no-hosts", "--no-poll",
                "--cache-size=0", "--dns-forward-max=1000",
                f"--port={self.port}", "--listen-address=127.0.0.1",
                "--bind-interfaces", f"--pid-file={self.dir}/dnsmasq.pid",
                f"--log-facility={self.logpath}", f"--conf-file={self.conf}"] + user


def config_line(name, rtype, value):
    """One dnsmasq.conf line for a record."""
    rtype = rtype.upper()
    plain = [name] + ([] if rtype == "TXT" else value.split())
    if any(c in x for x in plain for c in ',"#') or "\n" in name + value or not name:
        raise ValueError(f"cannot give dnsmasq {name!r} {rtype} {value!r}")
    if rtype in ("A", "AAAA"):
        ipaddress.ip_address(value)
        return f"host-record={name},{value}"
    if rtype == "PTR":
        return f"ptr-record={name},{value}"
    if rtype == "MX":
        pref, host = value.split()
        return f"mx-host={name},{host},{int(pref)}"
    if rtype == "TXT":
        quoted = value.replace("\\", "\\\\").replace('"', '\\"')
        return f'txt-record={name},"{quoted}"'
    if rtype == "CNAME":
        return f"cname={name},{value}"
    raise ValueError(f"dnsmasq records here are A AAAA PTR MX TXT CNAME, not {rtype}")


def unprivileged_user(preferred):
    """preferred if it exists (Debian's packages create theirs), else nobody."""
    try:
        pwd.getpwnam(preferred)
        return preferred
    except KeyError:
        return "nobody"
