"""
Refresh tokens through the real web server (docs/COMPAT.md 5): issued
only for offline_access with an API that allows it and a client holding
the refresh_token grant; grant_type=refresh_token with client
authentication, scope narrowing, rotation with reuse detection, lifetimes,
the user's state, the admin command, and two refreshes racing.
"""
import json
import threading
import time
import urllib.parse

import pytest

import lk
import lk_refresh as R
from lk_refresh import (IDLE_ID, LEEWAY_ID, OFFLINE_API, PUB_ID, ROT2_ID,
    ROT_ID, SHORT_ID, STATIC_ID)

INVALID = {"error": "invalid_grant",
           "error_description": "Unknown or invalid refresh token."}


@pytest.fixture(scope="module")
def rs():
    with R.serving("refresh") as s:
        yield s


def refused(r, body=INVALID, status=403):
    assert r.status_code == status, r.text
    assert lk.error_body(r) == body


# --- issuing -------------------------------------------------------------

def test_offline_access_with_offline_api_and_grant_issues_opaque_token(rs):
    b = R.login(rs)
    rt = b["refresh_token"]
    assert len(rt) >= 43 and "." not in rt			# opaque, 256 bits
    assert "offline_access" in b["scope"].split()
    claims = rs.decode(b["access_token"], audience=OFFLINE_API)
    assert "offline_access" in claims["scope"].split()
    assert R.refresh(rs, rt).status_code == 200


@pytest.mark.parametrize("why, kw", [
    ("no offline_access asked", dict(scope="openid read:things")),
    ("API disallows offline access", dict(audience=lk.API)),
    ("no API at all", dict(audience=None)),
    ("client lacks the refresh_token grant", dict(client_id=lk.POST_ID)),
])
def test_no_refresh_token_unless_every_condition_holds(rs, why, kw):
    b = R.login(rs, **kw)
    assert "refresh_token" not in b, why
    assert "offline_access" not in b.get("scope", "offline_access-absent").split()


def test_refresh_token_never_in_store_or_logs(rs):
    b = R.login(rs)
    assert R.refresh(rs, b["refresh_token"]).status_code == 200
    assert b["refresh_token"] not in rs.log()
    for f in rs.home.iterdir():
        if f.is_file():
            assert b["refresh_token"].encode() not in f.read_bytes(), f


# --- redeeming ------------------------------------------------------------

def test_refresh_issues_new_access_and_id_token(rs):
    b = R.login(rs, scope="openid profile offline_access read:things")
    r = R.refresh(rs, b["refresh_token"])
    assert r.status_code == 200, r.text
    assert r.headers["Cache-Control"] == "no-store"
    n = r.json()
    assert n["token_type"] == "Bearer" and n["expires_in"] == 3600
    assert n["scope"] == "openid profile offline_access read:things"
    at = rs.decode(n["access_token"], audience=OFFLINE_API)
    assert at["gty"] == "refresh_token" and at["azp"] == ROT_ID
    assert at["aud"] == [OFFLINE_API, rs.issuer + "userinfo"]
    assert at["sub"] == R.user_id(rs, "gina")
    idt = rs.decode(n["id_token"], audience=ROT_ID)
    assert idt["name"] == "Gina" and "email" not in idt
    assert n["refresh_token"] != b["refresh_token"]		# rotated


def test_narrower_scope_applies_to_the_access_token_only(rs):
    b = R.login(rs)
    r = R.refresh(rs, b["refresh_token"], scope="read:things")
    assert r.status_code == 200, r.text
    n = r.json()
    assert n["scope"] == "read:things"
    assert "id_token" not in n					# openid narrowed away
    assert rs.decode(n["access_token"], audience=OFFLINE_API)["scope"] == "read:things"
    # The successor carries the whole original grant (RFC 6749 6).
    again = R.refresh(rs, n["refresh_token"]).json()
    assert again["scope"] == b["scope"]
    assert "id_token" in again


