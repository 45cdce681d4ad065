"""
Successful token requests: the password and password-realm grants, the
tokens they return (checked independently with PyJWT against the published
JWKS), the scope rules, ID tokens, and the ES256 tenant.
"""
import base64
import json
import re
import time
import urllib.parse
import uuid

import jwt
import pytest
import requests

import lk
from lk import (ALICE, API, API2, API_LIFETIME, API_SCOPES, DB1, DB2, POST_ID,
    password_form, realm_form)

SUB_RE = re.compile(r"^auth0\|[0-9A-Za-z]+$")
OIDC_ALL = {"openid", "profile", "email", "address", "phone"}


def ok(r):
    """The JSON body of a 200 token response, after the header checks."""
    assert r.status_code == 200, r.text
    assert r.headers["Content-Type"].startswith("application/json")
    assert r.headers.get("Cache-Control") == "no-store"
    assert r.headers.get("Pragma") == "no-cache"
    body = r.json()
    assert body["token_type"] == "Bearer"
    assert isinstance(body["expires_in"], int)
    return body


def scopes(s):
    return set(s.split())


def test_password_grant_issues_verifiable_access_token(server):
    before = int(time.time())
    body = ok(server.token(password_form(audience=API, scope="read:things")))
    at = body["access_token"]
    hdr = jwt.get_unverified_header(at)
    assert hdr["alg"] == "RS256" and hdr.get("typ") == "JWT" and hdr.get("kid")
    c = server.decode(at, audience=API)
    assert c["iss"] == server.issuer and server.issuer.endswith("/")
    assert c["aud"] == API
    assert SUB_RE.match(c["sub"]), c["sub"]
    assert c["azp"] == POST_ID
    assert c["gty"] == "password"
    assert c["scope"] == "read:things"
    assert before - 5 <= c["iat"] <= time.time() + 5
    assert c["exp"] - c["iat"] == API_LIFETIME
    assert body["expires_in"] == API_LIFETIME
    # Requested scope granted as asked: no "scope" echo, no ID token.
    assert "scope" not in body
    assert "id_token" not in body
    assert "refresh_token" not in body


def test_password_grant_json_body(server):
    body = ok(server.token(json_body=password_form(audience=API, scope="read:things")))
    assert server.decode(body["access_token"], audience=API)["scope"] == "read:things"


def test_content_type_charset_and_case_accepted(server):
    form = urllib.parse.urlencode(password_form(audience=API))
    ok(server.post("oauth/token", form, "application/x-www-form-urlencoded; charset=UTF-8"))
    ok(server.post("oauth/token", json.dumps(password_form(audience=API)),
        "application/json;charset=utf-8"))
    # RFC 9110 8.3.1: media types are case-insensitive.
    ok(server.post("oauth/token", form, "Application/X-WWW-Form-Urlencoded"))


def test_api_without_lifetime_gets_86400(server):
    body = ok(server.token(password_form(audience=API2)))
    c = server.decode(body["access_token"], audience=API2)
    assert c["exp"] - c["iat"] == 86400 and body["expires_in"] == 86400


def test_password_realm_grant(server):
    body = ok(server.token(realm_form(realm=DB2, username=lk.BOB, password=lk.BOB_PW,
        audience=API, scope="read:things")))
    c = server.decode(body["access_token"], audience=API)
    assert c["gty"] == "password-realm"
    assert c["azp"] == POST_ID
    assert SUB_RE.match(c["sub"])


def test_password_realm_grant_default_directory_as_realm(server):
    body = ok(server.token(realm_form(realm=DB1, audience=API)))
    assert server.decode(body["access_token"], audience=API)["gty"] == "password-realm"


def test_password_grant_with_realm_uses_realm(server):
    # auth0-auth-js sends grant_type=password with realm (docs/COMPAT.md 8): bob
    # exists only in DB2, so success proves the realm was used.
    f = password_form(username=lk.BOB, password=lk.BOB_PW, audience=API, realm=DB2)
    body = ok(server.token(f))
    server.decode(body["access_token"], audience=API)


def test_password_grant_with_realm_accepts_a_realm_only_client(server):
    # grant_type=password + realm is password-realm: a client allowed only
    # password-realm may send it (auth0-auth-js); without a realm it may not.
    f = password_form(client_id=lk.REALMONLY_ID, secret=lk.REALMONLY_SECRET,
        audience=API, realm=DB1)
    body = ok(server.token(f))
    assert server.decode(body["access_token"], audience=API)["gty"] == \
        "password-realm"
    del f["realm"]
    r = server.token(f)
    assert r.status_code == 403 and r.json()["error"] == "unauthorized_client"


