#!/usr/bin/env python3
"""A small authoritative DNS responder on loopback, for tests.

Real DNS servers answer correctly; moat must also survive servers that
don't.  DNSServer answers from records the test adds, and per name it can
misbehave on purpose (see MODES).  It serves UDP and TCP on one port of
127.0.0.1 from one thread: every reply is scheduled on a timer heap
`delay` seconds after its query came, so a slow server still answers
hundreds of queries in flight at once, not one after another.

    with DNSServer(delay=0.1) as srv:
        srv.add("*.bl.test", "A", "127.0.0.2")
        srv.behave("down.bl.test", "servfail")
        query(srv.port, "2.0.0.127.bl.test", "A")   # (0, ["127.0.0.2"])

Names are case-insensitive and written without a trailing dot.  How a
name is answered, first rule that holds:
  1. it has records of its own: those (or NODATA for another type);
  2. it is a loopback PTR or forward name under synth_loopback();
  3. it has names below it (an empty non-terminal): NODATA;
  4. a wildcard "*.SUFFIX" exists for the nearest such suffix: its
     records, under the asked name.  Simpler than RFC 4592: names below
     a wildcard's parent do not block it;
  5. otherwise NXDOMAIN.
CNAMEs are followed inside the data (a chain of more than 8 is
SERVFAIL).  A negative answer
carries the nearest enclosing SOA record in authority, when one was
added.  Replies have QR and AA set, RD copied, RA clear; a query with
an EDNS0 OPT record gets a minimal OPT back; a UDP reply larger than
the client can take is sent with TC set and no records.  Queries that
cannot be parsed are dropped; no exception stops the serving thread
(they are kept in .errors for tests to look at).

Standalone, in the foreground until SIGTERM or SIGINT:

    dnsserver.py --port P [--delay S] [--records FILE]
                 [--synth-loopback DOMAIN] [--pidfile F]

FILE has lines "NAME TYPE VALUE [TTL]", "#" starts a comment, values
with spaces in quotes (an MX value is two words: 10 mx.example).
"""
import argparse
import heapq
import ipaddress
import os
import random
import re
import selectors
import shlex
import signal
import socket
import struct
import threading
import time

TYPES = {"A": 1, "NS": 2, "CNAME": 5, "SOA": 6, "PTR": 12, "MX": 15,
         "TXT": 16, "AAAA": 28, "OPT": 41, "ANY": 255}
TYPE_NAMES = {v: k for k, v in TYPES.items()}

QR, AA, TC, RD = 0x8000, 0x0400, 0x0200, 0x0100
NOERROR, SERVFAIL, NXDOMAIN, REFUSED = 0, 2, 3, 5
CLASS_IN = 1
UDP_MIN = 512
EDNS_SIZE = 1232
MAX_CNAME = 8

# What behave() can make a name do.  "truncated": TC and no records over
# UDP, the right answer over TCP.  "truncated-tcp-garbage": the same over
# UDP, and over TCP a well-framed message cut to half its length.
# "short": the first 7 bytes of the right answer.  "loop": one answer
# whose owner is a compression pointer to itself.  "longlabel": one
# answer whose owner has a 64-byte label.  "badname": one PTR answer
# whose target holds BAD_LABELS.  "wrongid": the right answer with
# another query id.  "mismatch": the right answer with "wrong." put in
# front of the name in the question section.
MODES = frozenset({"silent", "servfail", "refused", "truncated",
                   "truncated-tcp-garbage", "garbage", "short", "loop",
                   "longlabel", "badname", "wrongid", "mismatch"})

# Valid wire-format labels that no hostname may hold: controls, NUL,
# spaces, shell metacharacters, newline and CR.
BAD_LABELS = (b"evil host;rm -rf /|&$(id)<x>'q\"`\\",
              b"line\nbreak\rcr\tt\x00\x01\x7fz",
              b"example")

