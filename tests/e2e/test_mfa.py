"""
Multi-factor authentication with the password grants (lib/mfa,
docs/COMPAT.md 13) through the real lighttpd, with several responder
processes (LATCHKEY_CHILDREN=3 under lighttpd's two), so that one flow's
steps land on different processes: the 403 mfa_required and its
mfa_token, enrolment at /mfa/associate, GET /mfa/authenticators, the
mfa-otp grant with codes computed independently (pyotp, RFC 6238), the
mfa-recovery-code grant, the legacy /oauth/ro answer, every error, the
failure limit and the audit log.
"""
import json
import time
import urllib.parse

import jwt
import pyotp
import pytest
import requests
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

import lk

GRANT_OTP = "http://auth0.com/oauth/grant-type/mfa-otp"
GRANT_RECOVERY = "http://auth0.com/oauth/grant-type/mfa-recovery-code"
GRANT_OOB = "http://auth0.com/oauth/grant-type/mfa-oob"
RO_GRANT = "http://auth0.com/oauth/legacy/grant-type/ro"

# Users of this tenant: each test enrols its own, so that none depends on
# another's state.  The tenant's policy is "enrolled"; these users are
# "always" (they must enrol first).
USERS = {name: ("%s@example.com" % name, "%s-pw-Xc7vB0nM3qW6eR9t" % name)
    for name in ("ann", "ben", "cat", "dan", "eve", "fay", "gil", "hal",
                 "ivy", "jon", "kim", "lea", "max", "ned")}
CAPTURE = lk.ROOT / "tests" / "e2e" / "deliver_capture.sh"

REQUIRED = {"error": "mfa_required",
    "error_description": "Multifactor authentication required"}
MALFORMED = {"error": "invalid_grant", "error_description": "Malformed mfa_token"}
INVALID_OTP = {"error": "invalid_grant", "error_description": "Invalid otp_code."}
TOO_MANY = {"error": "too_many_attempts", "error_description":
    "Too many failed codes. Wait for some minutes before retrying."}


class MfaServer(lk.Server):
    def __init__(self):
        super().__init__("mfa")
        t = self.tenant
        t["tenant"]["mfa"] = "enrolled"
        for c in t["clients"]:
            if c["client_id"] == lk.POST_ID:
                c["grant_types"] = c["grant_types"] + [GRANT_OTP,
                    GRANT_RECOVERY, GRANT_OOB,
                    RO_GRANT]
            if c["client_id"] == lk.REALMONLY_ID:
                c["grant_types"] = c["grant_types"] + [GRANT_OTP]
        for email, pw in USERS.values():
            t["users"].append({"connection": lk.DB1, "email": email,
                "password": pw, "mfa": "always"})
        # The out-of-band codes go through the passwordless connections'
        # delivery command (deliver_capture.sh appends them to a file).
        self.capture = self.tmp / "codes.txt"
        deliver = [str(CAPTURE), str(self.capture), "{recipient}", "{code}"]
        t["connections"] += [
            {"name": "sms", "strategy": "sms", "enabled_clients": [lk.POST_ID],
             "delivery_command": deliver},
            {"name": "email", "strategy": "email",
             "enabled_clients": [lk.POST_ID],
             "delivery_command": ["/bin/sh", "-c", "exit 7"]},
        ]
        self.tenant_file.write_text(json.dumps(t, indent=1))

    def last_code(self, recipient):
        lines = [l.split(" ") for l in self.capture.read_text().splitlines()]
        mine = [l for l in lines if l[0] == recipient]
        assert mine, lines
        return mine[-1][1]

    def env(self):
        e = super().env()
        e["LATCHKEY_CHILDREN"] = "3"
        return e


@pytest.fixture(scope="module")
def srv():
    s = MfaServer()
    try:
        s.start()
    except BaseException:
        s.stop()
        s.cleanup()
        raise
    yield s
    s.stop()
    assert not s.sanitizer_reports(), s.log()[-8000:]
    s.cleanup()


def login(srv, name, **kw):
    email, pw = USERS[name]
    return srv.token(lk.password_form(username=email, password=pw, **kw))


def challenge(srv, name, **kw):
    """The mfa_token of a password grant that must pass MFA."""
    r = login(srv, name, **kw)
    assert r.status_code == 403, r.text
    body = lk.error_body(r)
    assert set(body) == {"error", "error_description", "mfa_token"}, body
    assert {k: body[k] for k in REQUIRED} == REQUIRED
    return body["mfa_token"]


