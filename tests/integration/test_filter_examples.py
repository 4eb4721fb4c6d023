"""The example filters (filters/examples/) against real peers: SpamAssassin's
spamd started on loopback (local tests only), ClamAV's clamd started with
a tiny signature database of its own holding the EICAR test string (no
download), and the executable-attachment refusal.  A GTUBE message and an
EICAR attachment are refused at the end of DATA and nothing is stored; a
clean message is stored with SpamAssassin's X-Spam-* fields."""
import base64
import os
import shutil
import signal
import subprocess
import tempfile
import time

from harness import Moat, free_port, send_message

TOP = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
EXAMPLES = os.path.join(TOP, "filters", "examples")
GTUBE = "XJS*C4JDBQADN1.NSBN3*2IDNEN*GTUBE-STANDARD-ANTI-UBE-TEST-EMAIL*C.34X"
EICAR = rb"X5O!P%@AP[4\PZX54(P^)7CC)7}$EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*"
CLEAN = ("From: Alice <alice@remote.example>\r\nTo: alice@example.test\r\n"
         "Subject: lunch\r\nDate: Mon, 23 Nov 2026 12:00:00 +0000\r\n"
         "Message-ID: <lunch-1@remote.example>\r\n\r\n"
         "Shall we meet at noon?\r\n")


def attachment(name, data):
    b64 = base64.b64encode(data).decode()
    return ("Subject: files\r\nMIME-Version: 1.0\r\n"
            "Content-Type: multipart/mixed; boundary=\"b1\"\r\n\r\n"
            "--b1\r\nContent-Type: text/plain\r\n\r\nsee attached\r\n"
            f"--b1\r\nContent-Type: application/octet-stream;\r\n\tname=\"{name}\"\r\n"
            "Content-Transfer-Encoding: base64\r\n\r\n"
            f"{b64}\r\n--b1--\r\n")


def stop(proc):
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def wait_for(pred, seconds, what):
    deadline = time.time() + seconds
    while time.time() < deadline:
        if pred():
            return
        time.sleep(0.2)
    raise AssertionError(f"{what} did not start in {seconds} s")


def example_moat(name, *args):
    """moatd with one example filter, copied where filter_user can run it."""
    srv = Moat(start=False, filter=[f"{name} ../filters/{name} " + " ".join(args)])
    fdir = os.path.join(srv.dir, "filters")
    os.makedirs(fdir)
    shutil.copy(os.path.join(EXAMPLES, name), fdir)
    os.chmod(os.path.join(fdir, name), 0o755)
    srv.start()
    return srv


def test_spamassassin_refuses_gtube_and_marks_the_rest():
    port = free_port()
    work = tempfile.mkdtemp(prefix="moat-spamd-")
    log = open(os.path.join(work, "spamd.log"), "w")
    spamd = subprocess.Popen(
        ["/usr/sbin/spamd", "-L", f"--listen=127.0.0.1:{port}",
         "--allowed-ips=127.0.0.1", "-u", "nobody", "--syslog=stderr",
         "-m", "2", f"--pidfile={work}/spamd.pid"],
        stdout=log, stderr=subprocess.STDOUT)
    srv = None
    try:
        wait_for(lambda: "server successfully spawned child" in
                 open(log.name).read(), 60, "spamd")
        srv = example_moat("spamassassin", "5", "-d", "127.0.0.1", "-p", str(port))
        code, text = send_message(srv.client(), body=f"Subject: offer\r\n\r\n{GTUBE}\r\n")
        assert code == 550 and "spam (score 10" in text, text
        code, text = send_message(srv.client(), body=CLEAN)
        assert code == 250, text
        msgs = srv.wait_messages("alice", 1)
        assert len(msgs) == 1, "the GTUBE message was not stored"
        assert b"X-Spam-Status: No, score=" in msgs[0], msgs[0][:800]
        assert b"offer" not in msgs[0]
        f = [kv for e, kv in srv.log_lines("filter")]
        assert [kv["verdict"] for kv in f] == ["reject", "accept"], f
    finally:
        if srv is not None:
            srv.close()
        stop(spamd)
        log.close()
        shutil.rmtree(work, ignore_errors=True)


def test_spamassassin_without_spamd_is_a_tempfail():
    srv = example_moat("spamassassin", "5", "-d", "127.0.0.1", "-p", str(free_port()))
    try:
        code, text = send_message(srv.client(), body=CLEAN)
        assert code == 451 and "4.3.0" in text, text
    finally:
        srv.close()


def test_clamav_refuses_eicar():
    work = tempfile.mkdtemp(prefix="moat-clamd-")
    os.chmod(work, 0o755)
    os.makedirs(os.path.join(work, "db"))
    with open(os.path.join(work, "db", "moat-test.ndb"), "w") as f:
        f.write("Moat-Test-EICAR:0:*:" + EICAR.hex() + "\n")
    sock = os.path.join(work, "clamd.sock")
    with open(os.path.join(work, "clamd.conf"), "w") as f:
        f.write(f"LocalSocket {sock}\nLocalSocketMode 666\n"
                f"DatabaseDirectory {work}/db\nForeground yes\n"
                f"LogFile {work}/clamd.log\n")
    with open(os.path.join(work, "clamdscan.conf"), "w") as f:
        f.write(f"LocalSocket {sock}\n")
    os.chmod(os.path.join(work, "clamdscan.conf"), 0o644)
    clamd = subprocess.Popen(["clamd", f"--config-file={work}/clamd.conf"],
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    srv = None
    try:
        wait_for(lambda: os.path.exists(sock), 60, "clamd")
        srv = example_moat("clamav", f"--config-file={work}/clamdscan.conf")
        code, text = send_message(srv.client(), body=attachment("eicar.com", EICAR))
        assert code == 550 and "Virus found: Moat-Test-EICAR" in text, text
        code, text = send_message(srv.client(), body=CLEAN)
        assert code == 250, text
        assert len(srv.wait_messages("alice", 1)) == 1
        time.sleep(0.3)
        assert len(srv.messages("alice")) == 1, "the EICAR message was not stored"
    finally:
        if srv is not None:
            srv.close()
        stop(clamd)
        shutil.rmtree(work, ignore_errors=True)


def test_no_executables():
    srv = example_moat("no-executables")
    try:
        code, text = send_message(srv.client(), body=attachment("invoice.pdf.exe", b"MZ\x90\x00"))
        assert code == 550 and "invoice.pdf.exe" in text, text
        code, text = send_message(srv.client(), body=attachment("invoice.pdf", b"%PDF-1.4"))
        assert code == 250, text
        assert len(srv.wait_messages("alice", 1)) == 1
    finally:
        srv.close()