SYNTH_PTR_RE = re.compile(r"^(\d+)\.(\d+)\.(\d+)\.127\.in-addr\.arpa$", re.ASCII)
SYNTH_A_RE = re.compile(r"^h-127-(\d+)-(\d+)-(\d+)\.(.+)$", re.ASCII)


# ---- wire format (RFC 1035) ----

def norm(name):
    """The key of a name: lower case, no trailing dot, "" for the root."""
    return name.rstrip(".").lower() if name != "." else ""


def encode_name(name):
    """A name in wire format, uncompressed.  Labels are Latin-1 so any
    byte can be written as a character."""
    out = b""
    for label in name.rstrip(".").split(".") if name.strip(".") else []:
        raw = label.encode("latin-1")
        if not 0 < len(raw) < 64:
            raise ValueError(f"bad label in {name!r}")
        out += bytes([len(raw)]) + raw
    if len(out) + 1 > 255:
        raise ValueError(f"name too long: {name!r}")
    return out + b"\0"


def decode_name(msg, off):
    """(name, offset past it) of the name at off, following compression
    pointers.  Raises ValueError on loops, bad label types, overruns."""
    labels, end, hops, total = [], None, 0, 0
    while True:
        if off >= len(msg):
            raise ValueError("name runs past the message")
        n = msg[off]
        if n & 0xC0 == 0xC0:
            if off + 1 >= len(msg) or hops >= 32:
                raise ValueError("bad or looping compression pointer")
            end = off + 2 if end is None else end
            off = ((n & 0x3F) << 8) | msg[off + 1]
            hops += 1
            continue
        if n & 0xC0:
            raise ValueError("label of 64 bytes or more")
        if n == 0:
            return ".".join(labels), (off + 1 if end is None else end)
        total += n + 1
        if off + 1 + n > len(msg) or total > 254:
            raise ValueError("label runs past the message or name too long")
        labels.append(msg[off + 1:off + 1 + n].decode("latin-1"))
        off += 1 + n


def encode_rdata(rtype, value):
    """The RDATA of one record from its text form."""
    if rtype == TYPES["A"]:
        return ipaddress.IPv4Address(value).packed
    if rtype == TYPES["AAAA"]:
        return ipaddress.IPv6Address(value).packed
    if rtype in (TYPES["PTR"], TYPES["CNAME"], TYPES["NS"]):
        return encode_name(value)
    if rtype == TYPES["MX"]:
        pref, host = value.split()
        return struct.pack("!H", int(pref)) + encode_name(host)
    if rtype == TYPES["TXT"]:
        raw = value.encode()
        return b"".join(bytes([len(raw[i:i + 255])]) + raw[i:i + 255]
                        for i in range(0, max(len(raw), 1), 255))
    if rtype == TYPES["SOA"]:
        mname, rname, *nums = value.split()
        return (encode_name(mname) + encode_name(rname)
                + struct.pack("!5I", *map(int, nums)))
    raise ValueError(f"unsupported type {rtype}")


def decode_rdata(msg, rtype, off, length):
    """The text form of the RDATA at off: names without trailing dot
    (the root as "."), MX as "PREF HOST", TXT strings joined, other
    types as hex."""
    def name_at(o):
        return decode_name(msg, o)[0] or "."
    rdata = msg[off:off + length]
    if rtype == TYPES["A"] and length == 4:
        return str(ipaddress.IPv4Address(rdata))
    if rtype == TYPES["AAAA"] and length == 16:
        return str(ipaddress.IPv6Address(rdata))
    if rtype in (TYPES["PTR"], TYPES["CNAME"], TYPES["NS"]):
        return name_at(off)
    if rtype == TYPES["MX"]:
        return f"{struct.unpack_from('!H', msg, off)[0]} {name_at(off + 2)}"
    if rtype == TYPES["TXT"]:
        parts, i = [], 0
        while i < length:
            parts.append(rdata[i + 1:i + 1 + rdata[i]])
            i += 1 + rdata[i]
        return b"".join(parts).decode("utf-8", "replace")
    if rtype == TYPES["SOA"]:
        mname, o = decode_name(msg, off)
        rname, o = decode_name(msg, o)
        nums = struct.unpack_from("!5I", msg, o)
        return " ".join([mname, rname] + [str(n) for n in nums])
    return rdata.hex()