def bearer(tok):
    return {"Authorization": "Bearer " + tok}


def associate(srv, tok, types=("otp",)):
    return srv.post("mfa/associate", json.dumps({"authenticator_types":
        list(types)}), "application/json", bearer(tok))


def authenticators(srv, tok):
    return requests.get(srv.url("mfa/authenticators"), headers=bearer(tok),
        timeout=30)


def mfa_grant(srv, tok, client_id=lk.POST_ID, secret=lk.POST_SECRET, **kw):
    f = {"grant_type": GRANT_OTP, "client_id": client_id,
        "client_secret": secret, "mfa_token": tok}
    f.update(kw)
    return srv.token(f)


def enrol(srv, name, **kw):
    """Enrol name's otp authenticator and confirm it: (TOTP, recovery code,
    the token response)."""
    tok = challenge(srv, name, **kw)
    r = associate(srv, tok)
    assert r.status_code == 200, r.text
    assert r.headers["Cache-Control"] == "no-store"
    body = r.json()
    assert set(body) == {"authenticator_type", "secret", "barcode_uri",
        "recovery_codes"}, body
    totp = pyotp.TOTP(body["secret"])
    r = mfa_grant(srv, tok, otp=totp.now())
    assert r.status_code == 200, r.text
    return totp, body["recovery_codes"][0], r.json()


def err(r, status, want):
    assert r.status_code == status, r.text
    assert lk.error_body(r) == want


def audit_types(srv):
    out = json.loads(lk.ctl(srv.home, "audit", "list").stdout)
    return [a["type"] for a in out]


# --- the challenge -----------------------------------------------------------

def test_wrong_password_answer_is_the_same_with_and_without_mfa(srv):
    email, _ = USERS["fay"]
    with_mfa = srv.token(lk.password_form(username=email, password="nope"))
    without = srv.token(lk.password_form(username=lk.DORA, password="nope"))
    assert with_mfa.status_code == without.status_code == 403
    assert with_mfa.json() == without.json() == {"error": "invalid_grant",
        "error_description": "Wrong email or password."}


def test_no_mfa_for_a_user_without_authenticator_under_enrolled(srv):
    r = srv.token(lk.password_form(username=lk.DORA, password=lk.DORA_PW))
    assert r.status_code == 200, r.text


def test_client_without_the_mfa_grants_gets_auth0s_error(srv):
    email, pw = USERS["fay"]
    r = srv.token(lk.password_form(client_id=lk.HS_ID, secret=lk.HS_SECRET,
        username=email, password=pw))
    err(r, 403, {"error": "unauthorized_client", "error_description":
        "Grant type '%s' not allowed for the client." % GRANT_OTP})


def test_legacy_ro_gets_auth0s_legacy_code(srv):
    email, pw = USERS["fay"]
    r = srv.token(json_body={"client_id": lk.POST_ID, "grant_type": "password",
        "connection": lk.DB1, "username": email, "password": pw,
        "scope": "openid"}, path="oauth/ro")
    err(r, 401, {"error": "a0.mfa_registration_required",
        "error_description": "Multifactor registration required"})


# --- enrolment and the otp grant ---------------------------------------------

def test_enrol_then_otp_login_returns_the_first_grants_tokens(srv):
    tok = challenge(srv, "ann", audience=lk.API, scope="openid read:things")
    r = authenticators(srv, tok)
    assert r.status_code == 200 and r.json() == [], r.text
    r = associate(srv, tok)
    assert r.status_code == 200, r.text
    body = r.json()
    secret = body["secret"]
    assert len(secret) == 32 and set(secret) <= set("ABCDEFGHIJKLMNOPQRSTUVWXYZ234567")
    uri = urllib.parse.urlsplit(body["barcode_uri"])
    host = urllib.parse.urlsplit(srv.issuer).hostname
    assert (uri.scheme, uri.netloc) == ("otpauth", "totp")
    assert urllib.parse.unquote(uri.path) == "/%s:%s" % (host, USERS["ann"][0])
    assert urllib.parse.parse_qs(uri.query) == {"secret": [secret],
        "issuer": [host], "algorithm": ["SHA1"], "digits": ["6"],
        "period": ["30"]}
    (code,) = body["recovery_codes"]
    assert len(code) == 24
    listed = authenticators(srv, tok).json()
    assert sorted((a["authenticator_type"], a["active"]) for a in listed) == \
        [("otp", False), ("recovery-code", False)]
    totp = pyotp.TOTP(secret)
    err(mfa_grant(srv, tok, otp="%06d" % ((int(totp.now()) + 1) % 10**6)),
        403, INVALID_OTP)
    r = mfa_grant(srv, tok, otp=totp.now())
    assert r.status_code == 200, r.text
    out = r.json()
    # Exactly what the password grant gives a user without MFA.
    base = srv.token(lk.password_form(username=lk.DORA, password=lk.DORA_PW,
        audience=lk.API, scope="openid read:things")).json()
    assert set(out) == set(base) == {"access_token", "id_token",
        "token_type", "expires_in", "scope"}, out
    assert (out["scope"], out["expires_in"]) == (base["scope"],
        base["expires_in"])
    claims = srv.decode(out["access_token"], lk.API)
    assert claims["scope"] == srv.decode(base["access_token"], lk.API)["scope"]
    assert claims["gty"] == "mfa-otp"
    assert claims["azp"] == lk.POST_ID
    assert claims["sub"] == srv.decode(out["id_token"], lk.POST_ID)["sub"]
    # Single use after success: the same token again, even with a code.
    err(mfa_grant(srv, tok, otp=totp.at(time.time() + 30)), 403, MALFORMED)
    listed = authenticators(srv, challenge(srv, "ann")).json()
    assert all(a["active"] for a in listed) and len(listed) == 2
    assert {a["id"].split("|")[0] for a in listed} == {"totp", "recovery-code"}


