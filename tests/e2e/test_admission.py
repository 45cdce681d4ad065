"""
Admission control for password hashing (lib/security/admit.c): at most
hash_slots verifies run at once across the responders; a login waits in
line while its predicted wait is within login_queue_budget_ms, and the
rest get 503 temporarily_unavailable with Retry-After and a JSON body on
arrival, before the client or the user is read.  Through the real lighttpd (two responder processes), with a hash
policy slow enough (~0.1 s) that two concurrent logins overlap.
"""
import os
import stat
import threading

import pytest

import lk


@pytest.fixture(scope="module")
def slow(request):
    s = lk.Server("admission")
    s.tenant["tenant"]["hash"] = {"t": 3, "m": 65536, "p": 1}
    s.tenant_file.write_text(lk.json.dumps(s.tenant))
    try:
        s.start()
    except BaseException:
        s.stop()
        s.cleanup()
        raise
    yield s
    s.stop()
    assert not s.sanitizer_reports(), s.log()[-4000:]
    s.cleanup()


def limits(s, slots, queue, budget_ms):
    lk.ctl(s.home, "tenant", "set", "hash_slots", str(slots))
    lk.ctl(s.home, "tenant", "set", "hash_queue", str(queue))
    lk.ctl(s.home, "tenant", "set", "login_queue_budget_ms", str(budget_ms))


def together(s, n=2):
    """n password logins released at the same moment; their responses."""
    barrier = threading.Barrier(n)
    out = [None] * n

    def one(i):
        barrier.wait()
        out[i] = s.token(lk.password_form(audience=lk.API))

    ts = [threading.Thread(target=one, args=(i,)) for i in range(n)]
    for t in ts:
        t.start()
    for t in ts:
        t.join(60)
    return out


def check_shed(r):
    assert r.status_code == 503, r.text
    assert r.headers.get("Retry-After") in ("1", "2", "3")	# 1 s, spread
    assert lk.error_body(r) == {"error": "temporarily_unavailable",
        "error_description": "Too many logins at once; retry after the "
        "Retry-After delay."}


def test_excess_login_is_shed_with_503_and_retry_after(slow):
    limits(slow, 1, 0, 5000)
    for _ in range(5):
        rs = together(slow)
        codes = sorted(r.status_code for r in rs)
        if codes == [200, 503]:
            check_shed([r for r in rs if r.status_code == 503][0])
            slow.decode(next(r for r in rs if r.status_code == 200)
                .json()["access_token"], audience=lk.API)
            return
        assert codes == [200, 200], [r.text for r in rs]	# did not overlap
    pytest.fail("two concurrent logins never overlapped with one hash slot")


def test_a_waiting_login_is_served_when_a_slot_frees(slow):
    limits(slow, 1, 1, 20000)
    for _ in range(3):
        rs = together(slow)
        assert [r.status_code for r in rs] == [200, 200], [r.text for r in rs]


def test_a_wait_predicted_beyond_the_budget_is_shed(slow):
    limits(slow, 1, 1024, 1)
    for _ in range(5):
        rs = together(slow)
        codes = sorted(r.status_code for r in rs)
        if codes == [200, 503]:
            check_shed([r for r in rs if r.status_code == 503][0])
            return
    pytest.fail("a login predicted to wait beyond a 1 ms budget was never shed")


def test_a_burst_within_the_budget_waits_and_none_is_refused(slow):
    """Eight logins at once, one slot: each waits its turn (about eight
    hash times in all), within a budget of 20 s; all are served."""
    limits(slow, 1, 1024, 20000)
    rs = together(slow, 8)
    assert [r.status_code for r in rs] == [200] * 8, [r.text for r in rs]


def test_refused_on_arrival_before_the_client_or_user_is_read(slow):
    """One slot and no waiting room: while a login hashes, every other
    password login is refused on arrival, before its client or user is
    read, so a wrong client secret and an unknown user get the very 503
    a good login gets; with the slot free the wrong secret is a 401."""
    limits(slow, 1, 0, 5000)
    forms = {"wrong client secret": lk.password_form(secret="wrong"),
             "unknown user": lk.password_form(username="nobody@example.com"),
             "good": lk.password_form()}
    refused = set()
    for _ in range(10):
        t = threading.Thread(target=slow.token, args=(lk.password_form(),))
        t.start()
        while t.is_alive() and refused != set(forms):
            for what, form in forms.items():
                r = slow.token(form)
                if r.status_code == 503:
                    check_shed(r)
                    refused.add(what)
        t.join(60)
        if refused == set(forms):
            break
    assert refused == set(forms), refused
    assert slow.token(forms["wrong client secret"]).status_code == 401


def test_every_path_frees_its_slot(slow):
    """One slot, no waiting room: one login at a time is never shed, so
    success, a wrong password, an unknown user and a blocked user each
    gave their slot back."""
    limits(slow, 1, 0, 5000)
    forms = [lk.password_form(), lk.password_form(password="wrong"),
        lk.password_form(username="nobody@example.com"),
        lk.password_form(username=lk.CAROL, password=lk.CAROL_PW),
        lk.password_form()]
    codes = [slow.token(f).status_code for f in forms * 2]
    assert codes == [200, 403, 403, 401, 200] * 2


def test_tenant_settings_are_validated(slow):
    p = lk.ctl(slow.home, "tenant", "set", "hash_slots", "0", check=False)
    assert p.returncode != 0
    p = lk.ctl(slow.home, "tenant", "set", "hash_wait_ms", "-5", check=False)
    assert p.returncode != 0
    for v in ("-1", "60001", "soon"):
        p = lk.ctl(slow.home, "tenant", "set", "login_queue_budget_ms", v,
            check=False)
        assert p.returncode != 0, v


def test_hash_memory_is_the_slots_shared_and_removed_at_stop():
    """Verifies run in one shared memory object per slot (m KiB, 0600,
    this user's), mapped by the responders that hashed; the last
    responder to stop removes them."""
    s = lk.Server("slotmem")
    s.tenant["tenant"]["hash"] = {"t": 1, "m": 4096, "p": 1}
    s.tenant["tenant"]["hash_slots"] = 2
    s.tenant_file.write_text(lk.json.dumps(s.tenant))
    try:
        s.start()
        for _ in range(4):
            rs = together(s)
            assert [r.status_code for r in rs] == [200, 200], [r.text for r in rs]
        objs = s.slot_objects()
        assert objs and set(o[-2:] for o in objs) <= {"-0", "-1"}, objs
        for o in objs:
            st = os.stat("/dev/shm/" + o)
            assert st.st_size == 4096 * 1024
            assert stat.S_IMODE(st.st_mode) == 0o600 and st.st_uid == os.geteuid()
        mapped = set()
        for pid in s._children():
            with open("/proc/%d/maps" % pid) as f:
                mapped |= {line.split()[-1][len("/dev/shm/"):] for line in f
                    if "/dev/shm/latchkey-" in line}
        assert mapped == set(objs)
        s.stop()
        assert s.slot_objects() == []
        assert not s.sanitizer_reports(), s.log()[-4000:]
    finally:
        s.stop()
        s.cleanup()

