"""
/userinfo through the real web server (OpenID Connect Core 5.3, RFC 6750,
docs/COMPAT.md 4): JWT access tokens whose audience includes
<issuer>userinfo and opaque /oauth/ro tokens are answered with claims by
scope; every bad token gets 401 with a WWW-Authenticate challenge.
"""
import base64
import json

import jwt
import pytest

import lk
import lk_refresh as R
from lk_refresh import OFFLINE_API, SHORT_API


@pytest.fixture(scope="module")
def us():
    with R.serving("userinfo") as s:
        yield s


def challenge(r, status=401, error="invalid_token", why=None):
    assert r.status_code == status, r.text
    h = r.headers["WWW-Authenticate"]
    assert h.startswith('Bearer realm="%s"' % us_issuer[0]), h
    body = lk.error_body(r)
    if error is None:
        assert "error=" not in h
    else:
        assert 'error="%s"' % error in h
        assert body["error"] == error
    if why is not None:
        assert why in body["error_description"], body
    return body


us_issuer = [None]


@pytest.fixture(autouse=True)
def _issuer(us):
    us_issuer[0] = us.issuer


@pytest.mark.parametrize("method", ["GET", "POST"])
def test_jwt_access_token_gets_claims_by_scope(us, method):
    b = R.login(us, user="gina", scope="openid email read:things")
    r = R.userinfo(us, b["access_token"], method=method)
    assert r.status_code == 200, r.text
    assert r.json() == {"sub": R.user_id(us, "gina"), "email": "gina@example.com",
                        "email_verified": True}
    b = R.login(us, user="gina", scope="openid profile")
    c = R.userinfo(us, b["access_token"]).json()
    assert c["name"] == "Gina" and "email" not in c


def test_token_without_api_is_for_userinfo(us):
    b = R.login(us, user="gina", audience=None, scope="openid")
    c = R.userinfo(us, b["access_token"]).json()
    assert c["email"] == "gina@example.com" and c["name"] == "Gina"


def test_refresh_grant_access_token_works(us):
    t = R.login(us, user="gina")["refresh_token"]
    at = R.refresh(us, t).json()["access_token"]
    assert R.userinfo(us, at).json()["sub"] == R.user_id(us, "gina")


def test_claims_are_read_from_the_user_as_it_is_now(us):
    b = R.login(us, user="mona", scope="openid profile")
    lk.ctl(us.home, "user", "update", R.user_id(us, "mona"), "--name", "Mona Lisa")
    assert R.userinfo(us, b["access_token"]).json()["name"] == "Mona Lisa"


def test_opaque_oauth_ro_token(us):
    b = R.ro_login(us, "gina", device=None, scope="openid email")
    assert "." not in b["access_token"]
    r = R.userinfo(us, b["access_token"])
    assert r.status_code == 200, r.text
    assert r.json() == {"sub": R.user_id(us, "gina"), "email": "gina@example.com",
                        "email_verified": True}
    challenge(R.userinfo(us, "B" * 43), why="unknown")


def test_missing_or_other_credentials_get_a_bare_challenge(us):
    for authz in (None, "Basic " + base64.b64encode(b"a:b").decode(), "Bearerx y"):
        challenge(R.userinfo(us, authorization=authz), error=None)


@pytest.mark.parametrize("authz", ["Bearer", "Bearer a b", "Bearer a\"b", "Bearer  "])
def test_malformed_authorization_is_400(us, authz):
    r = R.userinfo(us, authorization=authz)
    challenge(r, status=400, error="invalid_request")


def test_wrong_audience(us):
    at = R.login(us, user="gina", scope="read:things")["access_token"]
    assert jwt.decode(at, options={"verify_signature": False})["aud"] == OFFLINE_API
    challenge(R.userinfo(us, at), why="audience")
    idt = R.login(us, user="gina", scope="openid")["id_token"]
    challenge(R.userinfo(us, idt), why="audience")	# aud is the client


def test_no_openid_is_insufficient_scope(us):
    at = R.login(us, user="gina", audience=None, scope="email")["access_token"]
    r = R.userinfo(us, at)
    challenge(r, status=403, error="insufficient_scope")
    assert 'scope="openid"' in r.headers["WWW-Authenticate"]


def test_expired_token(us):
    at = R.login(us, user="gina", audience=SHORT_API, scope="openid")["access_token"]
    exp = jwt.decode(at, options={"verify_signature": False})["exp"]
    R.wait_until(exp + 0.1)
    challenge(R.userinfo(us, at), why="expired")


def test_bad_signatures_and_algorithms(us):
    at = R.login(us, user="gina", scope="openid")["access_token"]
    h, p, sig = at.split(".")
    flipped = sig[:-4] + ("AAAA" if sig[-4:] != "AAAA" else "BBBB")
    challenge(R.userinfo(us, "%s.%s.%s" % (h, p, flipped)), why="signature")
    claims = jwt.decode(at, options={"verify_signature": False})
    kid = jwt.get_unverified_header(at)["kid"]
    # The same claims signed by a stranger's key under our kid.
    forged = jwt.encode(claims, lk.new_rsa_key(), algorithm="RS256",
        headers={"kid": kid})
    challenge(R.userinfo(us, forged), why="signature")
    hs = jwt.encode(claims, "secret", algorithm="HS256", headers={"kid": kid})
    challenge(R.userinfo(us, hs))
    none = (lk.b64url(json.dumps({"alg": "none", "kid": kid})) + "." + p + ".")
    challenge(R.userinfo(us, none))
    challenge(R.userinfo(us, "a.b.c"), why="malformed")


def test_other_issuer(us):
    at = R.login(us, user="gina", scope="openid")["access_token"]
    claims = jwt.decode(at, options={"verify_signature": False})
    assert claims["iss"] == us.issuer
    # Re-signing is impossible from outside: check the claim through a
    # token whose signature is fine but whose issuer is another tenant's.
    with R.serving("userinfo-other") as other:
        ot = R.login(other, user="gina", scope="openid")["access_token"]
    challenge(R.userinfo(us, ot), why="unknown key")


def test_blocked_and_deleted_users(us):
    at = R.login(us, user="liam", scope="openid")["access_token"]
    uid = R.user_id(us, "liam")
    lk.ctl(us.home, "user", "block", uid)
    challenge(R.userinfo(us, at), why="blocked")
    lk.ctl(us.home, "user", "remove", uid)
    challenge(R.userinfo(us, at), why="no longer exists")


def test_userinfo_answers_are_not_cached(us):
    at = R.login(us, user="gina", scope="openid")["access_token"]
    r = R.userinfo(us, at)
    assert r.headers["Cache-Control"] == "no-store"
    r = lk.requests.put(us.url("userinfo"), timeout=30)
    assert r.status_code == 405 and r.headers["Allow"] == "GET, POST"
