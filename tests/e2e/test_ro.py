"""
The legacy POST /oauth/ro through the real web server: every request form
of the seeds (the database connection's JSON request with all eight
fields, the SMS connection's), form bodies, unknown fields, the stray
Authorization header, the legacy success shape (opaque access token that
/userinfo takes, ID token claims by scope, refresh token only with
offline_access and a device), the jwt-bearer re-login, and each row of
Auth0's legacy error table (docs/COMPAT.md 1).
"""
import re
import time

import jwt
import pytest
import requests

import lk
import pwl
from pwl import RO_ID, RO_GRANT, RO_JWT_GRANT, JWT_BEARER, ro

BASE_CLAIMS = {"iss", "sub", "aud", "iat", "exp"}
OPAQUE_RE = re.compile(r"^[A-Za-z0-9_-]{43}$")


def _next_second():
    later = int(time.time()) + 1
    while time.time() < later:
        time.sleep(0.05)


@pytest.fixture(scope="module")
def srv():
    s = pwl.serve("ro")
    # The import stamped each user's password_set_at: an id_token of that
    # very second would count as older than the password (lib/grants/ro.c).
    _next_second()
    yield s
    pwl.finish(s)


def ok(r):
    assert r.status_code == 200, r.text
    assert r.headers["Content-Type"].startswith("application/json")
    assert r.headers.get("Cache-Control") == "no-store"
    assert r.headers.get("Pragma") == "no-cache"
    body = r.json()
    assert body["token_type"] == "Bearer"
    # Opaque: random, not a JWT (only /userinfo takes it).
    assert OPAQUE_RE.match(body["access_token"]), body["access_token"]
    return body


def err(r, status, code, desc):
    assert r.status_code == status, r.text
    assert lk.error_body(r) == {"error": code, "error_description": desc}


def idt(srv, body):
    return srv.decode(body["id_token"], audience=RO_ID)


# --- the seed's request forms --------------------------------------------

def test_seed_database_request_all_eight_fields(srv):
    # Seed 000/001: Content-Type application/json with client_id,
    # connection, grant_type, username, password, scope, id_token, device.
    body = ok(ro(srv, connection=lk.DB1, username=lk.ALICE,
        password=lk.ALICE_PW, scope="openid", id_token="", device=""))
    c = idt(srv, body)
    assert set(c) == BASE_CLAIMS, c
    assert c["aud"] == RO_ID and c["iss"] == srv.issuer
    assert c["sub"].startswith("auth0|")
    assert "refresh_token" not in body


def test_seed_sms_request(srv):
    # Seed 001 "SMS": connection sms, username the phone, password the code.
    phone = pwl.unique_phone()
    assert pwl.start(srv, pwl.SMS, phone_number=phone).status_code == 200
    body = ok(ro(srv, connection="sms", username=phone,
        password=pwl.last_code(srv, phone), scope="openid"))
    c = idt(srv, body)
    assert re.match(r"^sms\|[0-9a-f]{24}$", c["sub"]), c["sub"]


def test_username_may_be_the_username(srv):
    ok(ro(srv, connection=lk.DB1, username=lk.ALICE_USERNAME,
        password=lk.ALICE_PW, scope="openid"))


def test_form_encoded_body(srv):
    # auth0.js v7 posted a form (reqwest's default).
    body = ok(ro(srv, form=True, connection=lk.DB1, username=lk.ALICE,
        password=lk.ALICE_PW, scope="openid"))
    assert idt(srv, body)["sub"].startswith("auth0|")


def test_unknown_fields_ignored(srv):
    # auth0.js v7 merged its options into the body; a secret is ignored
    # too (this legacy flow never authenticates the client).
    ok(ro(srv, connection=lk.DB1, username=lk.ALICE, password=lk.ALICE_PW,
        scope="openid", client_secret="not checked", sso=False,
        response_type="token", callbackURL="https://x/cb", nested={"a": 1}))


@pytest.mark.parametrize("authz", ["Bearer eyJhbGciOiJIUzI1NiJ9.e30.x",
    "Bearer <token>", "Basic Z2FyYmFnZQ=="])
def test_stray_authorization_header_ignored(srv, authz):
    # Seed 002's curl example sends "Authorization: Bearer <token>".
    ok(ro(srv, headers={"Authorization": authz}, connection=lk.DB1,
        username=lk.ALICE, password=lk.ALICE_PW, scope="openid"))