def pack_rr(owner, rtype, ttl, rdata):
    return encode_name(owner) + struct.pack("!HHIH", rtype, CLASS_IN, ttl,
                                            len(rdata)) + rdata


def message(qid, flags, question, answer=(), authority=(), additional=()):
    """A whole message from its packed parts: question is the packed
    question (b"" for none), each section a list of packed records."""
    head = struct.pack("!6H", qid, flags, 1 if question else 0, len(answer),
                       len(authority), len(additional))
    return (head + question + b"".join(answer) + b"".join(authority)
            + b"".join(additional))


def build_query(name, rtype, qid=None, rd=True, edns=False):
    """A query for name/rtype (type name or number)."""
    qid = random.randrange(65536) if qid is None else qid
    rtype = TYPES[rtype.upper()] if isinstance(rtype, str) else rtype
    opt = [b"\0" + struct.pack("!HHIH", TYPES["OPT"], EDNS_SIZE, 0, 0)] if edns else []
    return message(qid, RD if rd else 0,
                   encode_name(name) + struct.pack("!HH", rtype, CLASS_IN),
                   additional=opt)


class Message:
    """A parsed message: id, flags, rcode, question [(name, type)], and
    answer/authority/additional lists of (name, type, ttl, text); names
    in lower case, the text of an OPT record its UDP payload size.
    Raises ValueError on anything malformed."""

    def __init__(self, data):
        if len(data) < 12:
            raise ValueError("message shorter than its header")
        self.id, self.flags, qd, an, ns, ar = struct.unpack_from("!6H", data)
        self.rcode = self.flags & 0xF
        self.question, off = [], 12
        for _ in range(qd):
            name, off = decode_name(data, off)
            if off + 4 > len(data):
                raise ValueError("question runs past the message")
            self.question.append((name.lower(), struct.unpack_from("!H", data, off)[0]))
            off += 4
        self.answer, off = read_section(data, off, an)
        self.authority, off = read_section(data, off, ns)
        self.additional, off = read_section(data, off, ar)


def read_section(data, off, count):
    """count records from off: ([(name, type, ttl, text)], offset past)."""
    rrs = []
    for _ in range(count):
        name, off = decode_name(data, off)
        if off + 10 > len(data):
            raise ValueError("record runs past the message")
        rtype, _, ttl, length = struct.unpack_from("!HHIH", data, off)
        off += 10
        if off + length > len(data):
            raise ValueError("rdata runs past the message")
        if rtype == TYPES["OPT"]:      # its class is the UDP payload size
            text = str(struct.unpack_from("!H", data, off - 8)[0])
        else:
            try:
                text = decode_rdata(data[:off + length], rtype, off, length)
            except (struct.error, IndexError) as e:
                raise ValueError(f"bad rdata: {e}") from e
        rrs.append((name.lower(), rtype, ttl, text))
        off += length
    return rrs, off


class Query:
    """A query we answer: one question, opcode QUERY, sane sections."""

    def __init__(self, data):
        if len(data) < 12:
            raise ValueError("short query")
        self.id, self.flags, qd, an, ns, ar = struct.unpack_from("!6H", data)
        if self.flags & QR or self.flags & 0x7800 or qd != 1:
            raise ValueError("not a standard query with one question")
        self.name, off = decode_name(data, 12)
        if off + 4 > len(data):
            raise ValueError("short question")
        self.type = struct.unpack_from("!H", data, off)[0]
        self.question = data[12:off + 4]
        rrs, _ = read_section(data, off + 4, an + ns + ar)
        opt = [rr for rr in rrs if rr[1] == TYPES["OPT"]]
        self.edns = bool(opt)
        self.limit = max(int(opt[0][3]), UDP_MIN) if opt else UDP_MIN


