"""
The responder and the quit signals (cgi-bin/latchkey.c): under spawn-fcgi
behind nginx, SIGTERM (or SIGHUP, SIGINT) ends an idle responder at once
with exit status 0, a request in progress is answered first, and the
store is closed cleanly: the responder's slot in Berkeley DB's
__db.register is cleared, so the next process opens the environment
without recovery (DB_REGISTER recovers only when a registered process
is gone without closing, as SIGKILL leaves it).
"""
import signal
import threading
import time

import pytest

import lk
import webservers

pytestmark = pytest.mark.bdb_only("the responder's slot in Berkeley DB's "
    "__db.register")


def registered(s):
    """The pids registered in the environment (DB_REGISTER's file: one
    25-byte slot a process, "X ... 0" when free)."""
    text = (s.home / "__db.register").read_text()
    return {int(l) for l in text.splitlines() if l.strip() and l[0] != "X"}


def responder(s):
    """The newest responder: spawn-fcgi -n execs it in its own process."""
    p = [p for p in s.procs if p.args[0] == webservers.SPAWN_FCGI][-1]
    assert p.poll() is None
    return p


def restart_responder(s):
    s.procs = [p for p in s.procs if p.poll() is None]
    (s.run / "latchkey.sock").unlink(missing_ok=True)
    s.spawn_fcgi()
    s.wait_ready()


@pytest.fixture(scope="module")
def web():
    s = webservers.Nginx()
    try:
        s.start()
    except BaseException:
        s.stop()
        s.cleanup()
        raise
    yield s
    s.stop()
    found = s.sanitizer_reports()
    assert not found, s.log()[-8000:]
    s.cleanup()


def login_ok(s):
    r = s.token(lk.password_form(audience=lk.API))
    assert r.status_code == 200, r.text


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGHUP, signal.SIGINT],
    ids=["TERM", "HUP", "INT"])
def test_idle_responder_quits_cleanly(web, sig):
    login_ok(web)
    p = responder(web)
    assert p.pid in registered(web)
    t0 = time.time()
    p.send_signal(sig)
    assert p.wait(5) == 0
    assert time.time() - t0 < 2
    assert p.pid not in registered(web), "store not closed: recovery next"
    assert "quit signal: closing the store" in web.log()
    # The next responder opens the environment (nothing to recover) and
    # serves.
    restart_responder(web)
    login_ok(web)
    assert registered(web) == {responder(web).pid}


def test_request_in_progress_is_answered_before_quitting(web):
    # A dear hash policy: an unknown user's dummy verify takes a while.
    lk.ctl(web.home, "tenant", "set", "hash.m", "262144")
    lk.ctl(web.home, "tenant", "set", "hash.t", "4")
    try:
        p = responder(web)
        out = {}

        def slow():
            out["r"] = web.token(lk.password_form(username="nobody@example.com",
                audience=lk.API))

        th = threading.Thread(target=slow)
        th.start()
        time.sleep(0.3)
        p.send_signal(signal.SIGTERM)
        th.join(60)
        assert out["r"].status_code == 403, out["r"].text
        assert out["r"].json()["error"] == "invalid_grant"
        assert p.wait(10) == 0
        assert p.pid not in registered(web)
    finally:
        lk.ctl(web.home, "tenant", "unset", "hash.m")
        lk.ctl(web.home, "tenant", "unset", "hash.t")
    restart_responder(web)
    login_ok(web)


def test_killed_responder_stays_registered(web):
    """The contrast that makes the checks above mean something: SIGKILL
    leaves the slot set, and the next opener must recover."""
    p = responder(web)
    p.send_signal(signal.SIGKILL)
    p.wait(5)
    assert p.pid in registered(web)
    restart_responder(web)
    login_ok(web)
