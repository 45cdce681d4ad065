"""
A database environment written by the previous release opens and serves.

fixtures/prev-home.tar.gz was made by that release's `latchkeyctl
import` of the e2e tenant plus a login that issued a refresh token
(fixtures/make_prev_home.py says how).  This release opens it with
recovery, parses every record kind it holds (tenant, clients,
connections, APIs, users with argon2id and bcrypt hashes, signing key,
refresh token family) and serves from it; tokens are checked with PyJWT
against the JWKS only.
"""
import json
import tarfile
from pathlib import Path

import pytest
import requests

import lk

pytestmark = pytest.mark.bdb_only("a Berkeley DB environment the previous "
    "release wrote")

FIXTURES = Path(__file__).resolve().parent / "fixtures"


@pytest.fixture(scope="module")
def prev():
    meta = json.loads((FIXTURES / "prev-home.json").read_text())
    srv = lk.Server("prev-release")
    srv.home.mkdir()
    with tarfile.open(FIXTURES / "prev-home.tar.gz") as tar:
        for m in tar.getmembers():
            assert m.isfile() and not m.name.startswith(("/", "..")), m.name
        tar.extractall(srv.home)
    # The archived issuer named the old server's port.
    lk.ctl(srv.home, "tenant", "set", "issuer", srv.issuer)
    srv.serve()
    srv.meta = meta
    yield srv
    srv.stop()
    srv.cleanup()


def test_password_grant_on_previous_database(prev):
    r = prev.token(lk.password_form(audience=lk.API, scope="openid read:things"))
    assert r.status_code == 200, r.text
    body = r.json()
    claims = prev.decode(body["access_token"], lk.API)
    assert claims["sub"].startswith("auth0|")
    assert "read:things" in claims["scope"].split()
    idt = prev.decode(body["id_token"], lk.POST_ID)
    assert idt["email"] == lk.ALICE


def test_legacy_hash_user_on_previous_database(prev):
    r = prev.token(lk.password_form(username=lk.ERIN, password=lk.ERIN_PW))
    assert r.status_code == 200, r.text


def test_wrong_password_and_blocked_user_on_previous_database(prev):
    r = prev.token(lk.password_form(password="not alice's password"))
    assert r.status_code == 403
    assert lk.error_body(r)["error"] == "invalid_grant"
    r = prev.token(lk.password_form(username=lk.CAROL, password=lk.CAROL_PW))
    assert r.status_code == 401
    assert lk.error_body(r)["error"] == "unauthorized"


def test_refresh_token_from_previous_release(prev):
    m = prev.meta
    r = prev.token({"grant_type": "refresh_token", "client_id": m["client_id"],
        "client_secret": m["client_secret"], "refresh_token": m["refresh_token"]})
    assert r.status_code == 200, r.text
    at = r.json()["access_token"]
    assert prev.decode(at, lk.API)["sub"].startswith("auth0|")


def test_userinfo_and_admin_on_previous_database(prev):
    r = prev.token(lk.password_form(scope="openid email"))
    assert r.status_code == 200, r.text
    u = requests.get(prev.url("userinfo"), timeout=30,
        headers={"Authorization": "Bearer " + r.json()["access_token"]})
    assert u.status_code == 200, u.text
    assert u.json()["email"] == lk.ALICE
    users = json.loads(lk.ctl(prev.home, "user", "list").stdout)
    assert lk.ALICE in [x.get("email") for x in users]
    client = json.loads(lk.ctl(prev.home, "client", "show", lk.POST_ID).stdout)
    assert client["token_endpoint_auth_method"] == "client_secret_post"