# ---- client helpers ----

def read_frame(sock, deadline):
    """One length-prefixed message from a TCP socket, by deadline."""
    def exact(n):
        buf = b""
        while len(buf) < n:
            sock.settimeout(max(deadline - time.monotonic(), 0.001))
            chunk = sock.recv(n - len(buf))
            if not chunk:
                raise ConnectionError("connection closed mid-message")
            buf += chunk
        return buf
    return exact(struct.unpack("!H", exact(2))[0])


def exchange(port, packet, tcp=False, timeout=2.0):
    """Send one raw packet to 127.0.0.1:port, return the raw reply.
    Raises socket.timeout when none comes in time."""
    deadline = time.monotonic() + timeout
    if tcp:
        with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
            s.sendall(struct.pack("!H", len(packet)) + packet)
            return read_frame(s, deadline)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.settimeout(timeout)
        s.connect(("127.0.0.1", port))
        s.send(packet)
        return s.recv(65535)


def query(port, name, rtype, tcp=False, timeout=2.0):
    """Ask 127.0.0.1:port one question like a stub resolver (a UDP reply
    with TC set is asked again over TCP).  Returns (rcode, [rdata of
    each answer record as text, in order]).  Raises socket.timeout when
    no reply comes, ValueError when the reply is malformed or does not
    match the query's id and question."""
    qid = random.randrange(65536)
    rtype = TYPES[rtype.upper()] if isinstance(rtype, str) else rtype
    msg = Message(exchange(port, build_query(name, rtype, qid), tcp, timeout))
    if msg.id != qid or msg.question != [(norm(name), rtype)]:
        raise ValueError(f"reply does not match the query: {msg.id} {msg.question}")
    if msg.flags & TC and not tcp:
        return query(port, name, rtype, True, timeout)
    return msg.rcode, [rr[3] for rr in msg.answer]


# ---- data ----

class Zone:
    """Every record and behaviour the server knows, under one lock (tests
    add records while the server runs)."""

    def __init__(self):
        self.lock = threading.Lock()
        self.records = {}      # name -> {type: [(ttl, rdata, CNAME target)]}
        self.nodes = set()     # each owner name and all its ancestors
        self.modes = {}        # name (maybe "*.x") -> mode
        self.synth = None      # (domain, ttl) of synth_loopback()

    def add(self, name, rtype, value, ttl=300):
        rtype = TYPES[rtype.upper()]
        rdata = encode_rdata(rtype, value)
        target = norm(value) if rtype == TYPES["CNAME"] else None
        key = norm(name)
        encode_name(key)
        with self.lock:
            self.records.setdefault(key, {}).setdefault(rtype, []).append(
                (ttl, rdata, target))
            labels = key.split(".")
            self.nodes.update(".".join(labels[i:]) for i in range(len(labels) + 1))

    def mode(self, name):
        with self.lock:
            if name in self.modes:
                return self.modes[name]
            return wildcard(self.modes, name)

    def resolve(self, name, rtype):
        """(rcode, answer records, authority records) for name/rtype, the
        records as (owner, type, ttl, rdata)."""
        with self.lock:
            answers = []
            for _ in range(MAX_CNAME):
                sets = self._rrsets(name)
                if sets is None:
                    return NXDOMAIN, answers, self._soa(name)
                if rtype == TYPES["ANY"]:
                    wanted = list(sets)
                elif rtype in sets:
                    wanted = [rtype]
                elif TYPES["CNAME"] in sets:
                    ttl, rdata, target = sets[TYPES["CNAME"]][0]
                    answers.append((name, TYPES["CNAME"], ttl, rdata))
                    name = target
                    continue
                else:
                    return NOERROR, answers, self._soa(name)
                answers += [(name, t, ttl, rdata) for t in wanted
                            for ttl, rdata, _ in sets[t]]
                return NOERROR, answers, []
            return SERVFAIL, [], []

    def _rrsets(self, name):
        """The record sets that answer for name (rules 1 to 4 above), or
        None when the name does not exist."""
        if name in self.records:
            return self.records[name]
        synth = self._synthesise(name)
        if synth:
            return synth
        if name in self.nodes:
            return {}
        return wildcard(self.records, name)

    def _synthesise(self, name):
        """Loopback PTR a.b.c.127.in-addr.arpa -> h-127-c-b-a.DOMAIN, and
        that name's A record back, when synth_loopback() is on."""
        if self.synth is None:
            return None
        domain, ttl = self.synth
        m = SYNTH_PTR_RE.match(name)
        if m and octets(m.groups()):
            host = "h-127-" + "-".join(reversed(m.groups())) + "." + domain
            return {TYPES["PTR"]: [(ttl, encode_name(host), None)]}
        m = SYNTH_A_RE.match(name)
        if m and m.group(4) == domain and octets(m.groups()[:3]):
            return {TYPES["A"]: [(ttl, bytes([127, *map(int, m.groups()[:3])]), None)]}
        return None

    def _soa(self, name):
        """The nearest enclosing SOA record, for a negative answer."""
        labels = name.split(".")
        for i in range(len(labels) + 1):
            owner = ".".join(labels[i:])
            soa = self.records.get(owner, {}).get(TYPES["SOA"])
            if soa:
                return [(owner, TYPES["SOA"], soa[0][0], soa[0][1])]
        return []


