"""
POST /oauth/revoke through the real web server (RFC 7009,
docs/COMPAT.md 5): the client authenticates; a refresh token is
revoked with its whole family; unknown tokens and other clients' tokens
get the same 200 and nothing happens to them.
"""
import json

import pytest

import lk
import lk_refresh as R
from lk_refresh import PUB_ID, ROT2_ID, ROT_ID


@pytest.fixture(scope="module")
def vs():
    with R.serving("revoke") as s:
        yield s


def dead(s, token, client_id=ROT_ID):
    r = R.refresh(s, token, client_id=client_id)
    assert r.status_code == 403, r.text
    assert lk.error_body(r)["error_description"] == "Unknown or invalid refresh token."


def test_revoke_answers_200_empty_and_ends_the_family(vs):
    t1 = R.login(vs)["refresh_token"]
    t2 = R.refresh(vs, t1).json()["refresh_token"]
    r = R.revoke(vs, t2)
    assert r.status_code == 200 and r.content == b""
    assert r.headers["Cache-Control"] == "no-store"
    dead(vs, t2)
    # Revoking the spent predecessor ends a family too.
    t3 = R.login(vs)["refresh_token"]
    t4 = R.refresh(vs, t3).json()["refresh_token"]
    assert R.revoke(vs, t3, token_type_hint="refresh_token").status_code == 200
    dead(vs, t4)


def test_unknown_token_is_200(vs):
    for tok in ("A" * 43, "not-a-token", R.login(vs)["access_token"]):
        r = R.revoke(vs, tok, token_type_hint="access_token")
        assert r.status_code == 200 and r.content == b""


def test_another_clients_token_is_200_but_untouched(vs):
    t = R.login(vs)["refresh_token"]
    assert R.revoke(vs, t, client_id=ROT2_ID).status_code == 200
    assert R.refresh(vs, t).status_code == 200


def test_client_must_authenticate(vs):
    t = R.login(vs)["refresh_token"]
    r = R.revoke(vs, t, secret="wrong-secret-Pq9Lm2Xc5")
    assert r.status_code == 401
    assert lk.error_body(r) == {"error": "invalid_client",
        "error_description": "Client authentication failed"}
    r = vs.post("oauth/revoke", "token=" + t, "application/x-www-form-urlencoded",
        headers={"Authorization": lk.basic(ROT_ID, "wrong-secret-Pq9Lm2Xc5")})
    assert r.status_code == 401 and r.headers["WWW-Authenticate"].startswith("Basic")
    r = R.revoke(vs, t, secret=None)
    assert r.status_code == 401
    assert R.refresh(vs, t).status_code == 200			# still alive


def test_basic_auth_and_json_body(vs):
    t = R.login(vs)["refresh_token"]
    r = vs.post("oauth/revoke", json.dumps({"token": t}), "application/json",
        headers={"Authorization": lk.basic(ROT_ID, R.secret_of(ROT_ID))})
    assert r.status_code == 200, r.text
    dead(vs, t)


def test_public_client_revokes_with_client_id_only(vs):
    t = R.login(vs, client_id=PUB_ID)["refresh_token"]
    assert R.revoke(vs, t, client_id=PUB_ID, secret=None).status_code == 200
    dead(vs, t, client_id=PUB_ID)


def test_missing_token_and_wrong_method(vs):
    r = R.revoke(vs, "", secret=R.secret_of(ROT_ID))
    assert r.status_code == 400
    assert lk.error_body(r) == {"error": "invalid_request",
        "error_description": "Missing required parameter: token"}
    r = lk.requests.get(vs.url("oauth/revoke"), timeout=30)
    assert r.status_code == 405 and r.headers["Allow"] == "POST"


def test_revoking_an_oauth_ro_access_token(vs):
    b = R.ro_login(vs, "gina", device="phone", scope="openid offline_access")
    assert R.userinfo(vs, b["access_token"]).status_code == 200
    assert R.revoke(vs, b["access_token"], client_id=R.LEGACY_ID,
        secret=None).status_code == 200
    assert R.userinfo(vs, b["access_token"]).status_code == 401
    # The device's refresh token is another token: still alive.
    assert R.refresh(vs, b["refresh_token"], client_id=R.LEGACY_ID).status_code == 200