def _oauthlib_refresh(s, token, scope, client_id=PUB_ID):
    """requests-oauthlib's refresh request (docs/COMPAT.md 8 "What real clients
    send"): a form body with ;charset=UTF-8, the public client in Basic
    with an empty secret and not in the body, the login's scope sent back."""
    body = urllib.parse.urlencode({"grant_type": "refresh_token",
        "refresh_token": token, "scope": scope})
    return s.post("oauth/token", body,
        "application/x-www-form-urlencoded;charset=UTF-8",
        {"Authorization": lk.basic(client_id, "")})


def test_refresh_with_the_login_scope_keeps_the_whole_grant(rs):
    """The login's "openid offline_access" expanded to the OIDC scopes and
    every API scope; the same string at refresh means the same grant, not
    a narrowing to the two words."""
    scope = "openid offline_access"
    b = R.login(rs, client_id=PUB_ID, scope=scope)
    full = "openid profile email address phone offline_access " + \
        " ".join(R.OFFLINE_SCOPES)
    assert b["scope"] == full
    r = _oauthlib_refresh(rs, b["refresh_token"], scope)
    assert r.status_code == 200, r.text
    n = r.json()
    assert n["scope"] == full
    at = rs.decode(n["access_token"], audience=OFFLINE_API)
    assert at["scope"] == full
    idt = rs.decode(n["id_token"], audience=PUB_ID)
    assert idt["name"] == "Gina" and idt["email"] == R.USERS["gina"][0]
    # And again with the rotated token: nothing was lost on the way.
    r = _oauthlib_refresh(rs, n["refresh_token"], scope)
    assert r.status_code == 200 and r.json()["scope"] == full, r.text


def test_refresh_with_a_scope_the_login_dropped_is_not_a_widening(rs):
    """An API scope the API does not define was dropped at login (Auth0's
    rule); sending the login's string back is not invalid_scope."""
    scope = "openid offline_access read:things read:no-such-scope"
    b = R.login(rs, client_id=PUB_ID, scope=scope)
    granted = "openid profile email address phone offline_access read:things"
    assert b["scope"] == granted
    r = _oauthlib_refresh(rs, b["refresh_token"], scope)
    assert r.status_code == 200, r.text
    assert r.json()["scope"] == granted
    at = rs.decode(r.json()["access_token"], audience=OFFLINE_API)
    assert at["scope"] == granted
    # A scope the API defines but the login did not get is still refused.
    r = _oauthlib_refresh(rs, r.json()["refresh_token"],
        "openid offline_access write:things")
    assert r.status_code == 400 and lk.error_body(r)["error"] == "invalid_scope"


def test_removed_api_refuses_the_refresh_without_spending_it(rs):
    """The token's API is checked before the rotation commits: a 403 for
    an API removed since the login must not cost the client its session."""
    api = "https://removable.test.latchkey/"
    lk.ctl(rs.home, "api", "add", api, "--name", "Removable", "--scopes",
        "read:r", "--offline-access")
    t = R.login(rs, audience=api, scope="openid offline_access")["refresh_token"]
    lk.ctl(rs.home, "api", "remove", api)
    r = R.refresh(rs, t)
    assert r.status_code == 403, r.text
    assert lk.error_body(r) == {"error": "access_denied",
        "error_description": "Service not found: " + api}
    lk.ctl(rs.home, "api", "add", api, "--name", "Removable", "--scopes",
        "read:r", "--offline-access")
    r = R.refresh(rs, t)					# not spent
    assert r.status_code == 200, r.text
    assert R.refresh(rs, r.json()["refresh_token"]).status_code == 200


def test_wider_scope_is_refused_and_the_token_survives(rs):
    b = R.login(rs, scope="openid offline_access read:things")
    r = R.refresh(rs, b["refresh_token"], scope="read:things write:things")
    assert r.status_code == 400, r.text
    assert lk.error_body(r)["error"] == "invalid_scope"
    assert R.refresh(rs, b["refresh_token"]).status_code == 200


