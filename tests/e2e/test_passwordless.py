"""
Passwordless (sms and email) connections through the real web server:
POST /passwordless/start with a delivery command that captures each code
to a file (deliver_capture.sh), then the exchange at /oauth/ro and with
the passwordless/otp grant at /oauth/token.  Codes tried expired, reused,
wrong three times, superseded and from another client; users created on
the first login; phone numbers checked against Auth0's pattern and
emails compared case-insensitively; deliveries run after the answer, their outcomes
audited and their failures logged; and every /passwordless/start error
row.
"""
import json
import os
import re
import time

import pytest
import requests

import lk
import pwl
from pwl import EMAIL, OTP_GRANT, PWL_ID, RO_ID, SMS, otp, ro, start


@pytest.fixture(scope="module")
def srv():
    s = pwl.serve("pwl")
    yield s
    pwl.finish(s)


def err(r, status, code, desc):
    assert r.status_code == status, r.text
    assert lk.error_body(r) == {"error": code, "error_description": desc}


def ro_ok(r):
    assert r.status_code == 200, r.text
    return r.json()


def sub_of(srv, body, aud=RO_ID):
    return srv.decode(body["id_token"], audience=aud)["sub"]


def wrong_phone_ro(r):
    err(r, 401, "invalid_user_password", "Wrong phone number or verification code.")


def wrong_phone_token(r):
    err(r, 403, "invalid_grant", "Wrong phone number or verification code.")


# --- /passwordless/start ------------------------------------------------

def test_start_sms_body_and_delivery(srv):
    phone = pwl.unique_phone()
    r = start(srv, SMS, phone_number=phone)
    assert r.status_code == 200, r.text
    body = r.json()
    # The auth0-java fixture's shape.
    assert set(body) == {"_id", "phone_number", "phone_verified", "request_language"}
    assert body["phone_number"] == phone and body["phone_verified"] is False
    assert body["request_language"] is None
    assert re.match(r"^[0-9a-f]{24}$", body["_id"])
    rcpt, code, env, conn, send = [c for c in pwl.codes(srv) if c[0] == phone][-1]
    assert (conn, send) == (SMS, "code") and code == env
    # The code is never logged.
    assert code not in srv.log()


def test_start_email_body(srv):
    r = start(srv, EMAIL, email="Mixed.Case@Example.ORG")
    assert r.status_code == 200, r.text
    body = r.json()
    assert set(body) == {"_id", "email", "email_verified"}
    assert body["email"] == "mixed.case@example.org"
    assert body["email_verified"] is False
    pwl.last_code(srv, "mixed.case@example.org")


def test_start_form_body_and_confidential_client(srv):
    phone = pwl.unique_phone()
    r = start(srv, SMS, client_id=PWL_ID, form=True, phone_number=phone,
        client_secret=pwl.PWL_SECRET)
    assert r.status_code == 200, r.text
    pwl.last_code(srv, phone)


def test_start_sms_send_defaults_to_code(srv):
    phone = pwl.unique_phone()
    assert start(srv, SMS, phone_number=phone, send=None).status_code == 200
    pwl.last_code(srv, phone)


def test_start_authparams_object_accepted(srv):
    phone = pwl.unique_phone()
    r = start(srv, SMS, phone_number=phone,
        authParams={"scope": "openid", "state": "xyz"})
    assert r.status_code == 200, r.text


