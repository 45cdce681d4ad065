"""
/passwordless/start cannot be used to send unlimited SMS or mail
(lib/security/guard.c, lib/passwordless/passwordless.c): Auth0's per-IP
limit by default (50 burst, 50 an hour: docs/COMPAT.md 2.6) or a configured
endpoint_per_minute, and a per-recipient cap across all IPs
(rate_limit.passwordless_per_recipient_per_hour, default 5).  And
`latchkeyctl token prune` deletes expired codes and /oauth/ro opaque
access tokens.

The tenant keeps Auth0's attack-protection defaults (the shared suite
turns them off); different end-user IPs come from the trusted
confidential client's auth0-forwarded-for header.
"""
import itertools
import json
import time

import pytest
import requests

import conftest
import lk
import pwl

RATE_TEXT = ("Too many requests. Check the X-RateLimit-Limit, "
    "X-RateLimit-Remaining and X-RateLimit-Reset headers.")

_ips = itertools.count(1)


def new_ip():
    n = next(_ips)
    return "203.0.%d.%d" % (n // 250, n % 250 + 1)


@pytest.fixture(scope="module")
def srv():
    s = lk.Server("pwl-limits")
    pwl._tenant(s)
    t = json.loads(s.tenant_file.read_text())
    t["tenant"].pop("rate_limit", None)
    t["tenant"].pop("suspicious_ip", None)
    for c in t["clients"]:
        if c["client_id"] == pwl.PWL_ID:
            c["is_token_endpoint_ip_header_trusted"] = True
    s.tenant_file.write_text(json.dumps(t, indent=1))
    yield conftest._start(s)
    pwl.finish(s)


def start(s, ip, phone=None, connection=pwl.SMS):
    body = {"client_id": pwl.PWL_ID, "client_secret": pwl.PWL_SECRET,
        "connection": connection, "send": "code",
        "phone_number": phone or pwl.unique_phone()}
    return s.token(json_body=body, path="passwordless/start",
        headers={"auth0-forwarded-for": ip})


def refused(r, limit):
    assert r.status_code == 429, r.text
    assert lk.error_body(r) == {"error": "too_many_requests",
        "error_description": RATE_TEXT}
    assert r.headers["X-RateLimit-Limit"] == str(limit)
    assert r.headers["X-RateLimit-Remaining"] == "0"
    assert int(r.headers["Retry-After"]) >= 1


def ctl_json(s, *args):
    return json.loads(lk.ctl(s.home, *args).stdout)


def test_default_per_ip_limit_is_50_an_hour(srv):
    ip = new_ip()
    for left in range(49, -1, -1):
        r = start(srv, ip)
        assert r.status_code == 200, r.text
        assert r.headers["X-RateLimit-Limit"] == "50"
        assert r.headers["X-RateLimit-Remaining"] == str(left)
    r = start(srv, ip)
    refused(r, 50)
    # One code back every 72 s (3600 / 50).
    assert 60 <= int(r.headers["Retry-After"]) <= 72
    assert start(srv, new_ip()).status_code == 200


def test_configured_per_ip_limit(srv):
    lk.ctl(srv.home, "tenant", "set", "rate_limit.endpoint_per_minute",
        '{"/passwordless/start": 2}')
    try:
        ip = new_ip()
        assert start(srv, ip).status_code == 200
        assert start(srv, ip).status_code == 200
        r = start(srv, ip)
        refused(r, 2)
        assert r.headers.get("X-RateLimit-Reset")
        # The refusal sent nothing.
        assert len([c for c in pwl.codes(srv)]) == len(pwl.codes(srv))
        assert start(srv, new_ip()).status_code == 200
    finally:
        lk.ctl(srv.home, "tenant", "unset", "rate_limit.endpoint_per_minute")


def test_per_recipient_cap_across_ips(srv):
    phone = pwl.unique_phone()
    for _ in range(5):
        assert start(srv, new_ip(), phone).status_code == 200
    sent = [c for c in pwl.codes(srv) if c[0] == phone]
    assert len(sent) == 5
    # A sixth, from yet another IP: refused, nothing delivered.
    refused(start(srv, new_ip(), phone), 5)
    assert [c for c in pwl.codes(srv) if c[0] == phone] == sent
    # The latest code still works; another recipient is unaffected.
    r = pwl.otp(srv, pwl.SMS, phone, pwl.last_code(srv, phone))
    assert r.status_code == 200, r.text
    assert start(srv, new_ip()).status_code == 200
    ev = [a for a in ctl_json(srv, "audit", "list", "--type", "api_limit")
        if a.get("user_name") == phone]
    assert len(ev) == 1
    rec, = [g for g in ctl_json(srv, "guard", "list")
        if g["kind"] == "recipient_rate" and g.get("identifier") == phone]
    assert rec["tokens"] == 0 and rec["blocked"] is True
    # The admin lifts it with the identifier.
    lk.ctl(srv.home, "guard", "unblock", "--identifier", phone)
    assert start(srv, new_ip(), phone).status_code == 200


def test_configured_per_recipient_cap_and_off(srv):
    lk.ctl(srv.home, "tenant", "set",
        "rate_limit.passwordless_per_recipient_per_hour", "2")
    try:
        email = "cap-%d@example.org" % time.time_ns()
        body = lambda ip: srv.token(json_body={"client_id": pwl.PWL_ID,
            "client_secret": pwl.PWL_SECRET, "connection": pwl.EMAIL,
            "send": "code", "email": email.upper()}, path="passwordless/start",
            headers={"auth0-forwarded-for": ip})
        assert body(new_ip()).status_code == 200
        assert body(new_ip()).status_code == 200
        # The recipient is counted normalised (lowercased email).
        refused(body(new_ip()), 2)
        lk.ctl(srv.home, "tenant", "set",
            "rate_limit.passwordless_per_recipient_per_hour", "0")
        assert body(new_ip()).status_code == 200
    finally:
        lk.ctl(srv.home, "tenant", "unset",
            "rate_limit.passwordless_per_recipient_per_hour")
    r = lk.ctl(srv.home, "tenant", "set",
        "rate_limit.passwordless_per_recipient_per_hour", "-1", check=False)
    assert r.returncode == 2


def test_token_prune_deletes_expired_codes_and_access_tokens(srv):
    phone = pwl.unique_phone()
    assert start(srv, new_ip(), phone).status_code == 200
    code = pwl.last_code(srv, phone)
    r = pwl.ro(srv, connection=lk.DB1, username=lk.ALICE, password=lk.ALICE_PW,
        scope="openid")
    assert r.status_code == 200, r.text
    at = r.json()["access_token"]
    userinfo = lambda: requests.get(srv.url("userinfo"), timeout=30,
        headers={"Authorization": "Bearer " + at})
    assert userinfo().status_code == 200
    # Now: nothing of theirs is expired, both survive.
    out = ctl_json(srv, "token", "prune")
    assert set(out) == {"deleted_records", "deleted_codes",
        "deleted_access_tokens", "deleted_mfa_tokens"}
    assert userinfo().status_code == 200
    # A day on, both are expired and deleted: the live server no longer
    # knows them even though, by its own clock, they would still work.
    out = ctl_json(srv, "token", "prune", "--now", str(int(time.time()) + 86400 + 60))
    assert out["deleted_codes"] >= 1 and out["deleted_access_tokens"] >= 1
    assert out["deleted_records"] >= out["deleted_codes"] + out["deleted_access_tokens"]
    assert userinfo().status_code == 401
    r = pwl.otp(srv, pwl.SMS, phone, code)
    assert r.status_code == 403, r.text
    again = ctl_json(srv, "token", "prune", "--now", str(int(time.time()) + 86400 + 60))
    assert again["deleted_codes"] == 0 and again["deleted_access_tokens"] == 0
