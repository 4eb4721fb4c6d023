"""moatctl and moatd -n against real files: compiling each kind of map,
refusing a bad map while keeping the installed cdb, what a query prints
and its exit codes, the config check, and reload/stop of a running
daemon.  (The recipients shrink guard is in test_processes.)"""
import os
import re
import signal
import subprocess
import time

from harness import MOATCTL, MOATD, SAN_ENV, Moat

TIMEOUT = 20


def env():
    e = dict(os.environ)
    e.update(SAN_ENV)
    return e


def ctl(srv, *args):
    return subprocess.run([MOATCTL, "-f", srv.conf_path] + list(args),
                          capture_output=True, text=True, env=env(),
                          timeout=TIMEOUT)


def check_conf(path):
    return subprocess.run([MOATD, "-n", "-f", path], capture_output=True,
                          text=True, env=env(), timeout=TIMEOUT)


def write(srv, name, text):
    path = os.path.join(srv.etc, name)
    with open(path, "w") as f:
        f.write(text)
    return path


def query(srv, name, key):
    p = ctl(srv, "query", name, key)
    return p.returncode, p.stdout.strip(), p.stderr.strip()


def no_sanitizer(p):
    bad = [l for l in (p.stdout + p.stderr).splitlines()
           if "Sanitizer" in l or "runtime error:" in l]
    assert not bad, bad


def conf_line(srv, key):
    """The 1-based line of KEY in the harness's moat.conf."""
    with open(srv.conf_path) as f:
        for n, line in enumerate(f, 1):
            if line.split("=")[0].strip() == key:
                return n
    raise AssertionError(f"{key} not in {srv.conf_path}")


class Files:
    """A config folder with the default maps compiled, no daemon."""

    def __enter__(self):
        self.srv = Moat(start=False)
        return self.srv

    def __exit__(self, *exc):
        self.srv.close()


# ---- makemap ----

MAPS = {
    "domains": ("# our domains\n\nexample.test\nExample.ORG\nsub.example.test OK\n", 3,
                [("example.org", 0, "example.org -> \"\""),
                 ("SUB.example.test", 0, "SUB.example.test -> OK (matched sub.example.test)"),
                 ("other.example.test", 1, "other.example.test: not found")]),
    "recipients": ("alice@example.test maildir:alice/\n"
                   "Bob@Example.Test   maildir:/srv/mail/bob/\n"
                   "postmaster maildir:postmaster/\n"
                   "@example.org maildir:catchall/\n", 4,
                   [("bob@example.test", 0, "bob@example.test -> maildir:/srv/mail/bob/"),
                    ("anyone@Example.Org", 0,
                     "anyone@Example.Org -> maildir:catchall/ (matched @example.org)"),
                    ("carol@example.test", 1, "carol@example.test: not found")]),
    "access": ("10.0.0.0/8 REJECT no ten\n10.1.0.0/16 OK\n192.0.2.25 OK\n"
               "2001:DB8::/32 REJECT v6 net\n", 4,
               [("10.2.3.4", 0, "10.2.3.4 -> REJECT no ten (matched 10.0.0.0/8)"),
                ("10.1.3.4", 0, "10.1.3.4 -> OK (matched 10.1.0.0/16)"),
                ("192.0.2.25", 0, "192.0.2.25 -> OK"),
                ("2001:db8:1::5", 0, "2001:db8:1::5 -> REJECT v6 net (matched 2001:db8::/32)"),
                ("192.0.2.26", 1, "192.0.2.26: not found")]),
    "helo": ("bad.example REJECT not you\n.dyn.example REJECT dynamic\n"
             "ok.dyn.example OK\n", 3,
             [("bad.example", 0, "bad.example -> REJECT not you"),
              ("a.b.DYN.example", 0, "a.b.DYN.example -> REJECT dynamic (matched .dyn.example)"),
              ("ok.dyn.example", 0, "ok.dyn.example -> OK"),
              ("dyn.example", 1, "dyn.example: not found")]),
    "senders": ("spammer@remote.example REJECT go away\n@junk.example REJECT junk\n"
                "worse.example REJECT worse\n.worst.example REJECT see ticket #42\n", 4,
                [("SPAMMER@remote.example", 0,
                  "SPAMMER@remote.example -> REJECT go away (matched spammer@remote.example)"),
                 ("x@junk.example", 0, "x@junk.example -> REJECT junk (matched @junk.example)"),
                 ("x@worse.example", 0, "x@worse.example -> REJECT worse (matched worse.example)"),
                 ("x@a.worst.example", 0,
                  "x@a.worst.example -> REJECT see ticket #42 (matched .worst.example)"),
                 ("x@remote.example", 1, "x@remote.example: not found")]),
}