@pytest.mark.parametrize("fields,status,code,desc", [
    ({"client_id": None}, 400, "bad.client_id",
        "Missing required property: client_id"),
    ({"connection": None}, 400, "bad.connection",
        "Missing required property: connection"),
    ({"connection": "no-such"}, 400, "bad.connection", "Connection does not exist"),
    ({"connection": lk.DB1}, 400, "bad.connection",
        "Invalid connection strategy. It must either be a passwordless connection"),
    ({"connection": pwl.SMS_OFF}, 400, "bad.connection", "Connection is disabled"),
    ({"phone_number": None}, 400, "bad.phone_number",
        "Missing required property: phone_number"),
    ({"phone_number": "6511234567"}, 400, "bad.phone_number",
        "String does not match pattern: ^\\+[0-9]{1,15}$"),
    ({"phone_number": "+1234567890123456"}, 400, "bad.phone_number",
        "String does not match pattern: ^\\+[0-9]{1,15}$"),
    ({"authParams": "scope=openid"}, 400, "bad.authParams",
        "error in authParams - invalid type: string (expected object)"),
    ({"authParams": 7}, 400, "bad.authParams",
        "error in authParams - invalid type: integer (expected object)"),
    ({"send": "link"}, 400, "bad.send",
        "send must be \"code\": latchkey does not send magic links"),
    ({"send": "carrier-pigeon"}, 400, "bad.send",
        "No enum match for: carrier-pigeon"),
    # Auth0: the client needs the Passwordless OTP grant.
    ({"client_id": lk.PUBLIC_ID}, 403, "unauthorized_client",
        "Grant type '%s' not allowed for the client." % OTP_GRANT),
    ({"client_id": pwl.NOOTP_ID}, 403, "unauthorized_client",
        "Grant type '%s' not allowed for the client." % OTP_GRANT),
    # A confidential client proves its secret.
    ({"client_id": PWL_ID}, 401, "access_denied", "Unauthorized"),
    ({"client_id": PWL_ID, "client_secret": "wrong-secret-xxxxxx"}, 401,
        "access_denied", "Unauthorized"),
    ({"client_id": "no-such-client"}, 401, "access_denied", "Unauthorized"),
])
def test_start_sms_error_rows(srv, fields, status, code, desc):
    body = {"client_id": RO_ID, "connection": SMS, "send": "code",
        "phone_number": "+16511234567"}
    body.update(fields)
    body = {k: v for k, v in body.items() if v is not None}
    err(srv.token(json_body=body, path="passwordless/start"), status, code, desc)


@pytest.mark.parametrize("fields,desc", [
    ({"email": None}, "Missing required property: email"),
    ({"email": "not-an-email"},
        "Object didn't pass validation for format email: not-an-email"),
])
def test_start_email_error_rows(srv, fields, desc):
    body = {"client_id": RO_ID, "connection": EMAIL, "send": "code",
        "email": "x@example.org"}
    body.update(fields)
    body = {k: v for k, v in body.items() if v is not None}
    err(srv.token(json_body=body, path="passwordless/start"), 400, "bad.email", desc)


def test_start_email_link_refused(srv):
    # Auth0's default for email is a magic link: latchkey says so clearly.
    err(start(srv, EMAIL, email="link@example.org", send=None), 400, "bad.send",
        "send must be \"code\": latchkey does not send magic links")


def test_start_form_authparams_is_a_string(srv):
    r = srv.token(form={"client_id": RO_ID, "connection": SMS,
        "phone_number": "+16511234567", "authParams": "x"},
        path="passwordless/start")
    err(r, 400, "bad.authParams",
        "error in authParams - invalid type: string (expected object)")


# --- background delivery and its failures ----------------------------------
#
# /passwordless/start answers before the delivery runs (the courier,
# lib/passwordless/courier.c), so the answer and its time are the same for a known, an
# unknown and a blocked recipient (no delivery runs for a blocked user),
# whatever the delivery does.  A failed delivery is no longer a 400
# sms_provider_error: that answer told a blocked recipient (200, nothing
# run) from the others on a failing gateway.  It is the audit log's "fn"
# record and the error log's line instead.

START_BODY = {"_id", "phone_number", "phone_verified", "request_language"}


def test_delivery_outcome_is_audited(srv):
    phone = pwl.unique_phone()
    r = start(srv, SMS, phone_number=phone)
    assert r.status_code == 200, r.text
    ev = pwl.outcome(srv, phone)
    assert ev["type"] == "cs" and ev["description"] == "Passwordless code delivered"
    assert ev["endpoint"] == "/passwordless/start" and ev["client_id"] == RO_ID
    assert ev["ip"] == "127.0.0.1"
    # The code arrived through the delivery command, and is never in the
    # audit log.
    code = pwl.last_code(srv, phone)
    assert code not in json.dumps(pwl.audit(srv))