def test_same_user_same_sub_across_grants(server):
    a = ok(server.token(password_form(audience=API)))
    b = ok(server.token(realm_form(realm=DB1, audience=API)))
    assert (server.decode(a["access_token"], audience=API)["sub"]
            == server.decode(b["access_token"], audience=API)["sub"])


def test_login_by_username_and_case_insensitive_email(server):
    a = ok(server.token(password_form(username=lk.ALICE_USERNAME, audience=API)))
    b = ok(server.token(password_form(username=ALICE.upper(), audience=API)))
    assert (server.decode(a["access_token"], audience=API)["sub"]
            == server.decode(b["access_token"], audience=API)["sub"])


@pytest.mark.parametrize("email,pw", [(lk.ERIN, lk.ERIN_PW), (lk.FRED, lk.FRED_PW)],
    ids=["bcrypt", "yescrypt"])
def test_imported_legacy_hash_logs_in_and_keeps_working(server, email, pw):
    if not any(u["email"] == email for u in server.tenant["users"]):
        pytest.skip("Python crypt module unavailable: no legacy hash imported")
    # First login verifies the crypt(3) hash (and rehashes to argon2id);
    # the second must work against whatever is stored now.
    ok(server.token(password_form(username=email, password=pw, audience=API)))
    ok(server.token(password_form(username=email, password=pw, audience=API)))
    r = server.token(password_form(username=email, password=pw + "x", audience=API))
    assert r.status_code == 403


def test_auth0_client_header_is_ignored(server):
    info = '{"name":"auth0.js","version":"9.0.0"}'
    # SDKs send base64url without padding, or padded base64.
    for v in (lk.b64url(info), base64.b64encode(info.encode()).decode(), "%%%"):
        ok(server.token(password_form(audience=API), headers={"Auth0-Client": v}))


def test_unknown_fields_are_ignored(server):
    ok(server.token(password_form(audience=API, foo="bar", nonce="n", state="s")))
    j = password_form(audience=API)
    j.update(extra=5, auth0Client={"name": "x"}, tags=["a"], nothing=None)
    ok(server.token(json_body=j))


def test_endpoint_under_a_prefix(server):
    body = ok(server.token(password_form(audience=API), path="auth/oauth/token"))
    server.decode(body["access_token"], audience=API)
    r = requests.get(server.url("auth/.well-known/jwks.json"), timeout=30)
    assert r.status_code == 200 and r.json()["keys"]


# --- scope rules (docs/COMPAT.md 3 "Scope / audience rules") -------

def test_no_api_scope_requested_grants_all_api_scopes(server):
    body = ok(server.token(password_form(audience=API)))
    assert scopes(body["scope"]) == set(API_SCOPES)
    c = server.decode(body["access_token"], audience=API)
    assert scopes(c["scope"]) == set(API_SCOPES)


def test_openid_alone_expands_and_scope_is_echoed(server):
    body = ok(server.token(password_form(audience=API, scope="openid")))
    assert scopes(body["scope"]) == OIDC_ALL | set(API_SCOPES)
    c = server.decode(body["access_token"], audience=[API, server.issuer + "userinfo"])
    assert c["aud"] == [API, server.issuer + "userinfo"]
    assert scopes(c["scope"]) == scopes(body["scope"])
    assert "id_token" in body


def test_unknown_api_scopes_are_dropped(server):
    body = ok(server.token(password_form(audience=API, scope="read:things delete:everything")))
    assert scopes(body["scope"]) == {"read:things"}
    assert server.decode(body["access_token"], audience=API)["scope"] == "read:things"


def test_explicit_oidc_and_api_scopes_not_echoed(server):
    body = ok(server.token(password_form(audience=API, scope="openid email read:things")))
    assert "scope" not in body
    c = server.decode(body["access_token"], audience=[API, server.issuer + "userinfo"])
    assert scopes(c["scope"]) == {"openid", "email", "read:things"}


def test_no_audience_token_is_for_userinfo_only(server):
    body = ok(server.token(password_form(scope="openid")))
    c = server.decode(body["access_token"], audience=server.issuer + "userinfo")
    assert c["aud"] == server.issuer + "userinfo"
    assert scopes(body["scope"]) == OIDC_ALL


# --- ID tokens -----------------------------------------------------------

def id_claims(server, body, client_id=POST_ID):
    it = body["id_token"]
    assert jwt.get_unverified_header(it)["alg"] == "RS256"
    return server.decode(it, audience=client_id)