def test_the_mfa_api_audience_gets_a_ten_minute_token_after_mfa(srv):
    """https://TENANT/mfa/ is built in: the login still answers
    mfa_required, and the second factor issues a token for that audience
    with only the MFA API's scopes, for 600 s, without a refresh token."""
    aud = srv.issuer + "mfa/"
    _, _, body = enrol(srv, "kim", audience=aud, scope="openid enroll "
        "read:authenticators remove:authenticators read:things "
        "offline_access")
    assert body["expires_in"] == 600 and "refresh_token" not in body, body
    claims = srv.decode(body["access_token"], aud)
    assert claims["exp"] - claims["iat"] == 600
    assert claims["gty"] == "mfa-otp"
    granted = claims["scope"].split()
    assert {"enroll", "read:authenticators", "remove:authenticators"} <= \
        set(granted), claims
    assert "read:things" not in granted and "offline_access" not in granted
    # Another issuer's /mfa/ (or a path below it) is an unknown API.
    r = login(srv, "kim", audience=srv.issuer + "mfa/x")
    assert r.status_code == 403 and r.json()["error"] == "access_denied", \
        r.text


def test_a_code_is_accepted_once_and_enrolled_users_cannot_reenrol(srv):
    totp, _, _ = enrol(srv, "ben")
    tok = challenge(srv, "ben")
    err(associate(srv, tok), 403, {"error": "access_denied",
        "error_description": "User is already enrolled"})
    # The step just used is spent; the next one (window +1) is not.
    err(mfa_grant(srv, tok, otp=totp.now()), 403, INVALID_OTP)
    r = mfa_grant(srv, tok, otp=totp.at(time.time() + 30))
    assert r.status_code == 200, r.text


def test_recovery_code_logs_in_once_and_returns_a_new_one(srv):
    _, code, _ = enrol(srv, "cat")
    tok = challenge(srv, "cat")
    r = srv.token({"grant_type": GRANT_RECOVERY, "client_id": lk.POST_ID,
        "client_secret": lk.POST_SECRET, "mfa_token": tok,
        "recovery_code": code.lower()})
    assert r.status_code == 200, r.text
    new = r.json()["recovery_code"]
    assert len(new) == 24 and new != code
    srv.decode(r.json()["access_token"], srv.issuer + "userinfo")
    rec = lambda c: srv.token({"grant_type": GRANT_RECOVERY,
        "client_id": lk.POST_ID, "client_secret": lk.POST_SECRET,
        "mfa_token": challenge(srv, "cat"), "recovery_code": c})
    err(rec(code), 403, {"error": "invalid_grant",
        "error_description": "Invalid recovery_code."})
    assert rec(new).status_code == 200


def test_legacy_ro_of_an_enrolled_user(srv):
    enrol(srv, "dan")
    email, pw = USERS["dan"]
    r = srv.token(json_body={"client_id": lk.POST_ID, "grant_type": "password",
        "connection": lk.DB1, "username": email, "password": pw},
        path="oauth/ro")
    err(r, 401, {"error": "a0.mfa_required",
        "error_description": "Multifactor authentication required"})


# --- errors ----------------------------------------------------------------