def test_rotation_and_reuse_revokes_the_whole_family(rs):
    t1 = R.login(rs)["refresh_token"]
    t2 = R.refresh(rs, t1).json()["refresh_token"]
    t3 = R.refresh(rs, t2).json()["refresh_token"]
    refused(R.refresh(rs, t1))					# reuse
    refused(R.refresh(rs, t3))					# the legitimate one dies too
    refused(R.refresh(rs, t2))
    assert "refresh token reused" in rs.log()


def test_leeway_tolerates_the_previous_token(rs):
    t1 = R.login(rs, client_id=LEEWAY_ID)["refresh_token"]
    t2 = R.refresh(rs, t1, client_id=LEEWAY_ID).json()["refresh_token"]
    r = R.refresh(rs, t1, client_id=LEEWAY_ID)			# a lost answer, retried
    assert r.status_code == 200, r.text
    t3 = r.json()["refresh_token"]
    assert t3 not in (t1, t2)
    # The retry's answer carries on; the lost successor is abandoned.
    t4 = R.refresh(rs, t3, client_id=LEEWAY_ID).json()["refresh_token"]
    assert R.refresh(rs, t4, client_id=LEEWAY_ID).status_code == 200


@pytest.mark.parametrize("first", ["older successor", "replay's successor"])
def test_leeway_replay_cannot_fork_the_family(rs, first):
    """A stolen token replayed within the leeway (R1 = refresh(R0), then
    R2 = refresh(R0)): R1 and R2 cannot both keep working.  Whichever
    holder presents the abandoned R1 trips reuse detection, and the whole
    family is revoked, R2's chain included."""
    uid = R.user_id(rs, "mona")
    r0 = R.login(rs, user="mona", client_id=LEEWAY_ID)["refresh_token"]
    r1 = R.refresh(rs, r0, client_id=LEEWAY_ID).json()["refresh_token"]
    r = R.refresh(rs, r0, client_id=LEEWAY_ID)
    assert r.status_code == 200, r.text
    r2 = r.json()["refresh_token"]
    if first == "older successor":
        refused(R.refresh(rs, r1, client_id=LEEWAY_ID))
        refused(R.refresh(rs, r2, client_id=LEEWAY_ID))
    else:
        r = R.refresh(rs, r2, client_id=LEEWAY_ID)
        assert r.status_code == 200, r.text
        r3 = r.json()["refresh_token"]
        refused(R.refresh(rs, r1, client_id=LEEWAY_ID))
        refused(R.refresh(rs, r3, client_id=LEEWAY_ID))
    refused(R.refresh(rs, r0, client_id=LEEWAY_ID))
    fams = [f for f in R.ctl_json(rs, "token", "list", "--user", uid)
            if f["client_id"] == LEEWAY_ID]
    assert fams and all(f["status"] == "revoked" and f["reason"] == "reuse"
                        for f in fams), fams


def test_non_rotating_client_keeps_its_token(rs):
    t = R.login(rs, client_id=STATIC_ID)["refresh_token"]
    for _ in range(3):
        r = R.refresh(rs, t, client_id=STATIC_ID)
        assert r.status_code == 200, r.text
        assert "refresh_token" not in r.json()


def test_public_client_refreshes_without_a_secret(rs):
    t = R.login(rs, client_id=PUB_ID)["refresh_token"]
    r = R.refresh(rs, t, client_id=PUB_ID)
    assert r.status_code == 200, r.text
    assert "refresh_token" in r.json()


def test_client_authentication_is_required(rs):
    t = R.login(rs)["refresh_token"]
    r = R.refresh(rs, t, secret="wrong-secret-Xy7Zq2Wv5")
    assert r.status_code == 401 and lk.error_body(r)["error"] == "access_denied"
    r = R.refresh(rs, t, secret=None)
    assert r.status_code == 401
    r = rs.token(R.refresh_form(t, secret=None),
        headers={"Authorization": lk.basic(ROT_ID, R.secret_of(ROT_ID))})
    assert r.status_code == 200, r.text				# Basic works too


def test_another_clients_token_is_unknown_and_left_alone(rs):
    t = R.login(rs)["refresh_token"]
    refused(R.refresh(rs, t, client_id=ROT2_ID))
    assert R.refresh(rs, t).status_code == 200


