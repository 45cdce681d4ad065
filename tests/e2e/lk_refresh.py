"""
The tenant for the token-lifecycle tests (refresh tokens, /oauth/revoke,
/userinfo, key rotation): lk's test tenant plus APIs that allow offline
access and clients with the refresh_token grant and each rotation and
lifetime setting.  Each test module gets its own server (its own home),
so revocations and key rotations in one module cannot disturb another.
"""
import contextlib
import json
import time
import urllib.parse

import pytest
import requests

import lk
from lk import DB1, GRANT_PASSWORD, GRANT_REALM

OFFLINE_API = "https://offline.test.latchkey/"
OFFLINE_SCOPES = ["read:things", "write:things", "delete:things"]
SHORT_API = "https://short.test.latchkey/"	# access tokens live 1 s

REFRESH = "refresh_token"
ALL_GRANTS = [GRANT_PASSWORD, GRANT_REALM, REFRESH]

# Clients: (client_id, secret or None for a public client, refresh_token
# settings).  The secrets are 24+ characters of test-only randomness.
ROT_ID, ROT_SECRET = "rt-rotating", "rt-rotating-secret-Qm3Xv8Lp2Wd5"
STATIC_ID, STATIC_SECRET = "rt-static", "rt-static-secret-Hb6Ny1Tc9Rk4"
ROT2_ID, ROT2_SECRET = "rt-rotating-2", "rt-rotating-2-secret-Zs7Uq0Je3Mf6"
SHORT_ID, SHORT_SECRET = "rt-short", "rt-short-secret-Vk2Pw5Ga8Dy1"
IDLE_ID, IDLE_SECRET = "rt-idle", "rt-idle-secret-Lc4Ro7Bx0Hn3"
LEEWAY_ID, LEEWAY_SECRET = "rt-leeway", "rt-leeway-secret-Ef9Ts2Wm5Qa8"
PUB_ID = "rt-public"
LEGACY_ID = "rt-legacy"		# public, /oauth/ro + refresh_token
RO_GRANT = "http://auth0.com/oauth/legacy/grant-type/ro"
NOGRANT_ID, NOGRANT_SECRET = lk.POST_ID, lk.POST_SECRET	# no refresh_token grant

CLIENTS = [
    (ROT_ID, ROT_SECRET, {"rotation_type": "rotating"}),
    (ROT2_ID, ROT2_SECRET, {"rotation_type": "rotating"}),
    (STATIC_ID, STATIC_SECRET, {"rotation_type": "non-rotating"}),
    (SHORT_ID, SHORT_SECRET, {"rotation_type": "rotating", "token_lifetime": 3,
        "idle_token_lifetime": 1000}),
    (IDLE_ID, IDLE_SECRET, {"rotation_type": "non-rotating",
        "token_lifetime": 1000, "idle_token_lifetime": 3}),
    (LEEWAY_ID, LEEWAY_SECRET, {"rotation_type": "rotating", "leeway": 30}),
    (PUB_ID, None, {"rotation_type": "rotating"}),
    (LEGACY_ID, None, {"rotation_type": "non-rotating"}),
]

# Users of their own, so blocking, deleting or re-passwording one in a
# test leaves the others alone.
USERS = {name: ("%s@example.com" % name, "%s-pw-Kq8Wz3Rt6Yb1" % name)
    for name in ("gina", "hank", "ivy", "jack", "kate", "liam", "mona",
                 "nick", "olga", "paul", "quin", "rosa")}