def test_failing_sms_delivery_is_audited_and_logged_not_answered(srv):
    phone = pwl.unique_phone()
    r = start(srv, pwl.SMS_BROKEN, phone_number=phone)
    assert r.status_code == 200, r.text
    assert set(r.json()) == START_BODY
    ev = pwl.outcome(srv, phone)
    assert ev["type"] == "fn", ev
    # Only the connection and the exit status: what the command printed
    # is logged with the code masked.
    assert ev["description"] == "sms-broken delivery failed (Code: 5)"
    log = srv.log()
    assert ("connection sms-broken: delivery failed (Code: 5): gateway down "
        "for code ******") in log
    assert phone not in log
    # The undelivered code was withdrawn: it cannot be exchanged.
    code = pwl.last_code(srv, phone)
    assert code not in json.dumps(pwl.audit(srv))
    wrong_phone_ro(ro(srv, connection=pwl.SMS_BROKEN, username=phone,
        password=code))


def test_failing_email_delivery(srv):
    r = start(srv, pwl.EMAIL_BROKEN, email="broken@example.org")
    assert r.status_code == 200, r.text
    ev = pwl.outcome(srv, "broken@example.org")
    assert (ev["type"], ev["description"]) == ("fn",
        "email-broken delivery failed (Code: 5)")


def test_hanging_delivery_does_not_hold_the_answer_and_is_killed(srv):
    phone = pwl.unique_phone()
    t0 = time.time()
    r = start(srv, pwl.SMS_SLOW, phone_number=phone, wait=False)
    # The answer does not wait for the command (killed after 1 s).
    assert r.status_code == 200, r.text
    assert time.time() - t0 < 0.9
    ev = pwl.outcome(srv, phone)
    assert ev["description"] == "sms-slow delivery failed (Code: timeout)"
    assert time.time() - t0 < 10


def _zombies_and_fds(pid):
    kids = open("/proc/%d/task/%d/children" % (pid, pid)).read().split()
    return kids, len(os.listdir("/proc/%d/fd" % pid))


def test_responders_keep_no_child_and_no_descriptor(srv):
    # The courier is forked twice: a responder never has a child to reap
    # (no zombie), and its descriptors do not grow with the deliveries.
    for _ in range(2):
        start(srv, SMS, phone_number=pwl.unique_phone())
    before = {p: _zombies_and_fds(p) for p in srv._children()}
    for _ in range(12):
        start(srv, SMS, phone_number=pwl.unique_phone(), wait=False)
        start(srv, pwl.SMS_BROKEN, phone_number=pwl.unique_phone(), wait=False)
    pwl.settle(srv)
    after = {p: _zombies_and_fds(p) for p in srv._children()}
    assert before.keys() == after.keys()
    for p, (kids, fds) in after.items():
        assert kids == [], (p, kids)
        assert fds == before[p][1], (p, before[p], fds)


def test_a_burst_for_one_recipient_delivers_in_order(srv):
    # Only the latest code is valid: it is delivered last.
    phone = pwl.unique_phone()
    for _ in range(4):
        assert start(srv, SMS, phone_number=phone, wait=False).status_code == 200
    pwl.settle(srv)
    ro_ok(ro(srv, connection=SMS, username=phone,
        password=pwl.last_code(srv, phone)))


# --- the exchange -----------------------------------------------------------

def test_first_login_creates_verified_sms_user(srv):
    phone = pwl.unique_phone()
    assert not lk.ctl(srv.home, "user", "find", "--connection", SMS, phone,
        check=False).returncode == 0
    start(srv, SMS, phone_number=phone)
    body = ro_ok(ro(srv, connection=SMS, username=phone,
        password=pwl.last_code(srv, phone), scope="openid phone"))
    c = srv.decode(body["id_token"], audience=RO_ID)
    assert re.match(r"^sms\|[0-9a-f]{24}$", c["sub"])
    assert c["phone_number"] == phone and c["phone_verified"] is True
    user = json.loads(lk.ctl(srv.home, "user", "find", "--connection", SMS,
        phone).stdout)
    assert user["user_id"] == c["sub"] and user["phone_verified"] is True
    # The second login is the same user.
    start(srv, SMS, phone_number=phone)
    again = ro_ok(ro(srv, connection=SMS, username=phone,
        password=pwl.last_code(srv, phone), scope="openid"))
    assert sub_of(srv, again) == c["sub"]


