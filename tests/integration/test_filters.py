"""Filters against the real daemon, with small shell scripts as filters
(filters/README.md): an accepted message is stored with the fields its
filters added after moat's Received:; a refusal is a 5xx or 4xx at the
end of DATA with the filter's text, and nothing is stored; a filter that
sleeps past filter_timeout gives 451 in bounded time; filter_max_procs
busy gives 451 4.3.2; a refusal asking Moat-Block blocks the client; the
envelope reaches the filter verbatim and runs nothing; filterd killed is
started again."""
import os
import pwd
import signal
import threading
import time

from harness import IS_ROOT, Client, Moat, send_message

SCRIPTS = {
    "ok": "cat >/dev/null\nprintf '\\nX-Checked: yes\\nX-Score: 1.5\\n\\tfolded\\n'\nexit 0",
    "spam": "printf 'Looks like spam to us\\n'\nexit 100",
    "later": "exit 111",
    "sleeper": "exec sleep 300",
    "slow": "sleep 2\nexit 0",
    "blocker": "printf 'Spamware\\nMoat-Block: 1h\\n'\nexit 100",
    "crash": "kill -SEGV $$",
    "ex75": "echo 'words'\nexit 75",
    "chatty": "head -c 3000000 /dev/zero | tr '\\0' A\nexit 0",
    "daemon": "sleep 1003 &\nexit 0",
    "deaf": "exit 0",
    "tamper": "printf 'EVIL' >&0 2>/dev/null\nexit 0",
    "env": "printf '%s\\n%s\\n%s\\n' \"$MOAT_SENDER\" \"$MOAT_RECIPIENTS\" "
           "\"$MOAT_CLIENT_IP\" > \"$(dirname \"$0\")/../out/env\"\nexit 0",
}


def filter_moat(*names, **settings):
    settings.setdefault("filter_user", "moatf" if IS_ROOT else
                        pwd.getpwuid(os.geteuid()).pw_name)
    settings["filter"] = [f"{n} ../filters/{n}" for n in names]
    srv = Moat(start=False, **settings)
    fdir = os.path.join(srv.dir, "filters")
    out = os.path.join(srv.dir, "out")
    os.makedirs(fdir)
    os.makedirs(out)
    os.chmod(out, 0o777)
    for n in names:
        path = os.path.join(fdir, n)
        with open(path, "w") as f:
            f.write("#!/bin/sh\n" + SCRIPTS[n] + "\n")
        os.chmod(path, 0o755)
    srv.start()
    return srv


def refusals(srv, cls):
    return [kv for e, kv in srv.log_lines() if e in ("reject", "defer")
            and kv.get("class") == cls]


def test_accepted_with_the_fields_added_after_received():
    srv = filter_moat("ok")
    try:
        code, text = send_message(srv.client())
        assert code == 250, text
        msg = srv.wait_messages("alice", 1)[0]
        head = msg.replace(b"\r\n", b"\n").split(b"\n\n", 1)[0].split(b"\n")
        r = next(i for i, h in enumerate(head) if h.startswith(b"Received: from"))
        assert r < 3, head
        i = head.index(b"X-Checked: yes")
        assert i > r and all(h[:1] in (b" ", b"\t") for h in head[r + 1:i]), head
        assert head[i + 1:i + 3] == [b"X-Score: 1.5", b"\tfolded"], head
        f = [kv for e, kv in srv.log_lines("filter")]
        assert f and f[0]["name"] == "ok" and f[0]["verdict"] == "accept"
        assert f[0]["fields"] == "2"
    finally:
        srv.close()


def test_refused_for_good_and_for_now_store_nothing():
    srv = filter_moat("spam")
    try:
        code, text = send_message(srv.client())
        assert code == 550 and text.startswith("5.7.1 Looks like spam"), text
        time.sleep(0.5)
        assert srv.messages("alice") == []
        assert refusals(srv, "filter:spam")[0]["code"] == "550"
    finally:
        srv.close()
    srv = filter_moat("later")
    try:
        code, text = send_message(srv.client())
        assert code == 451 and "4.7.1" in text and "later" in text, text
        time.sleep(0.5)
        assert srv.messages("alice") == []
    finally:
        srv.close()


def test_a_filter_past_its_timeout_is_a_tempfail_in_bounded_time():
    srv = filter_moat("sleeper", filter_timeout="1s")
    try:
        t0 = time.time()
        code, text = send_message(srv.client())
        took = time.time() - t0
        assert code == 451 and "4.3.0" in text and "sleeper" in text, text
        assert took < 5, took
        f = [kv for e, kv in srv.log_lines("filter")]
        assert f[0]["status"] == "timeout" and f[0]["verdict"] == "failed"
        time.sleep(0.3)
        assert not [p for p in os.listdir("/proc") if p.isdigit() and
                    b"sleep\x00300" in read_cmdline(p)], "the sleeper is gone"
        assert srv.messages("alice") == []
    finally:
        srv.close()


def test_filter_failure_accept_lets_it_through():
    srv = filter_moat("sleeper", "ok", filter_timeout="1s",
                      filter_failure="accept")
    try:
        code, text = send_message(srv.client())
        assert code == 250, text
        assert b"X-Checked: yes" in srv.wait_messages("alice", 1)[0]
    finally:
        srv.close()


def read_cmdline(pid):
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return f.read()
    except OSError:
        return b""