def test_client_without_refresh_grant_cannot_redeem(rs):
    t = R.login(rs)["refresh_token"]
    r = R.refresh(rs, t, client_id=lk.POST_ID)
    assert r.status_code == 403
    assert lk.error_body(r) == {"error": "unauthorized_client",
        "error_description": "Grant type 'refresh_token' not allowed for the client."}


def test_missing_and_unknown_tokens(rs):
    r = rs.token({"grant_type": "refresh_token", "client_id": ROT_ID,
                  "client_secret": R.secret_of(ROT_ID)})
    assert r.status_code == 400
    assert lk.error_body(r) == {"error": "invalid_request",
        "error_description": "Missing required parameter: refresh_token"}
    refused(R.refresh(rs, "A" * 43))
    r = rs.token(json_body=R.refresh_form(R.login(rs)["refresh_token"]))
    assert r.status_code == 200, r.text				# JSON bodies too


# --- lifetimes ------------------------------------------------------------

def test_absolute_lifetime_ends_even_a_busy_family(rs):
    t0 = time.time()
    t = R.login(rs, client_id=SHORT_ID)["refresh_token"]	# lives 3 s
    t = R.refresh(rs, t, client_id=SHORT_ID).json()["refresh_token"]
    R.wait_until(int(t0) + 4)
    refused(R.refresh(rs, t, client_id=SHORT_ID))


def test_idle_lifetime_restarts_on_use_and_then_ends(rs):
    t0 = time.time()
    t = R.login(rs, client_id=IDLE_ID)["refresh_token"]	# idle 3 s
    R.wait_until(t0 + 2)
    assert R.refresh(rs, t, client_id=IDLE_ID).status_code == 200
    R.wait_until(t0 + 4)					# 4 s old, 2 s idle
    assert R.refresh(rs, t, client_id=IDLE_ID).status_code == 200
    R.wait_until(int(time.time()) + 4)
    refused(R.refresh(rs, t, client_id=IDLE_ID))


# --- the user -------------------------------------------------------------

def test_blocked_user(rs):
    t = R.login(rs, user="hank")["refresh_token"]
    lk.ctl(rs.home, "user", "block", R.user_id(rs, "hank"))
    refused(R.refresh(rs, t), {"error": "invalid_grant",
        "error_description": "user is blocked"})
    lk.ctl(rs.home, "user", "unblock", R.user_id(rs, "hank"))
    refused(R.refresh(rs, t))					# block revoked it for good


def test_deleted_user(rs):
    t = R.login(rs, user="ivy")["refresh_token"]
    lk.ctl(rs.home, "user", "remove", R.user_id(rs, "ivy"))
    refused(R.refresh(rs, t), {"error": "invalid_grant", "error_description":
        "The refresh_token was generated for a user who doesn't exist anymore."})


def test_new_password_ends_refresh_tokens(rs):
    old = R.login(rs, user="jack")["refresh_token"]
    uid = R.user_id(rs, "jack")
    lk.ctl(rs.home, "user", "set-password", uid, input="jack-new-pw-Fd3Sa6Gh9\n")
    refused(R.refresh(rs, old))
    new = R.login(rs, "jack@example.com", password="jack-new-pw-Fd3Sa6Gh9")
    r = R.refresh(rs, new["refresh_token"])
    assert r.status_code == 200
    # The same password again is no change: the new token lives on.
    lk.ctl(rs.home, "user", "set-password", uid, input="jack-new-pw-Fd3Sa6Gh9\n")
    assert R.refresh(rs, r.json()["refresh_token"]).status_code == 200


def test_password_check_catches_tokens_the_revocation_missed(rs):
    """The token endpoint itself compares the user's password epoch: a
    new password imported while a token's family was still active."""
    t = R.login(rs, user="olga")["refresh_token"]
    email, _ = R.USERS["olga"]
    f = rs.tmp / "olga.json"
    f.write_text(json.dumps({"users": [{"connection": lk.DB1, "email": email,
        "password": "olga-other-pw-Lm4Nb7Vc0"}]}))
    lk.ctl(rs.home, "import", str(f))
    refused(R.refresh(rs, t))