def test_id_token_claims_follow_scope(server):
    body = ok(server.token(password_form(audience=API, scope="openid profile email")))
    at = server.decode(body["access_token"], audience=[API, server.issuer + "userinfo"])
    c = id_claims(server, body)
    assert c["aud"] == POST_ID
    assert c["iss"] == server.issuer
    assert c["sub"] == at["sub"]
    assert c["exp"] - c["iat"] == 36000
    assert c["name"] == "Alice Liddell"
    assert c["given_name"] == "Alice" and c["family_name"] == "Liddell"
    assert c["nickname"] == "ali"
    assert c["picture"] == "https://example.com/alice.png"
    assert "updated_at" in c
    assert c["email"] == ALICE and c["email_verified"] is True


def test_id_token_without_email_scope_has_no_email(server):
    body = ok(server.token(password_form(audience=API, scope="openid profile")))
    c = id_claims(server, body)
    assert c["name"] == "Alice Liddell"
    assert "email" not in c and "email_verified" not in c


def test_id_token_without_profile_scope_has_no_profile(server):
    body = ok(server.token(password_form(audience=API, scope="openid email")))
    c = id_claims(server, body)
    assert c["email"] == ALICE
    for k in ("name", "given_name", "family_name", "nickname", "picture"):
        assert k not in c, k


def test_no_id_token_without_openid(server):
    body = ok(server.token(password_form(audience=API, scope="profile email read:things")))
    assert "id_token" not in body


def test_hs256_id_token_verifies_with_raw_client_secret(server):
    body = ok(server.token(password_form(client_id=lk.HS_ID, secret=lk.HS_SECRET,
        audience=API, scope="openid email")))
    assert jwt.get_unverified_header(body["id_token"])["alg"] == "HS256"
    c = jwt.decode(body["id_token"], lk.HS_SECRET.encode(), algorithms=["HS256"],
        audience=lk.HS_ID, issuer=server.issuer)
    assert c["email"] == ALICE
    # The access token is still signed with the tenant key.
    server.decode(body["access_token"], audience=[API, server.issuer + "userinfo"])


def test_public_client_id_token_is_rs256(server):
    body = ok(server.token(password_form(client_id=lk.PUBLIC_ID, secret=None,
        audience=API, scope="openid")))
    id_claims(server, body, client_id=lk.PUBLIC_ID)


# --- admin changes reach the running server -------------------------------

def _user_cmd(server, verb, user_id, **kw):
    p = lk.ctl(server.home, "user", verb, user_id, check=False, **kw)
    if p.returncode != 0 and "|" in user_id:
        p = lk.ctl(server.home, "user", verb, user_id.split("|", 1)[1], check=False, **kw)
    assert p.returncode == 0, p.stdout + p.stderr
    return p


def test_admin_block_unblock_and_password_change_take_effect(server):
    f = password_form(username=lk.DORA, password=lk.DORA_PW, audience=API)
    sub = server.decode(ok(server.token(f))["access_token"], audience=API)["sub"]
    _user_cmd(server, "block", sub)
    r = server.token(f)
    assert r.status_code == 401, r.text
    assert r.json() == {"error": "unauthorized", "error_description": "user is blocked"}
    _user_cmd(server, "unblock", sub)
    ok(server.token(f))
    new_pw = "dora new password 2 " + uuid.uuid4().hex
    _user_cmd(server, "set-password", sub, input=new_pw + "\n")
    assert server.token(f).status_code == 403
    ok(server.token(password_form(username=lk.DORA, password=new_pw, audience=API)))


# --- the ES256 tenant: own home, no default directory, default audience ---

def test_es256_tenant_signs_access_tokens_with_es256(es256_server):
    s = es256_server
    body = ok(s.token(realm_form(realm=DB1, audience=API, scope="read:things")))
    c = s.decode(body["access_token"], audience=API, alg="ES256")
    assert c["gty"] == "password-realm" and c["scope"] == "read:things"
    assert any(k.get("kty") == "EC" and k.get("crv") == "P-256" for k in s.jwks()["keys"])


def test_es256_tenant_id_token(es256_server):
    s = es256_server
    body = ok(s.token(realm_form(realm=DB1, audience=API, scope="openid email")))
    hdr = jwt.get_unverified_header(body["id_token"])
    assert hdr["alg"] == "ES256"
    c = s.decode(body["id_token"], audience=POST_ID, alg="ES256")
    assert c["email"] == ALICE


def test_default_audience_applies_without_audience(es256_server):
    s = es256_server
    body = ok(s.token(realm_form(realm=DB1)))
    c = s.decode(body["access_token"], audience=API2, alg="ES256")
    assert c["aud"] == API2
    assert c["scope"] == "read:other"


def test_password_grant_without_default_directory_is_500(es256_server):
    r = es256_server.token(password_form(audience=API))
    assert r.status_code == 500, r.text
    assert r.json() == {"error": "server_error",
        "error_description": "Authorization server not configured with default connection."}