def test_mfa_token_errors(srv):
    tok = challenge(srv, "fay")
    err(mfa_grant(srv, tok), 400, {"error": "invalid_request",
        "error_description": "Missing required parameter: otp"})
    err(srv.token({"grant_type": GRANT_OTP, "client_id": lk.POST_ID,
        "client_secret": lk.POST_SECRET, "otp": "123456"}), 400,
        {"error": "invalid_request",
         "error_description": "Missing required parameter: mfa_token"})
    flipped = tok[:-5] + ("A" if tok[-5] != "A" else "B") + tok[-4:]
    for bad in ("garbage", flipped, tok[:-1], tok + "AA"):
        err(mfa_grant(srv, bad, otp="123456"), 403, MALFORMED)
    # Another client cannot use it, even one holding the grant.
    err(mfa_grant(srv, tok, client_id=lk.REALMONLY_ID,
        secret=lk.REALMONLY_SECRET, otp="123456"), 403, MALFORMED)
    err(mfa_grant(srv, tok, client_id=lk.HS_ID, secret=lk.HS_SECRET,
        otp="123456"), 403, {"error": "unauthorized_client",
        "error_description": "Grant type '%s' not allowed for the client."
        % GRANT_OTP})
    # Not enrolled yet.
    err(mfa_grant(srv, tok, otp="123456"), 401, {"error":
        "unsupported_challenge_type", "error_description": "User is not "
        "enrolled. You can use /mfa/associate endpoint to enroll the first "
        "authenticator."})
    err(srv.token({"grant_type": GRANT_RECOVERY, "client_id": lk.POST_ID,
        "client_secret": lk.POST_SECRET, "mfa_token": tok,
        "recovery_code": "X" * 24}), 403, {"error":
        "unsupported_challenge_type",
        "error_description": "User does not have a recovery-code."})
    # The /mfa/ endpoints.
    r = requests.get(srv.url("mfa/authenticators"), timeout=30)
    err(r, 401, {"error": "unauthorized", "error_description": "Unauthorized"})
    assert r.headers["WWW-Authenticate"] == "Bearer"
    err(authenticators(srv, flipped), 403, MALFORMED)
    err(associate(srv, tok, ("push",)), 400, {"error":
        "unsupported_challenge_type",
        "error_description": "Unsupported authenticator type: push"})
    err(associate(srv, tok, ("oob",)), 400, {"error": "invalid_request",
        "error_description": "Missing required parameter: oob_channels"})
    r = srv.post("mfa/associate", json.dumps({"authenticator_types": "otp"}),
        "application/json", bearer(tok))
    err(r, 400, {"error": "invalid_request", "error_description":
        "authenticator_types must be an array, not string"})
    r = requests.delete(srv.url("mfa/associate"), timeout=30)
    assert r.status_code == 405 and r.headers["Allow"] == "POST"


def test_eleven_wrong_codes_hit_the_limit_in_every_process(srv):
    totp, _, _ = enrol(srv, "eve")
    tok = challenge(srv, "eve")
    good = totp.at(time.time() + 30)
    wrong = "%06d" % ((int(good) + 500000) % 10**6)
    for _ in range(10):
        err(mfa_grant(srv, tok, otp=wrong), 403, INVALID_OTP)
    # The 11th, even with the right code, on whichever process answers.
    for _ in range(4):
        err(mfa_grant(srv, tok, otp=good), 429, TOO_MANY)
    types = audit_types(srv)
    assert types.count("gd_auth_failed") >= 10
    assert "gd_too_many_failures" in types
    for t in ("mfar", "gd_enrollment_complete", "gd_auth_succeed",
              "gd_recovery_succeed", "gd_recovery_failed"):
        assert t in types, t


def test_discovery_lists_the_mfa_grants(srv):
    r = requests.get(srv.url(".well-known/openid-configuration"), timeout=30)
    got = r.json()["grant_types_supported"]
    assert GRANT_OTP in got and GRANT_RECOVERY in got and GRANT_OOB in got
    assert r.json()["mfa_challenge_endpoint"] == srv.issuer + "mfa/challenge"


# --- out of band and /mfa/challenge -------------------------------------------

PENDING = {"error": "authorization_pending", "error_description":
    "Authorization pending: please repeat the request in a few seconds."}


def oob_grant(srv, tok, oob_code, **kw):
    f = {"grant_type": GRANT_OOB, "client_id": lk.POST_ID,
        "client_secret": lk.POST_SECRET, "mfa_token": tok,
        "oob_code": oob_code}
    f.update(kw)
    return srv.token(f)


