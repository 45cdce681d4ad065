"""
Attack protection through the real web server (docs/COMPAT.md 6,
docs/COMPAT.md 6; lib/security/guard.c, guard_net.c, breached.c,
audit.c): brute-force protection (the 10th failure still 403, the 11th
429 with Auth0's text; another IP unaffected; a success resets; unknown
users count; account lockout; allowlist; unblock by the admin command,
by a password change and by time), suspicious IP throttling (the bucket
empties and refills; malformed requests do not count), the per-user-
per-IP and per-endpoint rate limits with their headers, the
auth0-forwarded-for rule (trusted, untrusted, invalid), leaked passwords
(Auth0's AUTH0-TEST- prefix and a generated 100,000-line breached list)
at /oauth/token and /oauth/ro, the OTP exchange and /passwordless/start,
the audit log, and two responder processes sharing one counter under
concurrent failures without losing an increment.

Different end-user IPs come from a trusted client's auth0-forwarded-for
header: the server itself only ever sees 127.0.0.1.
"""
import hashlib
import itertools
import json
import os
import random
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

import conftest
import lk
import pwl

TRUSTED_ID, TRUSTED_SECRET = "trusted-proxy-app", "trusted-proxy-secret-Pq3wE6rT9yU2"

BRUTE_TEXT = ("Your account has been blocked after multiple consecutive login "
    "attempts. We've sent you a notification via your preferred contact "
    "method with instructions on how to unblock it.")
SUSPICIOUS_TEXT = ("We have detected suspicious login behavior and further "
    "attempts will be blocked. Please contact the administrator.")
RATE_TEXT = ("Too many requests. Check the X-RateLimit-Limit, "
    "X-RateLimit-Remaining and X-RateLimit-Reset headers.")
LEAKED_TOKEN_TEXT = ("This login attempt has been blocked because the password "
    "you're using was previously disclosed through a data breach (not in this "
    "application). Please check your email for more information.")
LEAKED_RO_TEXT = ("This login has been blocked because your password has been "
    "leaked in another website. We\u2019ve sent you an email with instructions "
    "on how to unblock it.")
WRONG = {"error": "invalid_grant", "error_description": "Wrong email or password."}

_ips = itertools.count(1)
_users = itertools.count(1)