def test_makemap_each_kind_by_name_and_path():
    with Files() as srv:
        for name, (text, records, queries) in MAPS.items():
            path = write(srv, name, text)
            # by name, then by path: the same map either way
            for arg in (name, path):
                p = ctl(srv, "makemap", "-f", arg)
                no_sanitizer(p)
                assert p.returncode == 0, (name, arg, p.stderr)
                want = f"{path}.cdb: {records} record{'s' if records != 1 else ''}"
                assert p.stdout.strip() == want, (p.stdout, want)
            for key, code, out in queries:
                got = query(srv, name, key)
                assert got[0] == code and got[1] == out, (name, key, got)
        # a bad map kind would have been caught above; now all at once
        p = ctl(srv, "makemap", "-a")
        assert p.returncode == 0, p.stderr
        assert len(p.stdout.strip().splitlines()) == len(MAPS), p.stdout
        # nothing half-written is left next to the maps
        left = [f for f in os.listdir(srv.etc) if f.endswith(".tmp")]
        assert not left, left


def test_makemap_duplicate_key_keeps_old_cdb():
    with Files() as srv:
        write(srv, "helo", "one.example REJECT first\n")
        assert ctl(srv, "makemap", "helo").returncode == 0
        cdb = os.path.join(srv.etc, "helo.cdb")
        with open(cdb, "rb") as f:
            before = f.read()
        ino = os.stat(cdb).st_ino
        # the same key twice, differing only in case (keys are folded)
        path = write(srv, "helo", "two.example REJECT x\n# comment\n\n"
                                  "three.example OK\nTWO.Example REJECT y\n")
        p = ctl(srv, "makemap", "helo")
        no_sanitizer(p)
        assert p.returncode != 0, p
        assert f"{path}:5:" in p.stderr and "duplicate key" in p.stderr, p.stderr
        assert "line 1" in p.stderr, p.stderr
        assert p.stdout == "", p.stdout
        with open(cdb, "rb") as f:
            assert f.read() == before
        assert os.stat(cdb).st_ino == ino
        assert query(srv, "helo", "one.example")[0] == 0
        assert query(srv, "helo", "three.example")[0] == 1
        assert not [f for f in os.listdir(srv.etc) if f.endswith(".tmp")]


def test_makemap_access_host_bits_refused():
    with Files() as srv:
        write(srv, "access", "127.0.0.0/8 REJECT x\n")
        assert ctl(srv, "makemap", "access").returncode == 0
        for bad, line in (("10.0.0.0/8 OK\n127.0.0.1/8 REJECT x\n", 2),
                          ("2001:db8::1/32 REJECT v6\n", 1),
                          ("10.0.0.0/33 OK\n", 1),
                          ("not-an-address REJECT\n", 1)):
            path = write(srv, "access", bad)
            p = ctl(srv, "makemap", "access")
            no_sanitizer(p)
            assert p.returncode != 0, (bad, p)
            assert f"{path}:{line}:" in p.stderr, (bad, p.stderr)
            # the installed map still answers
            got = query(srv, "access", "127.0.0.5")
            assert got[:2] == (0, "127.0.0.5 -> REJECT x (matched 127.0.0.0/8)"), got


def test_makemap_bad_values_name_the_line():
    with Files() as srv:
        cases = [
            ("helo", "a.example REJECT\nb.example MAYBE\n", 2),
            ("senders", "x@remote.example OKAY\n", 1),
            ("access", "192.0.2.1 DISCARD\n", 1),
            ("recipients", "alice@example.test maildir:alice/\n"
                           "bob@example.test maildir:../../etc/\n", 2),
            ("recipients", "alice@example.test mbox:/var/mail/alice\n", 1),
        ]
        for name, text, line in cases:
            path = write(srv, name, text)
            p = ctl(srv, "makemap", "-f", name)
            no_sanitizer(p)
            assert p.returncode != 0, (name, text, p)
            assert f"{path}:{line}:" in p.stderr, (name, p.stderr)
        # the installed maps are the harness's, untouched
        assert query(srv, "recipients", "bob@example.test")[0] == 0


def test_makemap_host_bits_message():
    with Files() as srv:
        path = write(srv, "access", "192.0.2.1/24 REJECT x\n")
        p = ctl(srv, "makemap", "access")
        assert p.returncode != 0
        assert f"{path}:1:" in p.stderr and "192.0.2.0/24" in p.stderr, p.stderr


# ---- query ----