def mfa_challenge(srv, tok, **kw):
    body = {"client_id": lk.POST_ID, "client_secret": lk.POST_SECRET,
        "mfa_token": tok}
    body.update(kw)
    return srv.post("mfa/challenge", json.dumps(body), "application/json")


def test_sms_enrol_then_challenge_and_mfa_oob(srv):
    phone = "+15550007001"
    tok = challenge(srv, "gil", audience=lk.API)
    r = srv.post("mfa/associate", json.dumps({"authenticator_types": ["oob"],
        "oob_channels": ["sms"], "phone_number": phone}), "application/json",
        bearer(tok))
    assert r.status_code == 200, r.text
    body = r.json()
    assert set(body) == {"authenticator_type", "binding_method", "oob_channel",
        "oob_code", "recovery_codes"}, body
    assert (body["authenticator_type"], body["binding_method"],
        body["oob_channel"]) == ("oob", "prompt", "sms")
    code = srv.last_code(phone)
    assert len(code) == 6 and code.isdigit()
    # Nothing entered yet, then a wrong code, then the one sent.
    err(oob_grant(srv, tok, body["oob_code"]), 400, PENDING)
    err(oob_grant(srv, tok, body["oob_code"], binding_code="%06d" % (
        (int(code) + 1) % 10**6)), 403, {"error": "invalid_grant",
        "error_description": "Invalid binding_code."})
    r = oob_grant(srv, tok, body["oob_code"], binding_code=code)
    assert r.status_code == 200, r.text
    assert srv.decode(r.json()["access_token"], lk.API)["gty"] == "mfa-oob"
    # The next login: /mfa/challenge sends a new code.
    tok = challenge(srv, "gil")
    err(mfa_challenge(srv, tok, challenge_type="otp"), 400, {"error":
        "unsupported_challenge_type",
        "error_description": "Unsupported authenticator type: otp"})
    r = mfa_challenge(srv, tok, challenge_type="oob")
    assert r.status_code == 200, r.text
    ch = r.json()
    assert set(ch) == {"challenge_type", "oob_code", "binding_method"}
    assert ch["challenge_type"] == "oob"
    code = srv.last_code(phone)
    # An oob_code is its own mfa_token's only.
    other = challenge(srv, "gil")
    err(oob_grant(srv, other, ch["oob_code"], binding_code=code), 403,
        {"error": "invalid_grant", "error_description": "Malformed oob_code"})
    err(oob_grant(srv, tok, ch["oob_code"][:-3] + "AAA", binding_code=code),
        403, {"error": "invalid_grant", "error_description":
        "Malformed oob_code"})
    r = oob_grant(srv, tok, ch["oob_code"], binding_code=code)
    assert r.status_code == 200, r.text
    listed = authenticators(srv, challenge(srv, "gil")).json()
    assert sorted((a["authenticator_type"], a["active"]) for a in listed) == \
        [("oob", True), ("recovery-code", True)]


def test_challenge_of_an_otp_user_and_its_errors(srv):
    enrol(srv, "hal")
    tok = challenge(srv, "hal")
    r = mfa_challenge(srv, tok)
    assert r.status_code == 200 and r.json() == {"challenge_type": "otp"}, r.text
    err(mfa_challenge(srv, tok, challenge_type="push"), 400, {"error":
        "unsupported_challenge_type",
        "error_description": "Unsupported authenticator type: push"})
    err(mfa_challenge(srv, tok, client_secret="wrong"), 401,
        {"error": "access_denied", "error_description": "Unauthorized"})
    err(mfa_challenge(srv, "garbage"), 403, MALFORMED)
    # A user who has not enrolled yet.
    err(mfa_challenge(srv, challenge(srv, "ivy")), 401, {"error":
        "unsupported_challenge_type", "error_description": "User is not "
        "enrolled. You can use /mfa/associate endpoint to enroll the first "
        "authenticator."})