def customise(s):
    """Add the lifecycle APIs, clients and users to s's tenant file."""
    t = s.tenant
    t["apis"] += [
        {"identifier": OFFLINE_API, "name": "Offline API", "scopes": OFFLINE_SCOPES,
         "token_lifetime": 3600, "allow_offline_access": True},
        {"identifier": SHORT_API, "name": "Short API", "scopes": ["read:short"],
         "token_lifetime": 1, "allow_offline_access": True},
    ]
    for cid, secret, rt in CLIENTS:
        c = {"name": cid, "client_id": cid, "refresh_token": rt,
             "grant_types": ALL_GRANTS + ([RO_GRANT] if cid == LEGACY_ID else [])}
        if secret:
            c.update(client_secret=secret, app_type="regular_web",
                token_endpoint_auth_method="client_secret_post")
        else:
            c.update(app_type="native", token_endpoint_auth_method="none")
        t["clients"].append(c)
        t["connections"][0]["enabled_clients"].append(cid)
    for name, (email, pw) in USERS.items():
        t["users"].append({"connection": DB1, "email": email, "password": pw,
            "name": name.title(), "email_verified": True})
    s.tenant_file.write_text(json.dumps(t, indent=1))


@contextlib.contextmanager
def serving(name):
    """A started server with the lifecycle tenant; stopped (and its log
    checked for sanitizer reports) at the end."""
    s = lk.Server(name)
    customise(s)
    try:
        s.start()
    except BaseException:
        s.stop()
        s.cleanup()
        raise
    try:
        yield s
    finally:
        s.stop()
        found = s.sanitizer_reports()
        if found:
            pytest.fail("sanitizer report (%s); log kept in %s:\n%s" % (
                ", ".join(found), s.tmp, s.log()[-8000:]), pytrace=False)
        s.cleanup()


def secret_of(client_id):
    for cid, secret, _ in CLIENTS:
        if cid == client_id:
            return secret
    return lk.POST_SECRET if client_id == lk.POST_ID else None


def login(s, user="gina", client_id=ROT_ID, audience=OFFLINE_API,
        scope="openid profile email offline_access", **extra):
    """A password grant; returns the JSON body after checking 200."""
    email, pw = USERS[user] if user in USERS else (user, extra.pop("password"))
    f = lk.password_form(client_id=client_id, secret=secret_of(client_id),
        username=email, password=pw, audience=audience, scope=scope, **extra)
    r = s.token(f)
    assert r.status_code == 200, r.text
    return r.json()


def ro_login(s, user, device="phone", scope="openid offline_access"):
    """A legacy /oauth/ro login with a device; the JSON body."""
    email, pw = USERS[user]
    body = {"client_id": LEGACY_ID, "connection": DB1, "grant_type": "password",
            "username": email, "password": pw, "scope": scope}
    if device is not None:
        body["device"] = device
    r = s.post("oauth/ro", json.dumps(body), "application/json")
    assert r.status_code == 200, r.text
    return r.json()


def refresh_form(token, client_id=ROT_ID, secret="default", **extra):
    f = {"grant_type": REFRESH, "refresh_token": token, "client_id": client_id}
    secret = secret_of(client_id) if secret == "default" else secret
    if secret is not None:
        f["client_secret"] = secret
    f.update({k: v for k, v in extra.items() if v is not None})
    return f


def refresh(s, token, client_id=ROT_ID, **extra):
    return s.token(refresh_form(token, client_id, **extra))


def revoke(s, token, client_id=ROT_ID, secret="default", **extra):
    f = {"client_id": client_id, "token": token}
    secret = secret_of(client_id) if secret == "default" else secret
    if secret is not None:
        f["client_secret"] = secret
    f.update(extra)
    return s.post("oauth/revoke", urllib.parse.urlencode(f),
        "application/x-www-form-urlencoded")


def userinfo(s, token=None, method="GET", authorization=None):
    h = {}
    if authorization is not None:
        h["Authorization"] = authorization
    elif token is not None:
        h["Authorization"] = "Bearer " + token
    return requests.request(method, s.url("userinfo"), headers=h, timeout=30)


def user_id(s, user):
    out = lk.ctl(s.home, "user", "find", "--connection", DB1, USERS[user][0]).stdout
    return json.loads(out)["user_id"]


def ctl_json(s, *args, **kw):
    return json.loads(lk.ctl(s.home, *args, **kw).stdout)


def wait_until(t):
    """Sleep until the wall clock passes epoch second t."""
    while time.time() < t:
        time.sleep(min(0.2, max(0.01, t - time.time())))