def test_query_access_prints_the_match():
    with Files() as srv:
        write(srv, "access", "127.0.0.0/8 REJECT x\n127.0.0.5 OK\n::1 REJECT six\n")
        assert ctl(srv, "makemap", "access").returncode == 0
        assert query(srv, "access", "127.0.0.6")[:2] == \
            (0, "127.0.0.6 -> REJECT x (matched 127.0.0.0/8)")
        # longest prefix wins
        assert query(srv, "access", "127.0.0.5")[:2] == (0, "127.0.0.5 -> OK")
        assert query(srv, "access", "::1")[:2] == (0, "::1 -> REJECT six")
        # an IPv4 client seen on an IPv6 socket is matched as IPv4
        code, out, err = query(srv, "access", "::ffff:127.0.0.6")
        assert code == 0 and "REJECT x" in out, (code, out, err)
        assert query(srv, "access", "128.0.0.1")[:2] == (1, "128.0.0.1: not found")
        code, out, err = query(srv, "access", "127.0.0.0.1")
        assert code == 2 and "not an IP address" in err, (code, out, err)


def test_query_recipients_chain():
    with Files() as srv:
        cases = [
            ("ALICE+x@Example.Test", 0,
             "ALICE+x@Example.Test -> maildir:alice/ (matched alice@example.test)"),
            ("alice@example.test", 0, "alice@example.test -> maildir:alice/"),
            ("postmaster", 0, "postmaster -> maildir:postmaster/"),
            ("Postmaster@Example.Test", 0,
             "Postmaster@Example.Test -> maildir:postmaster/ (matched postmaster@example.test)"),
            ("x@example.org", 0, "x@example.org -> maildir:catchall/ (matched @example.org)"),
            ("alice+@example.test", 0,
             "alice+@example.test -> maildir:alice/ (matched alice@example.test)"),
            ("nobody@example.test", 1, "nobody@example.test: not found"),
            ("nobody+alice@example.test", 1, "nobody+alice@example.test: not found"),
        ]
        for key, code, out in cases:
            got = query(srv, "recipients", key)
            assert got[:2] == (code, out), (key, got)


def test_query_exit_codes():
    with Files() as srv:
        assert query(srv, "domains", "example.test")[0] == 0
        assert query(srv, "domains", "remote.example")[0] == 1
        # a map name the config does not know, and a path that is not there
        code, out, err = query(srv, "nosuchmap", "x")
        assert code == 2 and out == "" and err, (code, out, err)
        # a configured map whose cdb is missing
        os.unlink(os.path.join(srv.etc, "senders.cdb"))
        code, out, err = query(srv, "senders", "a@remote.example")
        assert code == 2 and "senders.cdb" in err, (code, out, err)
        # usage: a key missing, an unknown command
        p = ctl(srv, "query", "domains")
        assert p.returncode == 2 and "usage" in p.stderr, p
        p = ctl(srv, "frobnicate")
        assert p.returncode == 2 and "frobnicate" in p.stderr, p
        # a config that does not load: 2, naming it
        with open(srv.conf_path, "a") as f:
            f.write("no_such_key = 1\n")
        p = ctl(srv, "query", "domains", "example.test")
        assert p.returncode == 2 and "no_such_key" in p.stderr, p


# ---- moatd -n ----

def test_moatd_n_prints_settings_that_read_back():
    with Files() as srv:
        p = check_conf(srv.conf_path)
        no_sanitizer(p)
        assert p.returncode == 0, p.stderr
        out = p.stdout
        for key in ("hostname = mx.example.test", f"listen = 127.0.0.1:{srv.port}",
                    "workers = 2", "max_message_size = 25M", "delay_reject = yes",
                    "retry_min = 1s"):
            assert re.search(rf"^{re.escape(key)}$", out, re.M), (key, out)
        # relative paths come out absolute, relative to the config's folder
        assert re.search(rf"^spool = {re.escape(os.path.join(srv.dir, 'spool'))}$", out, re.M), out
        assert re.search(rf"^helo = {re.escape(os.path.join(srv.etc, 'helo'))}$", out, re.M), out
        # the output is itself a config: read back, it says the same
        again = os.path.join(srv.etc, "again.conf")
        with open(again, "w") as f:
            f.write(out)
        q = check_conf(again)
        assert q.returncode == 0, q.stderr
        body = lambda s: [l for l in s.splitlines() if not l.startswith("#")]
        assert body(q.stdout) == body(out)