def test_codes_sent_and_the_send_limit_are_audited(srv):
    """Each code sent is a gd_send_sms event of its user; past 10 an hour
    the answer is 429 and the event gd_otp_rate_limit_exceed."""
    phone = "+15550007003"
    tok = challenge(srv, "jon")
    r = srv.post("mfa/associate", json.dumps({"authenticator_types": ["oob"],
        "oob_channels": ["sms"], "phone_number": phone}), "application/json",
        bearer(tok))
    assert r.status_code == 200, r.text
    r = oob_grant(srv, tok, r.json()["oob_code"], binding_code=srv.last_code(
        phone))
    assert r.status_code == 200, r.text
    tok = challenge(srv, "jon")
    for _ in range(9):
        r = mfa_challenge(srv, tok, challenge_type="oob")
        assert r.status_code == 200, r.text
    err(mfa_challenge(srv, tok, challenge_type="oob"), 429, {"error":
        "too_many_requests", "error_description":
        "Too many codes sent. Wait before asking for another."})
    jon = user_id(srv, USERS["jon"][0])
    mine = [a for a in json.loads(lk.ctl(srv.home, "audit", "list").stdout)
        if a.get("user_id") == jon]
    types = [a["type"] for a in mine]
    assert types.count("gd_send_sms") == 10, types
    assert types.count("gd_otp_rate_limit_exceed") == 1, types
    assert "gd_send_email" not in types
    sent = [a for a in mine if a["type"] == "gd_send_sms"]
    assert {a["client_id"] for a in sent} == {lk.POST_ID}, sent


def test_oob_errors_and_a_failing_channel(srv):
    tok = challenge(srv, "ivy")
    ask = lambda **b: srv.post("mfa/associate", json.dumps(dict(
        authenticator_types=["oob"], **b)), "application/json", bearer(tok))
    err(ask(oob_channels=["voice"], phone_number="+15550007002"), 400,
        {"error": "unsupported_challenge_type",
         "error_description": "Unsupported oob channel: voice"})
    err(ask(oob_channels=["sms"]), 400, {"error": "invalid_request",
        "error_description": "Missing required parameter: phone_number"})
    err(ask(oob_channels=["sms"], phone_number="+1 555 000"), 400,
        {"error": "invalid_request",
         "error_description": "phone_number must match ^\\+[0-9]{1,15}$"})
    r = ask(oob_channels=["email"], email="ivy@example.com")
    assert r.status_code == 400 and r.json()["error"] == \
        "email_provider_error", r.text


# --- the admin command -------------------------------------------------------

def user_id(srv, email):
    out = lk.ctl(srv.home, "user", "find", "--connection", lk.DB1, email)
    return json.loads(out.stdout)["user_id"]


def ctl_json(srv, *args):
    return json.loads(lk.ctl(srv.home, *args).stdout)


def test_admin_lists_resets_deletes_and_sets_the_policy(srv):
    enrol(srv, "fay")
    fay = user_id(srv, USERS["fay"][0])
    listed = ctl_json(srv, "authenticator", "list", fay)
    assert sorted(a["authenticator_type"] for a in listed) == \
        ["otp", "recovery-code"]
    for a in listed:
        assert set(a) == {"id", "authenticator_type", "active", "created_at"}
    # The stored records hold no secret in the clear either.
    shown = lk.ctl(srv.home, "user", "show", fay).stdout
    assert "secret" not in shown
    # Per-user override, both ways.
    dora = user_id(srv, lk.DORA)
    lk.ctl(srv.home, "user", "update", dora, "--mfa", "always")
    challenge_for = lambda email, pw: srv.token(lk.password_form(
        username=email, password=pw))
    assert challenge_for(lk.DORA, lk.DORA_PW).json()["error"] == "mfa_required"
    lk.ctl(srv.home, "user", "update", dora, "--mfa", "tenant")
    assert challenge_for(lk.DORA, lk.DORA_PW).status_code == 200
    # The tenant's policy: all, then back.
    assert lk.ctl(srv.home, "tenant", "set", "mfa", "sometimes",
        check=False).returncode != 0
    lk.ctl(srv.home, "tenant", "set", "mfa", "all")
    try:
        assert challenge_for(lk.DORA, lk.DORA_PW).json()["error"] == \
            "mfa_required"
    finally:
        lk.ctl(srv.home, "tenant", "set", "mfa", "enrolled")
    assert challenge_for(lk.DORA, lk.DORA_PW).status_code == 200
    # Delete one, then reset: the next login enrols again.
    rec = [a["id"] for a in listed if a["authenticator_type"] ==
        "recovery-code"][0]
    assert ctl_json(srv, "authenticator", "delete", fay, rec) == {"deleted": 1}
    assert lk.ctl(srv.home, "authenticator", "delete", fay, rec,
        check=False).returncode != 0
    assert ctl_json(srv, "authenticator", "reset", fay) == {"deleted": 1}
    assert ctl_json(srv, "authenticator", "list", fay) == []
    tok = challenge(srv, "fay")
    assert associate(srv, tok).status_code == 200


