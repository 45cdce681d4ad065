"""
Refusals after the request decoded well: grants, realms, users and
audiences, with the exact Auth0 statuses and bodies (lib/http/oerr.c).
"""
import urllib.parse

import lk
from lk import (ALICE, ALICE_PW, API, DB1, DB2, GRANT_REALM, NOPW_ID, NOPW_SECRET,
    REALMONLY_ID, REALMONLY_SECRET, password_form, realm_form)

WRONG = {"error": "invalid_grant", "error_description": "Wrong email or password."}


def err(r, status, body):
    assert r.status_code == status, r.text
    assert lk.error_body(r) == body
    return r


def test_password_grant_not_allowed_for_client(server):
    err(server.token(password_form(client_id=NOPW_ID, secret=NOPW_SECRET, audience=API)),
        403, {"error": "unauthorized_client",
              "error_description": "Grant type 'password' not allowed for the client."})


def test_password_realm_grant_not_allowed_for_client(server):
    err(server.token(realm_form(client_id=NOPW_ID, secret=NOPW_SECRET, audience=API)),
        403, {"error": "unauthorized_client", "error_description":
              "Grant type '%s' not allowed for the client." % GRANT_REALM})


def test_realm_only_client_cannot_use_password_grant(server):
    err(server.token(password_form(client_id=REALMONLY_ID, secret=REALMONLY_SECRET,
        audience=API)), 403, {"error": "unauthorized_client",
        "error_description": "Grant type 'password' not allowed for the client."})
    assert server.token(realm_form(client_id=REALMONLY_ID, secret=REALMONLY_SECRET,
        audience=API)).status_code == 200


def test_realm_not_enabled_for_client(server):
    err(server.token(realm_form(realm=DB2, client_id=lk.HS_ID, secret=lk.HS_SECRET,
        username=lk.BOB, password=lk.BOB_PW, audience=API)),
        403, {"error": "unauthorized_client",
              "error_description": "The connection %s is not enabled for this client." % DB2})


def test_unknown_realm(server):
    err(server.token(realm_form(realm="no-such-db", audience=API)),
        400, {"error": "invalid_request", "error_description": "Unknown realm no-such-db."})


def test_user_of_another_connection_is_wrong_credentials(server):
    # bob exists only in DB2; the default directory is DB1.
    err(server.token(password_form(username=lk.BOB, password=lk.BOB_PW, audience=API)),
        403, WRONG)
    err(server.token(realm_form(realm=DB1, username=lk.BOB, password=lk.BOB_PW,
        audience=API)), 403, WRONG)


def test_wrong_password(server):
    err(server.token(password_form(password=ALICE_PW + "!", audience=API)), 403, WRONG)


def test_empty_password_is_refused(server):
    r = server.token(password_form(password="", audience=API))
    assert r.status_code in (400, 403), r.text


def test_unknown_user_answer_identical_to_wrong_password(server):
    a = server.token(password_form(password="not the password", audience=API))
    b = server.token(password_form(username="nobody@example.com",
        password="not the password", audience=API))
    err(a, 403, WRONG)
    err(b, 403, WRONG)
    assert a.content == b.content
    strip = {"Date", "X-Request-Id"}
    ha = {k: v for k, v in a.headers.items() if k not in strip}
    hb = {k: v for k, v in b.headers.items() if k not in strip}
    assert ha == hb


def test_blocked_user(server):
    err(server.token(password_form(username=lk.CAROL, password=lk.CAROL_PW, audience=API)),
        401, {"error": "unauthorized", "error_description": "user is blocked"})


def test_blocked_user_with_wrong_password_reveals_nothing(server):
    err(server.token(password_form(username=lk.CAROL, password="guess", audience=API)),
        403, WRONG)


def test_unknown_audience(server):
    err(server.token(password_form(audience="https://nope.example/")),
        403, {"error": "access_denied",
              "error_description": "Service not found: https://nope.example/"})


def test_unknown_audience_with_unauthenticated_client_is_unauthorized(server):
    # Client authentication comes first: no API names leak to strangers.
    err(server.token(password_form(secret="wrong", audience="https://nope.example/")),
        401, {"error": "access_denied", "error_description": "Unauthorized"})


def test_wrong_password_with_bad_client_is_unauthorized(server):
    err(server.token(password_form(secret="wrong", password="guess", audience=API)),
        401, {"error": "access_denied", "error_description": "Unauthorized"})


def test_body_of_exactly_64k_is_not_too_large(server):
    body = "grant_type=password&client_id=post-app&client_secret=%s&username=%s" \
        "&password=%s&audience=%s&pad=" % (lk.POST_SECRET,
        urllib.parse.quote_plus(ALICE), urllib.parse.quote_plus(ALICE_PW),
        urllib.parse.quote_plus(API))
    body += "a" * (64 * 1024 - len(body))
    r = server.post("oauth/token", body, "application/x-www-form-urlencoded")
    assert r.status_code == 200, r.text


def test_body_far_over_limit_is_413(server):
    # Beyond lighttpd's own limit (server.max-request-size): still a 413.
    r = server.post("oauth/token", "a" * (512 * 1024), "application/x-www-form-urlencoded")
    assert r.status_code == 413