def test_moatd_n_errors_name_file_and_line():
    with Files() as srv:
        good = open(srv.conf_path).read()
        n = len(good.splitlines())
        cases = [
            ("bogus_key = 1\n", n + 1, "bogus_key"),
            ("max_recipients = 0\n", n + 1, "max_recipients"),
            ("max_message_size = lots\n", n + 1, "max_message_size"),
            ("workers = 2\n", n + 1, "workers"),          # a key given twice
            ("no equals sign\n", n + 1, ""),
        ]
        for extra, line, word in cases:
            with open(srv.conf_path, "w") as f:
                f.write(good + extra)
            p = check_conf(srv.conf_path)
            no_sanitizer(p)
            assert p.returncode != 0, (extra, p)
            assert f"{srv.conf_path}:{line}:" in p.stderr, (extra, p.stderr)
            assert word in p.stderr, (extra, p.stderr)
        with open(srv.conf_path, "w") as f:
            f.write(good)
        assert check_conf(srv.conf_path).returncode == 0


def test_moatd_n_missing_cdb_names_file_and_line():
    with Files() as srv:
        os.unlink(os.path.join(srv.etc, "helo.cdb"))
        p = check_conf(srv.conf_path)
        no_sanitizer(p)
        assert p.returncode != 0, p
        assert "helo.cdb" in p.stderr, p.stderr
        # the setting that names the map is where the fix goes
        line = conf_line(srv, "helo")
        assert f"{srv.conf_path}:{line}:" in p.stderr, p.stderr


# ---- reload and stop ----

def test_reload_and_stop_a_running_daemon():
    srv = Moat(workers="1")
    try:
        pid = srv.proc.pid
        with open(os.path.join(srv.dir, "moatd.pid")) as f:
            assert int(f.read().strip()) == pid
        srv.conf["max_recipients"] = "1"
        srv.write_conf()
        p = ctl(srv, "reload")
        no_sanitizer(p)
        assert p.returncode == 0, p
        assert p.stdout.strip() == f"moatd (pid {pid}): reload requested", p.stdout
        srv.wait_log(lambda e, kv: e == "reload")
        assert srv.proc.poll() is None
        # the new setting is in force for a new session
        deadline = time.time() + 10
        while True:
            c = srv.client()
            c.expect("EHLO client.remote.example", 250)
            c.expect("MAIL FROM:<a@remote.example>", 250)
            c.expect("RCPT TO:<alice@example.test>", 250)
            code, text = c.cmd("RCPT TO:<bob@example.test>")
            c.expect("QUIT", 221)
            c.close()
            if code == 452 or time.time() > deadline:
                break
            time.sleep(0.1)
        assert code == 452 and text.startswith("4.5.3"), (code, text)

        # a broken config is refused on reload; the daemon keeps serving
        with open(srv.conf_path, "a") as f:
            f.write("bogus_key = 1\n")
        assert ctl(srv, "reload").returncode == 2    # moatctl reads it too
        srv.write_conf()
        with open(srv.conf_path, "a") as f:
            f.write("max_hops = 0\n")
        srv.signal(signal.SIGHUP)
        srv.wait_log(lambda e, kv: e == "error" and "reload refused" in kv.get("msg", ""))
        c = srv.client()
        c.expect("EHLO client.remote.example", 250)
        c.expect("QUIT", 221)
        c.close()
        srv.write_conf()

        p = ctl(srv, "stop")
        assert p.returncode == 0, p
        assert p.stdout.strip() == f"moatd (pid {pid}): stop requested", p.stdout
        assert srv.proc.wait(TIMEOUT) == 0
        srv.wait_log(lambda e, kv: e == "stop")
        assert not os.path.exists(os.path.join(srv.dir, "moatd.pid"))
        # nothing to signal any more
        p = ctl(srv, "reload")
        assert p.returncode == 1 and "moatd.pid" in p.stderr, p
    finally:
        srv.close()


def test_signals_refuse_a_stale_pidfile():
    with Files() as srv:
        pidfile = os.path.join(srv.dir, "moatd.pid")
        # a live process that is not moatd
        sleeper = subprocess.Popen(["sleep", "30"])
        try:
            with open(pidfile, "w") as f:
                f.write(f"{sleeper.pid}\n")
            p = ctl(srv, "stop")
            assert p.returncode == 1 and "not moatd" in p.stderr, p
            assert sleeper.poll() is None       # it was not signalled
        finally:
            sleeper.kill()
            sleeper.wait(5)
        # a pid that no longer exists
        with open(pidfile, "w") as f:
            f.write(f"{sleeper.pid}\n")
        p = ctl(srv, "reload")
        assert p.returncode == 1 and "not running" in p.stderr, p
        with open(pidfile, "w") as f:
            f.write("garbage\n")
        p = ctl(srv, "reload")
        assert p.returncode == 1 and "no process id" in p.stderr, p