def test_token_prune_deletes_spent_mfa_tokens_only(srv):
    """A spent mfa_token's record goes once it would have expired; the
    authenticators and the limits stay."""
    fay = user_id(srv, USERS["fay"][0])
    before = ctl_json(srv, "authenticator", "list", fay)
    out = ctl_json(srv, "token", "prune", "--now",
        str(int(time.time()) + 301))
    assert out["deleted_mfa_tokens"] >= 1
    assert ctl_json(srv, "authenticator", "list", fay) == before
    again = ctl_json(srv, "token", "prune", "--now",
        str(int(time.time()) + 301))
    assert again["deleted_mfa_tokens"] == 0


# --- the MFA API access token (docs/COMPAT.md 13.3) -------------------------

MFA_SCOPES = "enroll read:authenticators remove:authenticators"


def mfa_access(srv, name, totp=None, recovery=None, scope=MFA_SCOPES):
    """An MFA API access token of name's through the MFA flow (its otp's
    next code, or a recovery code), checked by PyJWT against the JWKS;
    and the new recovery code when one was used."""
    aud = srv.issuer + "mfa/"
    tok = challenge(srv, name, audience=aud, scope=scope)
    if recovery is None:
        r = mfa_grant(srv, tok, otp=totp.at(time.time() + 30))
    else:
        r = srv.token({"grant_type": GRANT_RECOVERY, "client_id": lk.POST_ID,
            "client_secret": lk.POST_SECRET, "mfa_token": tok,
            "recovery_code": recovery})
    assert r.status_code == 200, r.text
    body = r.json()
    claims = srv.decode(body["access_token"], aud)
    assert set(claims["scope"].split()) == set(scope.split()), claims
    assert body["expires_in"] == 600
    return body["access_token"], body.get("recovery_code")


def delete_auth(srv, tok, auth_id):
    return requests.delete(srv.url("mfa/authenticators/" +
        urllib.parse.quote(auth_id, safe="")), headers=bearer(tok), timeout=30)


def failures_of(srv, name):
    uid = user_id(srv, USERS[name][0])
    return [a["type"] for a in json.loads(lk.ctl(srv.home, "audit",
        "list").stdout) if a.get("user_id") == uid]


def test_access_token_lists_enrols_a_second_otp_then_deletes_one(srv):
    totp1, _, _ = enrol(srv, "lea")
    at, _ = mfa_access(srv, "lea", totp1)
    r = authenticators(srv, at)
    assert r.status_code == 200, r.text
    first = r.json()
    assert sorted((a["authenticator_type"], a["active"]) for a in first) == \
        [("otp", True), ("recovery-code", True)]
    # An enrolled user enrols another otp with the access token: no new
    # recovery code, pending until a code of it is verified.
    r = associate(srv, at)
    assert r.status_code == 200, r.text
    assert set(r.json()) == {"authenticator_type", "secret", "barcode_uri"}
    totp2 = pyotp.TOTP(r.json()["secret"])
    listed = authenticators(srv, at).json()
    new = [a for a in listed if a["id"] not in {b["id"] for b in first}]
    assert [(a["authenticator_type"], a["active"]) for a in new] == \
        [("otp", False)], listed
    # The next login: a wrong code is one failure however many otp
    # authenticators were tried, then the new one's code confirms it.
    before = failures_of(srv, "lea").count("gd_auth_failed")
    tok = challenge(srv, "lea")
    wrong = "%06d" % ((int(totp1.now()) + 500000) % 10**6)
    if wrong == totp2.now():
        wrong = "%06d" % ((int(wrong) + 1) % 10**6)
    err(mfa_grant(srv, tok, otp=wrong), 403, INVALID_OTP)
    assert failures_of(srv, "lea").count("gd_auth_failed") == before + 1
    r = mfa_grant(srv, tok, otp=totp2.now())
    assert r.status_code == 200, r.text
    assert failures_of(srv, "lea").count("gd_enrollment_complete") == 2
    listed = authenticators(srv, at).json()
    assert len(listed) == 3 and all(a["active"] for a in listed), listed
    # The second one goes: 204 without a body, gone from the list, its
    # codes no longer accepted (the next step of it was never used).
    r = delete_auth(srv, at, new[0]["id"])
    assert r.status_code == 204 and r.content == b"", r.text
    assert "gd_unenroll" in failures_of(srv, "lea")
    listed = authenticators(srv, at).json()
    assert new[0]["id"] not in {a["id"] for a in listed}
    assert len(listed) == 2, listed
    err(mfa_grant(srv, challenge(srv, "lea"), otp=totp2.at(time.time() + 30)),
        403, INVALID_OTP)
    err(delete_auth(srv, at, new[0]["id"]), 404, {"error": "not_found",
        "error_description": "Authenticator not found"})