# --- the success shape ---------------------------------------------------

@pytest.mark.parametrize("scope,expect,absent", [
    ("openid", set(), {"name", "email", "nickname"}),
    ("openid profile", {"name", "given_name", "family_name", "nickname",
        "picture", "updated_at"}, {"email", "email_verified"}),
    ("openid email", {"email", "email_verified"}, {"name", "nickname"}),
    # The seed's example scope "openid name email": name is an attribute.
    ("openid name email", {"name", "email", "email_verified"}, {"nickname"}),
    # Legacy attribute scopes: top-level attribute, user_metadata and
    # app_metadata keys, and a whole metadata object.
    ("openid favorite_color plan nickname", {"favorite_color", "plan",
        "nickname"}, {"name", "email"}),
    ("openid app_metadata", {"app_metadata"}, {"plan"}),
    # Attribute scopes cannot set the token's own claims or secrets.
    ("openid sub aud password_hash nosuchattribute", set(),
        {"password_hash", "nosuchattribute"}),
])
def test_id_token_claims_follow_scope(srv, scope, expect, absent):
    body = ok(ro(srv, connection=lk.DB1, username=lk.ALICE,
        password=lk.ALICE_PW, scope=scope))
    c = idt(srv, body)
    assert set(c) == BASE_CLAIMS | expect, c
    assert not (set(c) & absent)
    assert c["aud"] == RO_ID
    if "favorite_color" in c:
        assert c["favorite_color"] == "blue" and c["plan"] == "gold"
    if "app_metadata" in c:
        assert c["app_metadata"] == {"plan": "gold"}
    if "email" in c:
        assert c["email"] == lk.ALICE and c["email_verified"] is True


def test_id_token_lifetime_and_signature(srv):
    body = ok(ro(srv, connection=lk.DB1, username=lk.ALICE,
        password=lk.ALICE_PW, scope="openid"))
    hdr = jwt.get_unverified_header(body["id_token"])
    assert hdr["alg"] == "RS256" and hdr["kid"]
    c = idt(srv, body)
    assert c["exp"] - c["iat"] == 36000


def test_absent_scope_is_openid(srv):
    body = ok(ro(srv, connection=lk.DB1, username=lk.ALICE,
        password=lk.ALICE_PW))
    assert set(idt(srv, body)) == BASE_CLAIMS


def test_no_openid_no_id_token(srv):
    body = ok(ro(srv, connection=lk.DB1, username=lk.ALICE,
        password=lk.ALICE_PW, scope="profile"))
    assert "id_token" not in body


def test_access_token_is_opaque_and_works_at_userinfo(srv):
    body = ok(ro(srv, connection=lk.DB1, username=lk.ALICE,
        password=lk.ALICE_PW, scope="openid email"))
    sub = idt(srv, body)["sub"]
    r = requests.get(srv.url("userinfo"), timeout=30,
        headers={"Authorization": "Bearer " + body["access_token"]})
    assert r.status_code == 200, r.text
    assert r.json()["sub"] == sub and r.json()["email"] == lk.ALICE
    # Two logins, two different random tokens.
    again = ok(ro(srv, connection=lk.DB1, username=lk.ALICE,
        password=lk.ALICE_PW, scope="openid"))
    assert again["access_token"] != body["access_token"]
    # Only the token itself: one character changed and it is unknown.
    at = body["access_token"]
    tampered = at[:-1] + ("B" if at[-1] == "A" else "A")
    r = requests.get(srv.url("userinfo"), timeout=30,
        headers={"Authorization": "Bearer " + tampered})
    assert r.status_code == 401


def test_refresh_token_needs_offline_access_and_device(srv):
    base = dict(connection=lk.DB1, username=lk.ALICE, password=lk.ALICE_PW)
    body = ok(ro(srv, scope="openid offline_access", device="my iPhone", **base))
    assert body.get("refresh_token"), body
    assert "refresh_token" not in ok(ro(srv, scope="openid offline_access", **base))
    assert "refresh_token" not in ok(ro(srv, scope="openid", device="my iPhone", **base))


# --- jwt-bearer: re-login with an id_token we issued ------------------------

def _id_token(srv):
    return ok(ro(srv, connection=lk.DB1, username=lk.ALICE,
        password=lk.ALICE_PW, scope="openid"))["id_token"]