def test_filter_max_procs_busy_is_451_4_3_2():
    srv = filter_moat("slow", filter_max_procs="1")
    try:
        results = {}

        def first():
            results["first"] = send_message(srv.client())
        t = threading.Thread(target=first)
        t.start()
        time.sleep(0.7)           # the first is in its filter
        code, text = send_message(srv.client(source="127.0.0.2"))
        t.join(10)
        assert code == 451 and text.startswith("4.3.2"), text
        assert results["first"][0] == 250, results
        assert len(srv.wait_messages("alice", 1)) == 1
    finally:
        srv.close()


def test_a_refusal_asking_for_a_block_blocks_the_client():
    srv = filter_moat("blocker")
    try:
        code, text = send_message(srv.client(source="127.0.50.5"))
        assert code == 550 and "Spamware" in text, text
        c = Client(srv.port, source="127.0.50.5")
        c.sock.settimeout(5)
        assert c.sock.recv(100) == b"", "blocked: closed before any byte"
        b = [kv for e, kv in srv.log_lines("block")]
        assert b and b[0]["reason"] == "filter:blocker", b
        assert b[0]["duration"] == "3600"
    finally:
        srv.close()


def test_the_envelope_reaches_the_filter_verbatim_and_runs_nothing():
    pwned = ["/tmp/moat-pwned-1", "/tmp/moat-pwned-2", "/tmp/moat-pwned-3"]
    for p in pwned:
        if os.path.exists(p):
            os.unlink(p)
    srv = filter_moat("env")
    try:
        sender = "`touch${IFS}/tmp/moat-pwned-1`@example.net"
        rcpt = "alice@example.test"
        code, text = send_message(srv.client(), sender=f"<{sender}>",
                                  rcpts=(f"<{rcpt}>",))
        assert code == 250, text
        with open(os.path.join(srv.dir, "out", "env")) as f:
            got = f.read().split("\n")
        assert got[0] == sender and got[1] == rcpt and got[2] == "127.0.0.1", got
        quoted = '"$(touch${IFS}/tmp/moat-pwned-2)"@example.net'
        evil_rcpt = "`touch${IFS}/tmp/moat-pwned-3`@example.org"  # catch-all
        code, text = send_message(srv.client(), sender=f"<{quoted}>",
                                  rcpts=(f"<{evil_rcpt}>",))
        assert code == 250, text
        with open(os.path.join(srv.dir, "out", "env")) as f:
            got = f.read().split("\n")
        assert got[0] == quoted and got[1] == evil_rcpt, got
        assert not any(os.path.exists(p) for p in pwned), "nothing ran"
    finally:
        srv.close()


def test_filterd_killed_is_started_again():
    srv = filter_moat("ok")
    try:
        uid = pwd.getpwnam("moatf").pw_uid if IS_ROOT else None
        pids = [p for p, u in srv.children(None) if IS_ROOT and u == uid]
        assert len(pids) == 1, pids
        os.kill(pids[0], signal.SIGKILL)
        srv.wait_log(lambda e, kv: e == "child-exit" and
                     kv.get("proc") == "filter")
        deadline = time.time() + 10
        while time.time() < deadline:
            code, text = send_message(srv.client())
            if code == 250:
                break
            assert code == 451, text     # while it starts again
            time.sleep(0.3)
        assert code == 250
        assert b"X-Checked: yes" in srv.wait_messages("alice", 1)[-1]
    finally:
        srv.close()


def filterd_pid(srv):
    uid = pwd.getpwnam("moatf").pw_uid
    pids = [p for p, u in srv.children(None) if u == uid]
    return pids[0] if pids else None


def zombie_children(pid):
    """Children of pid that are zombies."""
    n = 0
    for p in os.listdir("/proc"):
        if not p.isdigit():
            continue
        try:
            with open(f"/proc/{p}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if fields[0] == "Z" and int(fields[1]) == pid:
            n += 1
    return n


def leftovers(marker):
    return sum(1 for p in os.listdir("/proc")
               if p.isdigit() and marker in read_cmdline(p))


def test_misbehaving_filters_give_the_documented_reply():
    """crash, exit 75: 451 4.3.0; megabytes of output, a child left
    holding the output, stdin never read: accepted; never a zombie or a
    process left behind, never a 250 unless every filter accepted."""
    for name, want in (("crash", 451), ("ex75", 451), ("chatty", 250),
                       ("daemon", 250), ("deaf", 250)):
        srv = filter_moat(name)
        try:
            t0 = time.time()
            code, text = send_message(srv.client())
            assert code == want, (name, code, text)
            assert time.time() - t0 < 10, name
            if want == 451:
                assert "4.3.0" in text and name in text, (name, text)
                time.sleep(0.3)
                assert srv.messages("alice") == [], name
            else:
                assert len(srv.wait_messages("alice", 1)) == 1, name
            time.sleep(0.3)
            assert leftovers(b"sleep\x001003") == 0, \
                f"{name}: a filter's child was left running"
            if IS_ROOT:
                pid = filterd_pid(srv)
                assert pid is not None and zombie_children(pid) == 0, name
        finally:
            srv.close()


def test_a_filter_cannot_change_the_message_it_judged():
    """stdin is the message as it will be stored, sealed: a filter that
    writes to it changes nothing."""
    srv = filter_moat("tamper")
    try:
        code, text = send_message(srv.client())
        assert code == 250, text
        msg = srv.wait_messages("alice", 1)[0]
        assert b"EVIL" not in msg and b"Received: from" in msg, msg[:200]
    finally:
        srv.close()