def octets(texts):
    """True when each text is a decimal octet written as in an address."""
    return all(str(int(t)) == t and int(t) < 256 for t in texts)


def wildcard(table, name):
    """table's entry for the nearest "*.SUFFIX" above name, or None."""
    labels = name.split(".")
    for i in range(1, len(labels) + 1):
        suffix = ".".join(labels[i:])
        key = "*." + suffix if suffix else "*"
        if key in table:
            return table[key]
    return None


# ---- server ----

class _Conn:
    """One TCP client: bytes not yet parsed, bytes not yet sent, replies
    still on the timer heap, and whether the client has stopped sending."""

    def __init__(self, sock):
        self.sock, self.inbuf, self.outbuf = sock, b"", b""
        self.pending, self.eof, self.closed = 0, False, False
        self.events = selectors.EVENT_READ


class DNSServer:
    """The responder: add() records, behave() per name, start(), .port,
    stop().  See the module docstring for how names are answered."""

    def __init__(self, port=0, delay=0.0):
        self.port = port
        self.delay = delay
        self.zone = Zone()
        self.errors = []
        self._log = []
        self._log_lock = threading.Lock()
        self._timers = []
        self._seq = 0
        self._conns = {}
        self._rand = random.Random()
        self._thread = None
        self._stopping = False

    # ---- data ----
    def add(self, name, rtype, value, ttl=300):
        """One record; a leftmost "*" label makes a wildcard.  MX values
        are "PREF HOST" ("0 ." is a null MX); SOA values are
        "MNAME RNAME SERIAL REFRESH RETRY EXPIRE MINIMUM"."""
        self.zone.add(name, rtype, value, ttl)

    def behave(self, name, mode):
        """Make name (exact or "*.suffix") misbehave; mode None clears."""
        if mode is not None and mode not in MODES:
            raise ValueError(f"unknown mode {mode!r}")
        with self.zone.lock:
            if mode is None:
                self.zone.modes.pop(norm(name), None)
            else:
                self.zone.modes[norm(name)] = mode

    def synth_loopback(self, domain="bench.example", ttl=300):
        """Every 127.x.y.z gets forward-confirmed reverse DNS: PTR
        z.y.x.127.in-addr.arpa -> h-127-x-y-z.DOMAIN, and A of that name
        -> 127.x.y.z, unless the name has records of its own."""
        with self.zone.lock:
            self.zone.synth = (norm(domain), ttl)

    # ---- query log ----
    @property
    def queries(self):
        """(name, type name, "udp" or "tcp") of every query answered or
        not, oldest first; a copy."""
        with self._log_lock:
            return list(self._log)

    def count(self, name=None, rtype=None):
        return sum(1 for n, t, _ in self.queries
                   if (name is None or n == norm(name))
                   and (rtype is None or t == rtype.upper()))

    def clear_log(self):
        with self._log_lock:
            self._log.clear()

    # ---- life ----
    def start(self):
        self._udp, self._tcp = self._bind()
        self.port = self._udp.getsockname()[1]
        self._wake_r, self._wake_w = socket.socketpair()
        self._sel = selectors.DefaultSelector()
        self._sel.register(self._udp, selectors.EVENT_READ, self._on_udp)
        self._sel.register(self._tcp, selectors.EVENT_READ, self._on_accept)
        self._sel.register(self._wake_r, selectors.EVENT_READ, None)
        self._stopping = False
        self._thread = threading.Thread(target=self._serve, daemon=True,
                                        name=f"dnsserver:{self.port}")
        self._thread.start()
        return self

    def stop(self):
        if self._thread is None:
            return
        self._stopping = True
        self._wake_w.send(b"x")
        self._thread.join(5)
        if self._thread.is_alive():
            raise RuntimeError("dnsserver thread did not stop")
        self._thread = None
        for key in list(self._sel.get_map().values()):
            key.fileobj.close()
        self._sel.close()
        self._wake_w.close()
        self._timers.clear()
        self._conns.clear()

    def __enter__(self):
        return self if self._thread else self.start()

    def __exit__(self, *exc):
        self.stop()

    def _bind(self):
        """A UDP and a TCP socket on the same port of 127.0.0.1; with port
        0, a few tries until a port free for both is found."""
        for _ in range(20):
            udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            tcp = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            try:
                udp.bind(("127.0.0.1", self.port))
                tcp.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                tcp.bind(("127.0.0.1", udp.getsockname()[1]))
            except OSError:
                udp.close()
                tcp.close()
                if self.port:
                    raise
                continue
            tcp.listen(1024)
            for s in (udp, tcp):
                s.setblocking(False)
            big_receive_buffer(udp)
            return udp, tcp
        raise OSError("no port free for both UDP and TCP")

    # ---- serving thread ----
    def _serve(self):
        while not self._stopping:
            timeout = 0.5
            if self._timers:
                timeout = min(max(self._timers[0][0] - time.monotonic(), 0), 0.5)
            for key, events in self._sel.select(timeout):
                if key.data is not None:
                    self._guard(key.data, key.fileobj, events)
            self._run_due()

    def _guard(self, fn, *args):
        """Run fn; an exception is noted, never fatal."""
        try:
            fn(*args)
        except Exception as e:   # the serving thread must survive anything
            self._note(f"{fn.__name__}: {e!r}")

    def _note(self, text):
        if len(self.errors) < 100:
            self.errors.append(text)

    def _later(self, fn, *args):
        """Run fn after the current delay, from the timer heap."""
        self._seq += 1
        heapq.heappush(self._timers, (time.monotonic() + self.delay, self._seq, fn, args))

    def _run_due(self):
        now = time.monotonic()
        while self._timers and self._timers[0][0] <= now:
            _, _, fn, args = heapq.heappop(self._timers)
            self._guard(fn, *args)

    def _on_udp(self, sock, _events):
        for _ in range(256):     # drain a burst, bounded, then look around
            try:
                data, addr = sock.recvfrom(65535)
            except BlockingIOError:
                return
            reply = self._guarded_reply(data, "udp")
            if reply is not None:
                self._later(self._send_udp, reply, addr)

    def _send_udp(self, reply, addr):
        self._udp.sendto(reply, addr)

    def _on_accept(self, sock, _events):
        for _ in range(64):
            try:
                s, _ = sock.accept()
            except BlockingIOError:
                return
            s.setblocking(False)
            self._sel.register(s, selectors.EVENT_READ, self._on_tcp)
            self._conns[s] = _Conn(s)

    def _on_tcp(self, sock, events):
        conn = self._conns[sock]
        if events & selectors.EVENT_WRITE:
            self._flush(conn)
        if not events & selectors.EVENT_READ or conn.closed:
            return
        try:
            data = sock.recv(65536)
        except OSError:
            data = b""
        if not data:
            conn.eof = True
            self._update(conn)
            return
        conn.inbuf += data
        while len(conn.inbuf) >= 2:
            n = struct.unpack_from("!H", conn.inbuf)[0]
            if len(conn.inbuf) < 2 + n:
                break
            packet, conn.inbuf = conn.inbuf[2:2 + n], conn.inbuf[2 + n:]
            reply = self._guarded_reply(packet, "tcp")
            if reply is not None:
                conn.pending += 1
                self._later(self._send_tcp, conn, reply)

    def _send_tcp(self, conn, reply):
        conn.pending -= 1
        if not conn.closed:
            conn.outbuf += struct.pack("!H", len(reply)) + reply
            self._flush(conn)

    def _flush(self, conn):
        try:
            sent = conn.sock.send(conn.outbuf) if conn.outbuf else 0
        except BlockingIOError:
            sent = 0
        except OSError:
            self._close(conn)
            return
        conn.outbuf = conn.outbuf[sent:]
        self._update(conn)

    def _update(self, conn):
        """Watch for what conn still needs; close it when the client has
        stopped sending and everything owed to it is sent."""
        if conn.closed:
            return
        if conn.eof and not conn.outbuf and not conn.pending:
            self._close(conn)
            return
        events = (0 if conn.eof else selectors.EVENT_READ) | (
            selectors.EVENT_WRITE if conn.outbuf else 0)
        if events == conn.events:
            return
        if not conn.events:
            self._sel.register(conn.sock, events, self._on_tcp)
        elif not events:
            self._sel.unregister(conn.sock)
        else:
            self._sel.modify(conn.sock, events, self._on_tcp)
        conn.events = events

    def _close(self, conn):
        conn.closed = True
        self._conns.pop(conn.sock, None)
        if conn.events:
            self._sel.unregister(conn.sock)
        conn.sock.close()

    # ---- answers ----
    def _guarded_reply(self, data, transport):
        try:
            q = Query(data)
        except ValueError:
            return None          # a malformed query is dropped
        with self._log_lock:
            self._log.append((norm(q.name), TYPE_NAMES.get(q.type, f"TYPE{q.type}"),
                              transport))
        try:
            return self._reply(q, transport)
        except Exception as e:   # a bug here must not cost the server
            self._note(f"reply to {q.name}: {e!r}")
            return None

    def _reply(self, q, transport):
        mode = self.zone.mode(norm(q.name))
        if mode == "silent":
            return None
        if mode == "garbage":
            return self._rand.randbytes(self._rand.randint(1, 512))
        if mode in ("servfail", "refused"):
            return self._header_only(q, SERVFAIL if mode == "servfail" else REFUSED)
        if mode in ("truncated", "truncated-tcp-garbage") and transport == "udp":
            return self._header_only(q, NOERROR, TC)
        if mode in ("loop", "longlabel", "badname"):
            return self._bad_record(q, mode)
        right = self._answer(q, transport)
        if mode == "truncated-tcp-garbage":
            return right[:len(right) // 2]
        if mode == "short":
            return right[:7]
        if mode == "wrongid":
            return struct.pack("!H", (q.id + 1) & 0xFFFF) + right[2:]
        if mode == "mismatch":
            other = encode_name("wrong." + q.name) + q.question[-4:]
            return right[:12] + other + right[12 + len(q.question):]
        return right

    def _flags(self, q, rcode, extra=0):
        return QR | AA | (q.flags & RD) | extra | rcode

    def _opt(self, q):
        return [b"\0" + struct.pack("!HHIH", TYPES["OPT"], EDNS_SIZE, 0, 0)] if q.edns else []

    def _header_only(self, q, rcode, extra=0):
        return message(q.id, self._flags(q, rcode, extra), q.question,
                       additional=self._opt(q))

    def _answer(self, q, transport):
        rcode, answers, authority = self.zone.resolve(norm(q.name), q.type)
        reply = message(q.id, self._flags(q, rcode), q.question,
                        [pack_rr(*rr) for rr in answers],
                        [pack_rr(*rr) for rr in authority], self._opt(q))
        if transport == "udp" and len(reply) > q.limit:
            return self._header_only(q, rcode, TC)
        return reply

    def _bad_record(self, q, mode):
        """One answer record that no parser may accept as it stands."""
        a = struct.pack("!HHIH", TYPES["A"], CLASS_IN, 300, 4) + bytes([127, 0, 0, 2])
        if mode == "loop":
            at = 12 + len(q.question)
            rr = struct.pack("!H", 0xC000 | at) + a
        elif mode == "longlabel":
            rr = b"\x40" + b"a" * 64 + encode_name("test") + a
        else:
            target = b"".join(bytes([len(x)]) + x for x in BAD_LABELS) + b"\0"
            rr = (encode_name(q.name) + struct.pack("!HHIH", TYPES["PTR"], CLASS_IN,
                                                    300, len(target)) + target)
        return message(q.id, self._flags(q, NOERROR), q.question, [rr])


def big_receive_buffer(sock):
    """Room for hundreds of queries arriving at once: past the system
    limit when root may, within it otherwise."""
    force = getattr(socket, "SO_RCVBUFFORCE", 33)
    try:
        sock.setsockopt(socket.SOL_SOCKET, force, 4 << 20)
    except OSError:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)