def test_otp_grant_sms(srv):
    phone = pwl.unique_phone()
    start(srv, SMS, client_id=PWL_ID, client_secret=pwl.PWL_SECRET,
        phone_number=phone)
    r = otp(srv, SMS, phone, pwl.last_code(srv, phone), scope="openid")
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["token_type"] == "Bearer"
    at = srv.decode(body["access_token"], audience=srv.issuer + "userinfo")
    assert at["gty"] == "passwordless/otp" and at["azp"] == PWL_ID
    assert at["sub"].startswith("sms|")
    assert sub_of(srv, body, PWL_ID) == at["sub"]


def test_otp_grant_email_case_insensitive(srv):
    addr = pwl.unique_email("Dana")
    start(srv, EMAIL, client_id=PWL_ID, client_secret=pwl.PWL_SECRET,
        email=addr.upper())
    code = pwl.last_code(srv, addr.lower())
    r = otp(srv, EMAIL, addr.swapcase(), code, scope="openid email")
    assert r.status_code == 200, r.text
    c = srv.decode(r.json()["id_token"], audience=PWL_ID)
    assert re.match(r"^email\|[0-9a-f]{24}$", c["sub"])
    assert c["email"] == addr.lower() and c["email_verified"] is True


def test_email_code_at_oauth_ro(srv):
    addr = pwl.unique_email()
    start(srv, EMAIL, email=addr)
    body = ro_ok(ro(srv, connection=EMAIL, username=addr.upper(),
        password=pwl.last_code(srv, addr), scope="openid email"))
    c = srv.decode(body["id_token"], audience=RO_ID)
    assert c["sub"].startswith("email|") and c["email"] == addr


def test_phone_separators_refused(srv):
    # Auth0's pattern, ^\+[0-9]{1,15}$ (docs/COMPAT.md 2): spaces and
    # brackets are refused at the start, not dropped, and a login written
    # so matches no code at either exchange, nor costs the code a try.
    n = pwl.unique_phone()		# +1555NNNNNNN
    pretty = "+1 (%s) %s-%s" % (n[2:5], n[5:8], n[8:])
    err(start(srv, SMS, phone_number=pretty), 400, "bad.phone_number",
        "String does not match pattern: ^\\+[0-9]{1,15}$")
    start(srv, SMS, phone_number=n)
    code = pwl.last_code(srv, n)
    wrong_phone_ro(ro(srv, connection=SMS, username=pretty.replace(" ", "."),
        password=code))
    ro_ok(ro(srv, connection=SMS, username=n, password=code))
    start(srv, SMS, client_id=PWL_ID, client_secret=pwl.PWL_SECRET,
        phone_number=n)
    code = pwl.last_code(srv, n)
    wrong_phone_token(otp(srv, SMS, pretty, code))
    assert otp(srv, SMS, n, code).status_code == 200


def test_reused_code_fails(srv):
    phone = pwl.unique_phone()
    start(srv, SMS, phone_number=phone)
    code = pwl.last_code(srv, phone)
    ro_ok(ro(srv, connection=SMS, username=phone, password=code))
    wrong_phone_ro(ro(srv, connection=SMS, username=phone, password=code))
    # And at /oauth/token.
    start(srv, SMS, client_id=PWL_ID, client_secret=pwl.PWL_SECRET,
        phone_number=phone)
    code = pwl.last_code(srv, phone)
    assert otp(srv, SMS, phone, code).status_code == 200
    wrong_phone_token(otp(srv, SMS, phone, code))


def _wrong(code):
    return "%06d" % ((int(code) + 1) % 1000000)


def test_three_wrong_tries_kill_the_code(srv):
    phone = pwl.unique_phone()
    start(srv, SMS, phone_number=phone)
    code = pwl.last_code(srv, phone)
    for _ in range(3):
        wrong_phone_ro(ro(srv, connection=SMS, username=phone,
            password=_wrong(code)))
    wrong_phone_ro(ro(srv, connection=SMS, username=phone, password=code))


def test_two_wrong_tries_then_right_works(srv):
    phone = pwl.unique_phone()
    start(srv, SMS, client_id=PWL_ID, client_secret=pwl.PWL_SECRET,
        phone_number=phone)
    code = pwl.last_code(srv, phone)
    for _ in range(2):
        wrong_phone_token(otp(srv, SMS, phone, _wrong(code)))
    assert otp(srv, SMS, phone, code).status_code == 200


