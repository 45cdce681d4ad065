"""
Signing key rotation from latchkeyctl, seen through the real web server:
the next key is in the JWKS before it signs; after rotation tokens signed
by the retired key still verify (PyJWT against the JWKS, and /userinfo)
until `key prune` removes it once every token it signed has expired.
"""
import time

import jwt
import pytest
import requests

import lk
import lk_refresh as R


@pytest.fixture(scope="module")
def ks():
    with R.serving("keys") as s:
        yield s


def jwks_kids(s):
    r = requests.get(s.url(".well-known/jwks.json"), timeout=30)
    assert r.status_code == 200
    return [k["kid"] for k in r.json()["keys"]]


def kid_of(token):
    return jwt.get_unverified_header(token)["kid"]


def verify(s, token):
    """PyJWT against the JWKS as published now (no cache)."""
    s._jwks = None
    return s.decode(token, audience=[s.issuer + "userinfo"])


def login(s):
    return R.login(s, user="gina", audience=None, scope="openid")


def test_rotation_publishes_first_and_retires_last(ks):
    old_kid = kid_of(login(ks)["access_token"])
    assert jwks_kids(ks) == [old_kid]
    old_token = login(ks)["access_token"]

    nxt = R.ctl_json(ks, "key", "add-next")
    assert nxt["status"] == "next" and nxt["kid"] != old_kid
    assert sorted(jwks_kids(ks)) == sorted([old_kid, nxt["kid"]])
    assert kid_of(login(ks)["access_token"]) == old_kid	# next does not sign
    p = lk.ctl(ks.home, "key", "add-next", check=False)
    assert p.returncode == 1 and "waiting already" in p.stderr

    # Too soon: verifiers may hold a JWKS fetched before add-next.
    p = lk.ctl(ks.home, "key", "rotate", check=False)
    assert p.returncode == 1 and "300" in p.stderr
    now = int(time.time())
    out = R.ctl_json(ks, "key", "rotate", "--now", str(now + 300))
    assert out["current"] == nxt["kid"]
    new_token = login(ks)["access_token"]
    assert kid_of(new_token) == nxt["kid"]
    assert sorted(jwks_kids(ks)) == sorted([old_kid, nxt["kid"]])
    keys = {k["kid"]: k for k in R.ctl_json(ks, "key", "list")}
    assert keys[old_kid]["status"] == "previous"
    assert keys[old_kid]["retired_at"] == now + 300
    assert "private_pem" not in keys[old_kid]

    # The old key's token verifies everywhere until the key is pruned.
    verify(ks, old_token)
    assert R.userinfo(ks, old_token).status_code == 200
    longest = R.ctl_json(ks, "key", "prune", "--now", str(now + 300 + 86399))
    assert longest == {"removed": [], "max_token_lifetime": 86400}
    assert old_kid in jwks_kids(ks)
    out = R.ctl_json(ks, "key", "prune", "--now", str(now + 300 + 86400))
    assert out["removed"] == [old_kid]
    assert jwks_kids(ks) == [nxt["kid"]]
    with pytest.raises(AssertionError, match="not in JWKS"):
        verify(ks, old_token)
    r = R.userinfo(ks, old_token)
    assert r.status_code == 401 and "unknown key" in r.json()["error_description"]
    assert R.userinfo(ks, new_token).status_code == 200


def test_rotate_without_next_needs_force(ks):
    before = kid_of(login(ks)["access_token"])
    p = lk.ctl(ks.home, "key", "rotate", check=False)
    assert p.returncode == 1 and "add-next" in p.stderr
    out = R.ctl_json(ks, "key", "rotate", "--force", "--alg", "ES256")
    at = login(ks)["access_token"]
    assert kid_of(at) == out["current"] != before
    assert jwt.get_unverified_header(at)["alg"] == "ES256"
    ks._jwks = None
    ks.decode(at, audience=[ks.issuer + "userinfo"], alg="ES256")
    assert before in jwks_kids(ks)


def test_longest_lifetime_counts_every_api_and_client(ks):
    lk.ctl(ks.home, "api", "update", R.OFFLINE_API, "--lifetime", "200000")
    try:
        out = R.ctl_json(ks, "key", "prune")
        assert out["max_token_lifetime"] == 200000
    finally:
        lk.ctl(ks.home, "api", "update", R.OFFLINE_API, "--lifetime", "3600")


def test_bad_options(ks):
    for args in (["key", "add-next", "--alg", "HS256"],
                 ["key", "prune", "--now", "-5"]):
        assert lk.ctl(ks.home, *args, check=False).returncode == 2
