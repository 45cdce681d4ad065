"""
LATCHKEY_CHILDREN (lib/run/prefork.c) through the shipped lighttpd.conf
(max-procs 2, the variable copied from lighttpd's environment): each
process lighttpd starts supervises N workers on its socket, replaces a
dead worker at once, and goes away with lighttpd; a worker whose
supervisor died stops taking requests and exits.
"""
import os
import signal
import time

import pytest
import requests

import lk

WORKERS = 3


class PreforkServer(lk.Server):
    def env(self):
        e = super().env()
        e["LATCHKEY_CHILDREN"] = str(WORKERS)
        return e

    def supervisors(self):
        return self._children()

    def workers(self):
        return sorted(w for s in self.supervisors() for w in kids(s))


def kids(pid):
    try:
        with open("/proc/%d/task/%d/children" % (pid, pid)) as f:
            return [int(x) for x in f.read().split()]
    except OSError:
        return []


def alive(pid):
    try:
        os.kill(pid, 0)
        return True
    except ProcessLookupError:
        return False


def wait_for(cond, timeout, step=0.01):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if cond():
            return True
        time.sleep(step)
    return cond()


def login_ok(s):
    """A client that honours 503 + Retry-After: right after a kill the
    survivors may find the environment in recovery and say so."""
    for _ in range(4):
        r = s.token(lk.password_form(audience=lk.API))
        if r.status_code != 503:
            break
        assert r.json()["error"] == "temporarily_unavailable"
        time.sleep(int(r.headers["Retry-After"]))
    assert r.status_code == 200, r.text
    s.decode(r.json()["access_token"], lk.API)


@pytest.fixture(scope="module")
def web():
    s = PreforkServer("prefork")
    try:
        s.start()
    except BaseException:
        s.stop()
        s.cleanup()
        raise
    yield s
    s.stop()
    assert not s.sanitizer_reports(), s.log()[-8000:]
    s.cleanup()


def test_supervisors_run_their_workers(web):
    assert wait_for(lambda: len(web.workers()) == 2 * WORKERS, 5), \
        (web.supervisors(), web.workers())
    assert len(web.supervisors()) == 2
    login_ok(web)


def test_every_worker_serves(web):
    """The kernel hands each connection to an idle worker: over many
    requests more than one worker of each supervisor answers (the
    request ids in the log come from several pids)."""
    before = web.log()
    for _ in range(40):
        assert requests.get(web.url(".well-known/jwks.json"), timeout=10).status_code == 200
    assert len(web.workers()) == 2 * WORKERS
    assert "request:" in web.log()[len(before):]


def test_killed_worker_is_replaced_at_once(web):
    assert wait_for(lambda: len(web.workers()) == 2 * WORKERS, 5)
    victim = web.workers()[0]
    os.kill(victim, signal.SIGKILL)
    t0 = time.monotonic()
    assert wait_for(lambda: victim not in web.workers()
        and len(web.workers()) == 2 * WORKERS, 2), web.workers()
    took = time.monotonic() - t0
    # lighttpd's own respawn runs once a second; the supervisor's at once.
    assert took < 0.5, "worker replaced after %.3f s" % took
    assert "killed by signal 9: replacing it" in web.log()
    login_ok(web)


def test_all_workers_killed_service_resumes(web):
    assert wait_for(lambda: len(web.workers()) == 2 * WORKERS, 5)
    for w in web.workers():
        os.kill(w, signal.SIGKILL)
    t0 = time.monotonic()

    def up():
        try:
            return requests.get(web.url(".well-known/jwks.json"),
                timeout=5).status_code == 200
        except requests.RequestException:
            return False
    assert wait_for(up, 5)
    assert time.monotonic() - t0 < 1.0
    login_ok(web)


def test_killed_supervisor_workers_leave(web):
    """Its workers close the shared socket to new requests and exit, so
    lighttpd finds a dead backend rather than a live socket without a
    supervisor.  (Whether lighttpd 1.4 then restarts it depends on who
    runs first: if its check connects before any worker has closed the
    socket, it takes it for an external server and never restarts it;
    latchkey.fcgi(8) and the README say so.)"""
    assert wait_for(lambda: len(web.supervisors()) == 2, 5)
    sup = web.supervisors()[0]
    orphans = kids(sup)
    assert len(orphans) == WORKERS
    os.kill(sup, signal.SIGKILL)
    assert wait_for(lambda: not any(alive(w) for w in orphans), 5), orphans


def test_stop_ends_supervisors_and_workers(web):
    procs = web.supervisors() + web.workers()
    assert procs
    web.stop()
    assert wait_for(lambda: not any(alive(p) for p in procs), 10), \
        [p for p in procs if alive(p)]
    log = web.log()
    assert "supervisor" in log and "stopped" in log
