"""
Several responder processes (lighttpd's max-procs) share one Berkeley DB
environment: concurrent logins all succeed, and a client assertion's jti is
single-use even when the same assertion races through different processes.
"""
from concurrent.futures import ThreadPoolExecutor

import lk
from lk import API, password_form


def test_concurrent_logins_all_succeed(server):
    forms = [password_form(audience=API), lk.realm_form(audience=API),
        password_form(client_id=lk.PUBLIC_ID, secret=None, audience=API, scope="openid")] * 8
    with ThreadPoolExecutor(max_workers=8) as ex:
        rs = list(ex.map(server.token, forms))
    assert [r.status_code for r in rs] == [200] * len(forms), [r.text for r in rs
        if r.status_code != 200][:3]
    subs = {server.decode(r.json()["access_token"], audience=API)["sub"] for r in rs}
    assert len(subs) == 1


def test_racing_replays_of_one_assertion_succeed_once(server):
    f = password_form(client_id=lk.PK_ID, secret=None, audience=API)
    f.update(client_assertion=server.assertion(), client_assertion_type=lk.ASSERTION_TYPE)
    with ThreadPoolExecutor(max_workers=8) as ex:
        rs = list(ex.map(server.token, [f] * 8))
    codes = sorted(r.status_code for r in rs)
    assert codes == [200] + [401] * 7, [r.text for r in rs]