def new_ip(v6=False):
    n = next(_ips)
    return "2001:db8::%x" % n if v6 else "198.51.%d.%d" % (n // 250, n % 250 + 1)


@pytest.fixture(scope="module")
def srv():
    s = lk.Server("attack")
    pwl._tenant(s)
    t = json.loads(s.tenant_file.read_text())
    # Auth0's defaults, not the shared suite's relaxed ones.
    t["tenant"].pop("rate_limit", None)
    t["tenant"].pop("suspicious_ip", None)
    t["clients"].append({"name": "Trusted Proxy", "client_id": TRUSTED_ID,
        "client_secret": TRUSTED_SECRET, "app_type": "regular_web",
        "token_endpoint_auth_method": "client_secret_post",
        "grant_types": [lk.GRANT_PASSWORD, lk.GRANT_REALM],
        "is_token_endpoint_ip_header_trusted": True})
    for c in t["connections"]:
        if c["name"] == lk.DB1:
            c["enabled_clients"].append(TRUSTED_ID)
    s.tenant_file.write_text(json.dumps(t, indent=1))
    yield conftest._start(s)
    pwl.finish(s)


def ctl_json(s, *args, **kw):
    return json.loads(lk.ctl(s.home, *args, **kw).stdout)


def tenant_set(s, key, value):
    lk.ctl(s.home, "tenant", "set", key, str(value))


def tenant_unset(s, key):
    lk.ctl(s.home, "tenant", "unset", key)


def new_user(s, pw=None):
    """A fresh DB1 user: (email, password, user_id)."""
    email = "guard%d-%d@example.com" % (next(_users), os.getpid())
    pw = pw or "pw-%s" % os.urandom(8).hex()
    uid = ctl_json(s, "user", "add", "--connection", lk.DB1, "--email", email,
        "--password-stdin", input=pw + "\n")["user_id"]
    return email, pw, uid


def login(s, user, pw, ip=None, client_id=TRUSTED_ID, secret=TRUSTED_SECRET,
        **extra):
    headers = {"auth0-forwarded-for": ip} if ip is not None else None
    return s.token(lk.password_form(client_id=client_id, secret=secret,
        username=user, password=pw, **extra), headers=headers)


def err(r, status, code, desc=None):
    assert r.status_code == status, r.text
    body = lk.error_body(r)
    assert body["error"] == code, body
    if desc is not None:
        assert body["error_description"] == desc, body


def fail_n(s, user, n, ip):
    for i in range(n):
        r = login(s, user, "wrong-%d" % i, ip)
        assert r.status_code == 403 and r.json() == WRONG, (i + 1, r.text)


def guard_records(s, kind=None, **match):
    out = ctl_json(s, "guard", "list")
    return [g for g in out if (kind is None or g["kind"] == kind) and
        all(g.get(k) == v for k, v in match.items())]


def audit(s, **kw):
    args = ["audit", "list"]
    for k, v in kw.items():
        args += ["--" + k, str(v)]
    return ctl_json(s, *args)


# --- brute force -----------------------------------------------------------

def test_tenth_failure_403_eleventh_429_other_ip_unaffected(srv):
    email, pw, uid = new_user(srv)
    ip, other = new_ip(), new_ip()
    fail_n(srv, email, 10, ip)
    # Blocked from the failure that reached the threshold: even the right
    # password now gets Auth0's 429, with no hash work behind it.
    err(login(srv, email, pw, ip), 429, "too_many_attempts", BRUTE_TEXT)
    err(login(srv, email.upper(), "x", ip), 429, "too_many_attempts", BRUTE_TEXT)
    # Another IP, and another user at the blocked IP, are unaffected.
    assert login(srv, email, pw, other).status_code == 200
    e2, pw2, _ = new_user(srv)
    assert login(srv, e2, pw2, ip).status_code == 200
    rec, = guard_records(srv, "brute_force", identifier=email, ip=ip)
    assert rec["count"] == 10 and rec["blocked"] is True and rec["user_id"] == uid
    types = [a["type"] for a in audit(srv) if a["ip"] == ip and
        a.get("user_name") in (email, email.upper())]
    assert types == ["fp"] * 10 + ["limit_wc", "limit_wc", "limit_wc"], types


def test_success_resets_the_consecutive_count(srv):
    email, pw, _ = new_user(srv)
    ip = new_ip()
    fail_n(srv, email, 9, ip)
    assert login(srv, email, pw, ip).status_code == 200
    assert guard_records(srv, "brute_force", identifier=email) == []
    fail_n(srv, email, 9, ip)
    assert login(srv, email, pw, ip).status_code == 200


def test_unknown_user_counts_like_a_wrong_password(srv):
    ip = new_ip()
    ghost = "ghost-%s@example.com" % os.urandom(4).hex()
    fail_n(srv, ghost, 10, ip)
    err(login(srv, ghost, "x", ip), 429, "too_many_attempts", BRUTE_TEXT)
    assert [a["type"] for a in audit(srv, type="fu") if a.get("user_name") == ghost] == ["fu"] * 10


def test_unblock_by_admin_identifier_and_ip(srv):
    email, pw, _ = new_user(srv)
    ip, ip2, ip3 = new_ip(), new_ip(), new_ip()
    fail_n(srv, email, 10, ip)
    fail_n(srv, email, 10, ip2)
    # One IP, in another case than the login used.
    out = ctl_json(srv, "guard", "unblock", "--identifier", email.upper(), "--ip", ip)
    assert out == {"deleted_records": 1}
    assert login(srv, email, pw, ip).status_code == 200
    err(login(srv, email, pw, ip2), 429, "too_many_attempts", BRUTE_TEXT)
    # Every IP of the identifier (a third IP: the first has used most of
    # its 20-a-minute login rate by now).
    fail_n(srv, email, 10, ip3)
    assert ctl_json(srv, "guard", "unblock", "--identifier", email) == {"deleted_records": 2}
    assert login(srv, email, pw, ip2).status_code == 200
    assert login(srv, email, pw, ip3).status_code == 200


def test_unblock_by_admin_user(srv):
    email, pw, uid = new_user(srv)
    ip = new_ip()
    fail_n(srv, email, 10, ip)
    err(login(srv, email, pw, ip), 429, "too_many_attempts")
    assert ctl_json(srv, "guard", "unblock", "--user", uid) == {"deleted_records": 1}
    assert login(srv, email, pw, ip).status_code == 200


def test_unblock_by_password_change(srv):
    email, pw, uid = new_user(srv)
    ip = new_ip()
    fail_n(srv, email, 10, ip)
    err(login(srv, email, pw, ip), 429, "too_many_attempts")
    lk.ctl(srv.home, "user", "set-password", uid, input="a-brand-new-password-1\n")
    assert login(srv, email, "a-brand-new-password-1", ip).status_code == 200


def test_block_ends_block_seconds_after_the_last_failure(srv):
    email, pw, _ = new_user(srv)
    ip = new_ip()
    tenant_set(srv, "brute_force.block_seconds", 2)
    try:
        fail_n(srv, email, 10, ip)
        err(login(srv, email, pw, ip), 429, "too_many_attempts")
        time.sleep(2.2)
        assert login(srv, email, pw, ip).status_code == 200
    finally:
        tenant_unset(srv, "brute_force.block_seconds")


def test_threshold_setting_and_account_lockout(srv):
    email, pw, _ = new_user(srv)
    a, b, c = new_ip(), new_ip(), new_ip()
    tenant_set(srv, "brute_force.threshold", 3)
    tenant_set(srv, "brute_force.mode", "count_per_identifier")
    try:
        fail_n(srv, email, 2, a)
        fail_n(srv, email, 1, b)
        # Three failures from two IPs lock the account at every IP.
        err(login(srv, email, pw, c), 429, "too_many_attempts", BRUTE_TEXT)
        rec, = guard_records(srv, "brute_force", identifier=email)
        assert rec["ip"] == "*" and rec["count"] == 3
    finally:
        tenant_unset(srv, "brute_force.mode")
        tenant_unset(srv, "brute_force.threshold")
    # Back to per-IP counting: the pair records start afresh.
    assert login(srv, email, pw, c).status_code == 200


def test_allowlisted_ip_is_never_counted(srv):
    email, pw, _ = new_user(srv)
    ip = new_ip()
    tenant_set(srv, "brute_force.allowlist", "192.0.2.0/24,%s" % ip)
    try:
        fail_n(srv, email, 12, ip)
        assert login(srv, email, pw, ip).status_code == 200
        assert guard_records(srv, "brute_force", identifier=email) == []
    finally:
        tenant_unset(srv, "brute_force.allowlist")


def test_legacy_ro_is_protected_too(srv):
    email, pw, _ = new_user(srv)
    for i in range(10):
        r = pwl.ro(srv, connection=lk.DB1, username=email, password="bad%d" % i)
        err(r, 401, "invalid_user_password", "Wrong email or password.")
    err(pwl.ro(srv, connection=lk.DB1, username=email, password=pw), 429,
        "too_many_attempts", BRUTE_TEXT)
    rec, = guard_records(srv, "brute_force", identifier=email)
    assert rec["ip"] == "127.0.0.1"
    lk.ctl(srv.home, "guard", "unblock", "--identifier", email)
    assert pwl.ro(srv, connection=lk.DB1, username=email, password=pw).status_code == 200


def test_otp_codes_and_passwordless_start_are_protected(srv):
    phone = pwl.unique_phone()
    tenant_set(srv, "brute_force.threshold", 3)
    try:
        assert pwl.start(srv, pwl.SMS, phone_number=phone).status_code == 200
        code = pwl.last_code(srv, phone)
        for bad in ("000000", "111111", "222222"):
            err(pwl.otp(srv, pwl.SMS, phone, bad if bad != code else "333333"),
                403, "invalid_grant", "Wrong phone number or verification code.")
        # The recipient is blocked at this IP: no new code is even sent.
        err(pwl.start(srv, pwl.SMS, phone_number=phone), 429,
            "too_many_attempts", BRUTE_TEXT)
        # "cs": the background delivery's outcome (pwl.start waits for it).
        assert [a["type"] for a in audit(srv) if a.get("user_name") == phone] == \
            ["cls", "cs", "fepotpft", "fepotpft", "fepotpft", "limit_wc",
             "limit_wc"]
        lk.ctl(srv.home, "guard", "unblock", "--identifier", phone)
        assert pwl.start(srv, pwl.SMS, client_id=pwl.PWL_ID,
            client_secret=pwl.PWL_SECRET, phone_number=phone).status_code == 200
        r = pwl.otp(srv, pwl.SMS, phone, pwl.last_code(srv, phone))
        assert r.status_code == 200, r.text
    finally:
        tenant_unset(srv, "brute_force.threshold")


# --- suspicious IP throttling ---------------------------------------------

def test_ip_bucket_empties_and_refills_malformed_requests_do_not_count(srv):
    ip = new_ip()
    email, pw, _ = new_user(srv)
    tenant_set(srv, "suspicious_ip.max_attempts", 3)
    tenant_set(srv, "suspicious_ip.rate_seconds", 2)
    try:
        h = {"auth0-forwarded-for": ip}
        # Malformed or unauthenticated requests from the IP: not counted.
        nopw = lk.password_form(client_id=TRUSTED_ID, secret=TRUSTED_SECRET,
            username=email)
        del nopw["password"]
        for _ in range(5):
            err(srv.token(nopw, headers=h), 400, "invalid_request")
            err(srv.token(lk.password_form(client_id=TRUSTED_ID,
                secret="not-the-secret", username=email, password="x"),
                headers=h), 401, "access_denied")
            err(srv.post("oauth/token", "{", "application/json", h), 400,
                "invalid_request")
        # Three failed logins, each against another account, empty it.
        for i in range(3):
            r = login(srv, "victim%d-%s@example.com" % (i, ip), "x", ip)
            assert r.status_code == 403, r.text
        err(login(srv, email, pw, ip), 429, "too_many_attempts", SUSPICIOUS_TEXT)
        rec, = guard_records(srv, "suspicious_ip", ip=ip)
        assert rec["tokens"] == 0 and rec["blocked"] is True
        # Another IP is unaffected.
        assert login(srv, email, pw, new_ip()).status_code == 200
        # One attempt comes back every rate_seconds.
        time.sleep(2.1)
        assert login(srv, email, pw, ip).status_code == 200
        assert login(srv, email, "wrong", ip).status_code == 403
        err(login(srv, email, pw, ip), 429, "too_many_attempts", SUSPICIOUS_TEXT)
        assert [a["type"] for a in audit(srv, type="limit_mu") if a["ip"] == ip] == \
            ["limit_mu", "limit_mu"]
        # The admin lifts it.
        lk.ctl(srv.home, "guard", "unblock", "--ip", ip)
        assert login(srv, email, pw, ip).status_code == 200
    finally:
        tenant_unset(srv, "suspicious_ip.max_attempts")
        tenant_unset(srv, "suspicious_ip.rate_seconds")


# --- rate limits -----------------------------------------------------------

def test_login_rate_per_user_and_ip(srv):
    email, pw, _ = new_user(srv)
    ip = new_ip()
    tenant_set(srv, "rate_limit.login_per_minute", 3)
    tenant_set(srv, "rate_limit.login_after_per_minute", 60)
    try:
        for _ in range(3):
            assert login(srv, email, pw, ip).status_code == 200
        r = login(srv, email, pw, ip)
        err(r, 429, "too_many_requests", RATE_TEXT)
        assert r.headers["X-RateLimit-Limit"] == "60"
        assert r.headers["X-RateLimit-Remaining"] == "0"
        reset = int(r.headers["X-RateLimit-Reset"])
        assert time.time() - 2 <= reset <= time.time() + 5
        assert 1 <= int(r.headers["Retry-After"]) <= 2
        # Another IP for the same user is a separate bucket.
        assert login(srv, email, pw, new_ip()).status_code == 200
        time.sleep(1.1)
        assert login(srv, email, pw, ip).status_code == 200
        assert audit(srv, type="api_limit")[-1]["user_name"] == email
    finally:
        tenant_unset(srv, "rate_limit.login_per_minute")
        tenant_unset(srv, "rate_limit.login_after_per_minute")


def test_endpoint_rate_limit_headers(srv):
    email, pw, _ = new_user(srv)
    ip = new_ip()
    tenant_set(srv, "rate_limit.endpoint_per_minute", '{"/oauth/token": 3}')
    try:
        for left in (2, 1, 0):
            r = login(srv, email, pw, ip)
            assert r.status_code == 200, r.text
            assert r.headers["X-RateLimit-Limit"] == "3"
            assert r.headers["X-RateLimit-Remaining"] == str(left)
        # Any request to the endpoint counts once the client is known.
        r = login(srv, email, "wrong", ip)
        err(r, 429, "too_many_requests", RATE_TEXT)
        assert r.headers["X-RateLimit-Remaining"] == "0"
        assert int(r.headers["X-RateLimit-Reset"]) >= int(time.time())
        assert int(r.headers["Retry-After"]) >= 1
        assert login(srv, email, pw, new_ip()).status_code == 200
    finally:
        tenant_unset(srv, "rate_limit.endpoint_per_minute")
    assert "X-RateLimit-Limit" not in login(srv, email, pw, ip).headers


# --- auth0-forwarded-for ---------------------------------------------------

def test_trusted_header_sets_the_end_user_ip(srv):
    email, pw, _ = new_user(srv)
    ip = new_ip(v6=True)
    assert login(srv, email, "wrong", ip.upper() + " ").status_code == 403
    ev, = [a for a in audit(srv, type="fp") if a.get("user_name") == email]
    assert ev["ip"] == ip and ev["client_ip"] == "127.0.0.1"
    assert ev["client_id"] == TRUSTED_ID and ev["endpoint"] == "/oauth/token"
    assert "pid" in ev and "wrong" not in json.dumps(ev)


def test_untrusted_header_is_ignored_and_logged(srv):
    email, pw, _ = new_user(srv)
    before = len(srv.log())
    # A confidential client not trusted for the header, and a public one.
    assert login(srv, email, "wrong", new_ip(), client_id=lk.POST_ID,
        secret=lk.POST_SECRET).status_code == 403
    assert login(srv, email, "wrong", new_ip(), client_id=lk.PUBLIC_ID,
        secret=None).status_code == 403
    evs = [a for a in audit(srv, type="fp") if a.get("user_name") == email]
    assert [e["ip"] for e in evs] == ["127.0.0.1", "127.0.0.1"]
    assert all("client_ip" not in e for e in evs)
    assert srv.log()[before:].count("auth0-forwarded-for ignored") >= 2
    # Even an invalid value from an untrusted client changes nothing.
    assert login(srv, email, pw, "not an ip", client_id=lk.POST_ID,
        secret=lk.POST_SECRET).status_code == 200


@pytest.mark.parametrize("bad", ["not-an-ip", "198.51.100.1, 198.51.100.2",
    "198.51.100.1:443", "[2001:db8::1]", "999.1.1.1"])
def test_invalid_header_ip_from_trusted_client_is_400(srv, bad):
    email, pw, _ = new_user(srv)
    r = login(srv, email, pw, bad)
    err(r, 400, "invalid_request", "auth0-forwarded-for must be one IPv4 or IPv6 address")
    assert not [a for a in audit(srv) if a.get("user_name") == email]


# --- leaked passwords ------------------------------------------------------

def test_auth0_test_prefix_is_leaked_at_token_and_ro(srv):
    email, pw, _ = new_user(srv, pw="AUTH0-TEST-leaky-%s" % os.urandom(4).hex())
    ip = new_ip()
    err(login(srv, email, pw, ip), 401, "password_leaked", LEAKED_TOKEN_TEXT)
    r = pwl.ro(srv, connection=lk.DB1, username=email, password=pw)
    err(r, 401, "password_leaked", LEAKED_RO_TEXT)
    assert "\u2019".encode() in r.content
    # Checked only once the password verified: a wrong one is a failure.
    err(login(srv, email, "AUTH0-TEST-not-hers", ip), 403, "invalid_grant")
    types = [a["type"] for a in audit(srv) if a.get("user_name") == email]
    assert types == ["pwd_leak", "pwd_leak", "fp"], types


def test_breached_list_binary_search(srv, tmp_path):
    email, pw, _ = new_user(srv, pw="Summer-breached-%s" % os.urandom(4).hex())
    e2, pw2, _ = new_user(srv)
    mine = hashlib.sha1(pw.encode()).hexdigest().upper()
    rnd = random.Random(6)
    hashes = {"%040X" % rnd.getrandbits(160) for _ in range(100000)}
    hashes.add(mine)
    path = tmp_path / "pwned-passwords-sha1-ordered-by-hash.txt"
    path.write_text("".join("%s:%d\r\n" % (h, rnd.randint(1, 9999))
        for h in sorted(hashes)))
    ip = new_ip()
    assert login(srv, email, pw, ip).status_code == 200
    tenant_set(srv, "breached_password_file", str(path))
    try:
        err(login(srv, email, pw, ip), 401, "password_leaked", LEAKED_TOKEN_TEXT)
        err(pwl.ro(srv, connection=lk.DB1, username=email, password=pw), 401,
            "password_leaked", LEAKED_RO_TEXT)
        assert login(srv, e2, pw2, ip).status_code == 200
        tenant_set(srv, "breached_password_detection", "false")
        assert login(srv, email, pw, ip).status_code == 200
    finally:
        tenant_unset(srv, "breached_password_detection")
        tenant_unset(srv, "breached_password_file")
    assert login(srv, email, pw, ip).status_code == 200


# --- shared state across responder processes ------------------------------

def test_two_processes_share_one_counter_without_lost_increments(srv):
    email, pw, uid = new_user(srv)
    ip = new_ip()
    n = 48
    tenant_set(srv, "brute_force.threshold", 100)
    tenant_set(srv, "rate_limit.login_per_minute", 1000)
    try:
        assert len(srv._children()) >= 2, "lighttpd runs max-procs = 2 responders"
        with ThreadPoolExecutor(max_workers=16) as ex:
            rs = list(ex.map(lambda i: login(srv, email, "wrong-%d" % i, ip), range(n)))
        assert [r.status_code for r in rs] == [403] * n, [r.text for r in rs
            if r.status_code != 403][:3]
        rec, = guard_records(srv, "brute_force", identifier=email, ip=ip)
        assert rec["count"] == n and rec["blocked"] is False
        bucket, = guard_records(srv, "suspicious_ip", ip=ip)
        assert bucket["tokens"] == 100 - n
        evs = [a for a in audit(srv, type="fp") if a.get("user_name") == email]
        assert len(evs) == n
        pids = {e["pid"] for e in evs}
        assert len(pids) >= 2, "all requests were served by one process: %s" % pids
    finally:
        tenant_unset(srv, "rate_limit.login_per_minute")
        tenant_unset(srv, "brute_force.threshold")


def test_admin_commands_list_and_prune(srv):
    out = ctl_json(srv, "guard", "prune", "--now", str(int(time.time()) + 40 * 86400))
    assert out["deleted_records"] > 0
    assert ctl_json(srv, "guard", "list", "--now",
        str(int(time.time()) + 40 * 86400)) == []
    assert audit(srv) == []
    r = lk.ctl(srv.home, "guard", "unblock", check=False)
    assert r.returncode == 2
    r = lk.ctl(srv.home, "tenant", "set", "brute_force.threshold", "101", check=False)
    assert r.returncode == 2 and "threshold" in r.stderr
