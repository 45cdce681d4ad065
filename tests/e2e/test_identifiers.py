"""
One check for email addresses and phone numbers, whichever way they come
in: latchkeyctl user add refuses what /passwordless/start refuses (400
bad.email, 400 bad.phone_number with Auth0's pattern, docs/COMPAT.md 2),
and accepts what it accepts; a login the check refuses matches no code at
/oauth/ro or with the passwordless/otp grant.
"""
import json

import pytest

import lk
import pwl
from pwl import EMAIL, PWL_ID, PWL_SECRET, RO_ID, SMS, otp, ro, start

PATTERN = "String does not match pattern: ^\\+[0-9]{1,15}$"


@pytest.fixture(scope="module")
def srv():
    s = pwl.serve("ident")
    yield s
    pwl.finish(s)


def user_add(s, connection, *args):
    return lk.ctl(s.home, "user", "add", "--connection", connection, *args,
        check=False)


def refused(p):
    # An invalid value is a usage error: status 2 (latchkeyctl(8) EXIT
    # STATUS), a message, nothing written.
    assert p.returncode == 2, (p.returncode, p.stdout, p.stderr)
    assert p.stderr.strip(), "refused without a message"
    assert p.stdout == ""


def err(r, status, code, desc):
    assert r.status_code == status, r.text
    assert lk.error_body(r) == {"error": code, "error_description": desc}


@pytest.mark.parametrize("addr", ["bob@localhost", "bob", "bo b@example.org",
    "bob@example.org."])
def test_bad_email_refused_by_both(srv, addr):
    refused(user_add(srv, EMAIL, "--email", addr))
    err(start(srv, EMAIL, email=addr), 400, "bad.email",
        "Object didn't pass validation for format email: %s" % addr)


@pytest.mark.parametrize("phone", ["+1 555 010 4242", "+1 (555) 010-4242",
    "+1.555.010.4242", "15550104242", "+1234567890123456"])
def test_bad_phone_refused_by_both(srv, phone):
    refused(user_add(srv, SMS, "--phone", phone))
    err(start(srv, SMS, phone_number=phone), 400, "bad.phone_number", PATTERN)


def test_bad_phone_matches_no_code(srv):
    # The code went to +15550104242; the spaced form is not that number.
    n = "+15550104242"
    spaced = "+1 555 010 4242"
    assert start(srv, SMS, phone_number=n).status_code == 200
    err(ro(srv, connection=SMS, username=spaced,
        password=pwl.last_code(srv, n)), 401, "invalid_user_password",
        "Wrong phone number or verification code.")
    start(srv, SMS, client_id=PWL_ID, client_secret=PWL_SECRET,
        phone_number=n)
    err(otp(srv, SMS, spaced, pwl.last_code(srv, n)), 403, "invalid_grant",
        "Wrong phone number or verification code.")


def test_good_email_accepted_by_both(srv):
    addr = pwl.unique_email("ident")
    p = user_add(srv, EMAIL, "--email", addr)
    assert p.returncode == 0, p.stderr
    uid = json.loads(p.stdout)["user_id"]
    r = start(srv, EMAIL, email=addr.upper())
    assert r.status_code == 200, r.text
    assert r.json()["email"] == addr
    body = ro(srv, connection=EMAIL, username=addr,
        password=pwl.last_code(srv, addr), scope="openid").json()
    assert srv.decode(body["id_token"], audience=RO_ID)["sub"] == uid


def test_good_phone_accepted_by_both(srv):
    phone = pwl.unique_phone()
    p = user_add(srv, SMS, "--phone", phone)
    assert p.returncode == 0, p.stderr
    uid = json.loads(p.stdout)["user_id"]
    r = start(srv, SMS, phone_number=phone)
    assert r.status_code == 200, r.text
    assert r.json()["phone_number"] == phone
    body = ro(srv, connection=SMS, username=phone,
        password=pwl.last_code(srv, phone), scope="openid").json()
    assert srv.decode(body["id_token"], audience=RO_ID)["sub"] == uid