def test_jwt_bearer_relogin(srv):
    tok = _id_token(srv)
    body = ok(ro(srv, grant_type=JWT_BEARER, id_token=tok, device="Touch ID",
        scope="openid email", connection=lk.DB1))
    c = idt(srv, body)
    assert c["sub"] == jwt.decode(tok, options={"verify_signature": False})["sub"]
    assert c["email"] == lk.ALICE


@pytest.mark.parametrize("fields,status,code,desc", [
    ({"id_token": "x.y.z"}, 400, "invalid_request", "missing device parameter"),
    ({"device": "d"}, 400, "invalid_request", "missing id_token parameter"),
    ({"device": "d", "id_token": "not-a-jwt"}, 400, "invalid_grant",
        "invalid id_token"),
])
def test_jwt_bearer_errors(srv, fields, status, code, desc):
    err(ro(srv, grant_type=JWT_BEARER, **fields), status, code, desc)


def test_jwt_bearer_refuses_foreign_or_tampered_tokens(srv):
    tok = _id_token(srv)
    # Signed by a key that is not ours (same kid, same claims).
    claims = jwt.decode(tok, options={"verify_signature": False})
    kid = jwt.get_unverified_header(tok)["kid"]
    forged = jwt.encode(claims, lk.new_rsa_key(), algorithm="RS256",
        headers={"kid": kid})
    # Ours, but for another client.
    other = ok(lk.Server.token(srv, json_body={"client_id": pwl.NOOTP_ID,
        "grant_type": "password", "connection": lk.DB1, "username": lk.ALICE,
        "password": lk.ALICE_PW, "scope": "openid"}, path="oauth/ro"))
    # An HS256 "none"-like downgrade.
    hs = jwt.encode(claims, "secret", algorithm="HS256", headers={"kid": kid})
    head, payload, sig = tok.split(".")
    tampered = head + "." + lk.b64url(b'{"sub":"auth0|x"}') + "." + sig
    for bad in (forged, other["id_token"], hs, tampered):
        err(ro(srv, grant_type=JWT_BEARER, id_token=bad, device="d"), 400,
            "invalid_grant", "invalid id_token")


def test_jwt_bearer_refuses_an_id_token_from_before_a_new_password(srv):
    """A new password ends the sessions begun with the old (as for refresh
    tokens): an id_token issued before `latchkeyctl user set-password`
    no longer mints sessions, with the bad-id_token answer.  The clock is
    in whole seconds and an id_token of the very second the password was
    set counts as older, so the login after set-password waits for a
    later second (the fixture waited out the import's stamp)."""
    tok = ok(ro(srv, connection=lk.DB1, username=lk.DORA,
        password=lk.DORA_PW, scope="openid"))["id_token"]
    ok(ro(srv, grant_type=JWT_BEARER, id_token=tok, device="d"))
    uid = jwt.decode(tok, options={"verify_signature": False})["sub"]
    new_pw = "dora-new-pw-Xc5Vb8Nm1Qa4"
    lk.ctl(srv.home, "user", "set-password", uid, input=new_pw + "\n")
    err(ro(srv, grant_type=JWT_BEARER, id_token=tok, device="d"), 400,
        "invalid_grant", "invalid id_token")
    # One issued after the change (a later second) works.
    _next_second()
    fresh = ok(ro(srv, connection=lk.DB1, username=lk.DORA, password=new_pw,
        scope="openid"))["id_token"]
    ok(ro(srv, grant_type=JWT_BEARER, id_token=fresh, device="d"))


def test_jwt_bearer_refuses_an_access_token(srv):
    """An access token latchkey signed is not an id_token, even when its
    aud names the client (an API whose identifier is the client_id)."""
    lk.ctl(srv.home, "api", "add", RO_ID, "--name", "Confusable",
        "--scopes", "read:x")
    try:
        r = srv.token(lk.password_form(audience=RO_ID, scope="read:x"))
        assert r.status_code == 200, r.text
        at = r.json()["access_token"]
        assert srv.decode(at, audience=RO_ID)["scope"] == "read:x"
        err(ro(srv, grant_type=JWT_BEARER, id_token=at, device="d"), 400,
            "invalid_grant", "invalid id_token")
    finally:
        lk.ctl(srv.home, "api", "remove", RO_ID)