def test_login_rehash_is_not_a_password_change(rs):
    t = R.login(rs, user="kate")["refresh_token"]
    lk.ctl(rs.home, "tenant", "set", "hash.t", "2")		# next login rehashes
    try:
        R.login(rs, user="kate")
    finally:
        lk.ctl(rs.home, "tenant", "set", "hash.t", "1")
    assert R.refresh(rs, t).status_code == 200


# --- the admin command ------------------------------------------------------

def test_token_list_and_revoke_by_family_and_all(rs):
    uid = R.user_id(rs, "nick")
    a = R.login(rs, user="nick")["refresh_token"]
    b = R.login(rs, user="nick", client_id=STATIC_ID)["refresh_token"]
    fams = R.ctl_json(rs, "token", "list", "--user", uid)
    assert sorted(f["client_id"] for f in fams) == sorted([ROT_ID, STATIC_ID])
    assert {f["status"] for f in fams} == {"active"}
    assert all(f["user_id"] == uid and "token" not in json.dumps(f).lower()
               .replace("refresh_token", "") for f in fams)
    fa = [f["family"] for f in fams if f["client_id"] == ROT_ID][0]
    out = R.ctl_json(rs, "token", "revoke", "--user", uid, "--family", fa)
    assert out == {"revoked_families": 1}
    refused(R.refresh(rs, a))
    assert R.refresh(rs, b, client_id=STATIC_ID).status_code == 200
    assert R.ctl_json(rs, "token", "revoke", "--user", uid, "--all") == \
        {"revoked_families": 1}
    refused(R.refresh(rs, b, client_id=STATIC_ID))
    assert {f["status"] for f in R.ctl_json(rs, "token", "list", "--user", uid)} \
        == {"revoked"}
    p = lk.ctl(rs.home, "token", "revoke", "--user", uid, check=False)
    assert p.returncode == 2					# needs a selector


def test_devices_from_oauth_ro_listed_and_revoked(rs):
    uid = R.user_id(rs, "paul")
    phone = R.ro_login(rs, "paul", device="phone")
    tablet = R.ro_login(rs, "paul", device="tablet")
    assert "refresh_token" not in R.ro_login(rs, "paul", device=None)
    devs = R.ctl_json(rs, "device", "list", "--user", uid)
    assert sorted(d["device"] for d in devs) == ["phone", "tablet"]
    assert all(d["clients"] == [R.LEGACY_ID] for d in devs)
    r = R.refresh(rs, phone["refresh_token"], client_id=R.LEGACY_ID)
    assert r.status_code == 200, r.text
    # A legacy token has no API: the access token is for /userinfo.
    at = rs.decode(r.json()["access_token"], audience=rs.issuer + "userinfo")
    assert at["sub"] == uid
    # Only OIDC scopes survive: "openid" alone keeps its legacy meaning.
    assert r.json()["scope"] == "openid offline_access"
    R.ctl_json(rs, "token", "revoke", "--user", uid, "--device", "phone")
    refused(R.refresh(rs, phone["refresh_token"], client_id=R.LEGACY_ID))
    assert R.refresh(rs, tablet["refresh_token"],
        client_id=R.LEGACY_ID).status_code == 200
    assert [d["device"] for d in R.ctl_json(rs, "device", "list", "--user", uid)] \
        == ["tablet"]