# ---- standalone ----

def load_records(srv, path):
    """Add the records of a file of "NAME TYPE VALUE [TTL]" lines."""
    with open(path) as f:
        for lineno, line in enumerate(f, 1):
            words = shlex.split(line, comments=True)
            if not words:
                continue
            if len(words) < 3:
                raise ValueError(f"{path}:{lineno}: want NAME TYPE VALUE [TTL]")
            name, rtype, rest = words[0], words[1].upper(), words[2:]
            need = {"MX": 2, "SOA": 7}.get(rtype, 1)
            ttl = int(rest.pop()) if len(rest) == need + 1 else 300
            if len(rest) != need:
                raise ValueError(f"{path}:{lineno}: {rtype} wants {need} value words")
            srv.add(name, rtype, " ".join(rest), ttl)


def main(argv=None):
    ap = argparse.ArgumentParser(description="A test DNS responder on 127.0.0.1.")
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--delay", type=float, default=0.0)
    ap.add_argument("--records")
    ap.add_argument("--synth-loopback", metavar="DOMAIN")
    ap.add_argument("--pidfile")
    args = ap.parse_args(argv)
    srv = DNSServer(args.port, args.delay)
    if args.records:
        load_records(srv, args.records)
    if args.synth_loopback:
        srv.synth_loopback(args.synth_loopback)
    stop_signals = {signal.SIGTERM, signal.SIGINT}
    signal.pthread_sigmask(signal.SIG_BLOCK, stop_signals)   # before any thread
    srv.start()
    if args.pidfile:
        with open(args.pidfile, "w") as f:
            f.write(f"{os.getpid()}\n")
    print(f"dnsserver listening on 127.0.0.1:{srv.port}", flush=True)
    signal.sigwait(stop_signals)
    srv.stop()
    if args.pidfile:
        os.unlink(args.pidfile)


if __name__ == "__main__":
    main()