def test_jwt_bearer_needs_its_own_grant(srv):
    # NOOTP_ID holds only the password legacy grant.
    tok = _id_token(srv)
    err(ro(srv, client_id=pwl.NOOTP_ID, grant_type=JWT_BEARER, id_token=tok,
        device="d"), 403, "unauthorized_client",
        "Grant type '%s' not allowed for the client." % RO_JWT_GRANT)


# --- the legacy error table -------------------------------------------------

DB = dict(connection=lk.DB1, username=lk.ALICE, password=lk.ALICE_PW)


def _without(**drop):
    d = dict(DB)
    for k in drop:
        d.pop(k)
    return d


@pytest.mark.parametrize("fields,status,code,desc", [
    (_without(username=1), 400, "invalid_request", "missing username parameter"),
    (_without(password=1), 400, "invalid_request", "missing password parameter"),
    (_without(connection=1), 400, "invalid_request", "missing connection parameter"),
    (dict(DB, scope=["openid"]), 400, "invalid_request",
        "scope parameter must be a string"),
    (dict(DB, password="wrong password"), 401, "invalid_user_password",
        "Wrong email or password."),
    (dict(DB, username="nobody@example.com"), 401, "invalid_user_password",
        "Wrong email or password."),
    (dict(connection=lk.DB1, username=lk.CAROL, password=lk.CAROL_PW), 401,
        "unauthorized", "user is blocked"),
    (dict(DB, client_id=None), 400, "invalid_request",
        "missing client_id parameter"),
    (dict(DB, connection="no-such-connection"), 400, "invalid_request",
        "the connection was not found"),
    (dict(DB, connection=lk.DB2), 400, "invalid_request",
        "the connection was disabled"),
    (dict(DB, connection=pwl.SMS_OFF), 400, "invalid_request",
        "the connection was disabled"),
    (dict(DB, client_id="no-such-client"), 403, "unauthorized_client",
        "invalid client"),
    (dict(DB, client_id=pwl.RO_NOGRANT_ID), 403, "unauthorized_client",
        "Grant type '%s' not allowed for the client." % RO_GRANT),
    (dict(DB, grant_type=None), 400, "invalid_request",
        "missing grant_type parameter"),
    (dict(DB, grant_type="client_credentials"), 400, "unsupported_grant_type",
        "grant_type must be password or urn:ietf:params:oauth:grant-type:"
        "jwt-bearer, not client_credentials"),
])
def test_legacy_error_rows(srv, fields, status, code, desc):
    body = {"client_id": RO_ID, "grant_type": "password"}
    body.update(fields)
    body = {k: v for k, v in body.items() if v is not None}
    err(srv.token(json_body=body, path="oauth/ro"), status, code, desc)


def test_wrong_code_rows_for_passwordless_connections(srv):
    err(ro(srv, connection=pwl.SMS, username=pwl.unique_phone(),
        password="123456"), 401, "invalid_user_password",
        "Wrong phone number or verification code.")
    err(ro(srv, connection=pwl.EMAIL, username=pwl.unique_email(),
        password="123456"), 401, "invalid_user_password",
        "Wrong email or verification code.")
    # Not a phone number at all: the same answer.
    err(ro(srv, connection=pwl.SMS, username="not a phone", password="1"),
        401, "invalid_user_password", "Wrong phone number or verification code.")


def test_blocked_passwordless_user(srv):
    # No code is ever sent to an admin-blocked user, so no exchange works.
    assert pwl.start(srv, pwl.SMS, phone_number=pwl.BLOCKED_PHONE).status_code == 200
    assert not [c for c in pwl.codes(srv) if c[0] == pwl.BLOCKED_PHONE]


def test_tenant_switch_turns_the_endpoint_off(srv):
    lk.ctl(srv.home, "tenant", "set", "allow_legacy_ro", "false")
    try:
        err(ro(srv, **DB), 403, "unauthorized_client",
            "Grant type '%s' not allowed for the client." % RO_GRANT)
        assert "allow_legacy_ro is false" in srv.log()
    finally:
        lk.ctl(srv.home, "tenant", "set", "allow_legacy_ro", "true")
    ok(ro(srv, scope="openid", **DB))


def test_wrong_method(srv):
    r = requests.get(srv.url("oauth/ro"), timeout=30)
    assert r.status_code == 405 and r.headers["Allow"] == "POST"


def test_no_secret_in_log(srv):
    ok(ro(srv, **DB))
    log = srv.log()
    assert lk.ALICE_PW not in log