def test_legacy_attribute_scopes_are_not_carried_by_refreshed_tokens(rs):
    """/oauth/ro's attribute scopes ("name", "nickname") mean ID token
    claims at /oauth/ro; a refresh at /oauth/token (latchkey's extension:
    Auth0 sent legacy refresh tokens to /delegation) carries only the
    OIDC scopes of the grant."""
    b = R.ro_login(rs, "liam", device="watch",
        scope="openid offline_access name nickname email")
    r = R.refresh(rs, b["refresh_token"], client_id=R.LEGACY_ID)
    assert r.status_code == 200, r.text
    n = r.json()
    assert n["scope"] == "openid offline_access email"
    at = rs.decode(n["access_token"], audience=rs.issuer + "userinfo")
    assert at["scope"] == "openid offline_access email"
    idt = rs.decode(n["id_token"], audience=R.LEGACY_ID)
    assert idt["email"] == R.USERS["liam"][0]
    assert "name" not in idt and "nickname" not in idt
    # Asking for an attribute scope again is not a widening: it is
    # dropped ("openid" alone then expands, within the grant, as at login).
    r = R.refresh(rs, b["refresh_token"], client_id=R.LEGACY_ID,
        scope="openid offline_access name")
    assert r.status_code == 200, r.text
    assert r.json()["scope"] == "openid offline_access email"


def test_client_refresh_settings_from_the_admin_command(rs):
    out = R.ctl_json(rs, "client", "update", STATIC_ID, "--refresh-leeway", "5")
    assert out["refresh_token"] == {"rotation_type": "non-rotating", "leeway": 5}
    # An empty string removes a member (the default, non-rotating, again).
    out = R.ctl_json(rs, "client", "update", STATIC_ID, "--refresh-rotation", "")
    assert out["refresh_token"] == {"leeway": 5}
    p = lk.ctl(rs.home, "client", "update", STATIC_ID, "--refresh-rotation",
        "sometimes", check=False)
    assert p.returncode == 2 and "rotation_type" in p.stderr


def test_prune_deletes_only_dead_families(rs):
    uid = R.user_id(rs, "quin")
    spent = R.login(rs, user="quin")["refresh_token"]
    live = R.refresh(rs, spent).json()["refresh_token"]
    dead = R.login(rs, user="quin")["refresh_token"]
    assert R.revoke(rs, dead).status_code == 200
    assert len(R.ctl_json(rs, "token", "list", "--user", uid)) == 2
    out = R.ctl_json(rs, "token", "prune")
    assert out["deleted_records"] >= 2			# the dead family + its token
    after = R.ctl_json(rs, "token", "list", "--user", uid)
    assert [f["status"] for f in after] == ["active"]
    assert R.refresh(rs, live).status_code == 200
    refused(R.refresh(rs, spent))				# still known as spent


# --- concurrency ------------------------------------------------------------

def test_two_refreshes_of_one_token_at_once_succeed_once(rs):
    """lighttpd runs two responder processes (max-procs 2); both get the
    same token at the same instant.  Exactly one 200 per round; the other
    is reuse, so the family ends revoked with nothing half-written."""
    uid = R.user_id(rs, "rosa")
    rounds = 12
    for i in range(rounds):
        t = R.login(rs, user="rosa")["refresh_token"]
        go = threading.Barrier(2)
        out = [None, None]

        def one(k):
            go.wait()
            out[k] = R.refresh(rs, t)
        th = [threading.Thread(target=one, args=(k,)) for k in range(2)]
        for x in th:
            x.start()
        for x in th:
            x.join()
        codes = sorted(r.status_code for r in out)
        assert codes == [200, 403], [r.text for r in out]
        loser = [r for r in out if r.status_code == 403][0]
        assert lk.error_body(loser) == INVALID
        winner = [r for r in out if r.status_code == 200][0].json()
        refused(R.refresh(rs, winner["refresh_token"]))
    fams = R.ctl_json(rs, "token", "list", "--user", uid)
    assert len(fams) == rounds
    assert all(f["status"] == "revoked" and f["reason"] == "reuse" for f in fams)


def test_discovery_advertises_the_lifecycle_endpoints(rs):
    d = lk.requests.get(rs.url(".well-known/openid-configuration"), timeout=30).json()
    assert "refresh_token" in d["grant_types_supported"]
    assert "offline_access" in d["scopes_supported"]
    assert d["userinfo_endpoint"] == rs.issuer + "userinfo"
    assert d["revocation_endpoint"] == rs.issuer + "oauth/revoke"