def test_three_wrong_tries_at_oauth_token(srv):
    addr = pwl.unique_email()
    start(srv, EMAIL, client_id=PWL_ID, client_secret=pwl.PWL_SECRET, email=addr)
    code = pwl.last_code(srv, addr)
    for _ in range(3):
        err(otp(srv, EMAIL, addr, _wrong(code)), 403, "invalid_grant",
            "Wrong email or verification code.")
    err(otp(srv, EMAIL, addr, code), 403, "invalid_grant",
        "Wrong email or verification code.")


def test_superseded_code_fails(srv):
    phone = pwl.unique_phone()
    start(srv, SMS, phone_number=phone)
    first = pwl.last_code(srv, phone)
    start(srv, SMS, phone_number=phone)
    second = pwl.last_code(srv, phone)
    if first != second:
        wrong_phone_ro(ro(srv, connection=SMS, username=phone, password=first))
    ro_ok(ro(srv, connection=SMS, username=phone, password=second))


def test_expired_code_fails(srv):
    # sms-short: otp_lifetime 2 s.
    phone = pwl.unique_phone()
    start(srv, pwl.SMS_SHORT, phone_number=phone)
    code = pwl.last_code(srv, phone)
    time.sleep(3.1)
    wrong_phone_ro(ro(srv, connection=pwl.SMS_SHORT, username=phone,
        password=code))
    # A fresh one works at once.
    start(srv, pwl.SMS_SHORT, phone_number=phone)
    ro_ok(ro(srv, connection=pwl.SMS_SHORT, username=phone,
        password=pwl.last_code(srv, phone)))


def test_code_bound_to_its_client(srv):
    phone = pwl.unique_phone()
    start(srv, SMS, phone_number=phone)		# RO_ID asked for it
    code = pwl.last_code(srv, phone)
    wrong_phone_token(otp(srv, SMS, phone, code))	# PWL_ID tries it
    ro_ok(ro(srv, connection=SMS, username=phone, password=code))


def test_code_bound_to_its_connection(srv):
    phone = pwl.unique_phone()
    start(srv, pwl.SMS_SHORT, phone_number=phone)
    wrong_phone_ro(ro(srv, connection=SMS, username=phone,
        password=pwl.last_code(srv, phone)))


@pytest.mark.parametrize("drop", ["realm", "username", "otp"])
def test_otp_grant_missing_parameters(srv, drop):
    f = {"realm": SMS, "username": "+16511234567", "otp": "123456"}
    f[drop] = None
    err(otp(srv, f["realm"], f["username"], f["otp"]), 400, "invalid_request",
        "Missing required parameter: %s" % drop)


def test_otp_grant_realm_errors(srv):
    err(otp(srv, "no-such", "+16511234567", "123456"), 400, "invalid_request",
        "Unknown realm no-such.")
    err(otp(srv, pwl.SMS_OFF, "+16511234567", "123456"), 403,
        "unauthorized_client",
        "The connection %s is not enabled for this client." % pwl.SMS_OFF)


def test_otp_grant_needs_the_grant(srv):
    # lk.POST_ID holds only the password grants.
    err(otp(srv, SMS, "+16511234567", "123456", client_id=lk.POST_ID,
        secret=lk.POST_SECRET), 403, "unauthorized_client",
        "Grant type '%s' not allowed for the client." % OTP_GRANT)


def test_blocked_user_gets_no_code(srv):
    r = start(srv, SMS, phone_number=pwl.BLOCKED_PHONE)
    assert r.status_code == 200
    assert set(r.json()) == START_BODY
    assert not [c for c in pwl.codes(srv) if c[0] == pwl.BLOCKED_PHONE]
    assert "blocked user: no code sent" in srv.log()
    ev = pwl.outcome(srv, pwl.BLOCKED_PHONE)
    assert (ev["type"], ev["user_id"]) == ("f", pwl.BLOCKED_ID)
    assert ev["description"] == "Passwordless code not sent: the user is blocked"


def test_discovery_lists_the_otp_grant(srv):
    d = requests.get(srv.url(".well-known/openid-configuration"), timeout=30).json()
    assert OTP_GRANT in d["grant_types_supported"]