def test_deleting_the_last_factor_takes_the_recovery_code_too(srv):
    totp, code, _ = enrol(srv, "max")
    at, _ = mfa_access(srv, "max", totp)
    otp = [a["id"] for a in authenticators(srv, at).json()
        if a["authenticator_type"] == "otp"][0]
    assert delete_auth(srv, at, otp).status_code == 204
    assert authenticators(srv, at).json() == []
    # "always": the next login enrols again, with a new recovery code.
    tok = challenge(srv, "max")
    err(srv.token({"grant_type": GRANT_RECOVERY, "client_id": lk.POST_ID,
        "client_secret": lk.POST_SECRET, "mfa_token": tok,
        "recovery_code": code}), 403, {"error": "unsupported_challenge_type",
        "error_description": "User does not have a recovery-code."})
    r = associate(srv, tok)
    assert r.status_code == 200 and len(r.json()["recovery_codes"]) == 1


def other_key_token(claims, kid):
    """claims signed by an RSA key that is ours in name only (kid)."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    return jwt.encode(claims, pem, algorithm="RS256", headers={"kid": kid})


def invalid(r, why):
    err(r, 401, {"error": "invalid_token", "error_description": why})
    assert r.headers["WWW-Authenticate"].startswith(
        'Bearer error="invalid_token"'), r.headers


def test_access_token_errors(srv):
    totp, code, _ = enrol(srv, "ned")
    at, code = mfa_access(srv, "ned", recovery=code, scope="enroll")
    auth_id = "totp|dev_0123456789abcdef"
    # RFC 6750 3.1: a scope the token lacks is 403 insufficient_scope.
    for r, need in ((authenticators(srv, at), "read:authenticators"),
                    (delete_auth(srv, at, auth_id), "remove:authenticators")):
        err(r, 403, {"error": "insufficient_scope", "error_description":
            "The access token was not granted the %s scope" % need})
        assert r.headers["WWW-Authenticate"] == \
            'Bearer error="insufficient_scope", scope="%s"' % need
    # oob needs the mfa_token of a login (its oob_code is bound to it).
    r = srv.post("mfa/associate", json.dumps({"authenticator_types": ["oob"],
        "oob_channels": ["sms"], "phone_number": "+15550007009"}),
        "application/json", bearer(at))
    err(r, 403, {"error": "access_denied", "error_description":
        "An oob authenticator is enrolled with the mfa_token of a login"})
    # An mfa_token does not delete a factor.
    invalid(delete_auth(srv, challenge(srv, "ned"), auth_id),
        "An mfa_token cannot remove an authenticator: use an MFA API "
        "access token")
    # Another audience's token of the same user.
    tok = challenge(srv, "ned", audience=lk.API)
    api = mfa_grant(srv, tok, otp=totp.at(time.time() + 30)).json()
    invalid(authenticators(srv, api["access_token"]),
        "The access token is not for the MFA API")
    # Changed, signed by a key not ours, cut short, unsigned.
    head, body, sig = at.split(".")
    flipped = sig[:-3] + ("A" if sig[-3] != "A" else "B") + sig[-2:]
    invalid(authenticators(srv, ".".join((head, body, flipped))),
        "The access token signature is invalid")
    claims = jwt.decode(at, options={"verify_signature": False})
    invalid(authenticators(srv, other_key_token(claims,
        jwt.get_unverified_header(at)["kid"])),
        "The access token signature is invalid")
    invalid(authenticators(srv, ".".join((head, body))),
        "The access token is malformed")
    unsigned = jwt.encode(claims, None, algorithm="none")
    invalid(authenticators(srv, unsigned), "The access token is malformed")
    # Unknown ids: a well-formed one 404 JSON; one outside the id
    # alphabet or too long is no endpoint (404 Not found).
    full, _ = mfa_access(srv, "ned", recovery=code)
    err(delete_auth(srv, full, auth_id), 404, {"error": "not_found",
        "error_description": "Authenticator not found"})
    for bad in ("a b", "x" * 65, "../authenticators"):
        err(delete_auth(srv, full, bad), 404, {"error": "not_found",
            "error_description": "Not found"})
    r = requests.get(srv.url("mfa/authenticators/" + auth_id), timeout=30)
    assert r.status_code == 405 and r.headers["Allow"] == "DELETE"
