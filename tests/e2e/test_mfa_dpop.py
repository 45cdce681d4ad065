"""
The MFA grants with DPoP (RFC 9449, docs/COMPAT.md 10 and 13.4): the
DPoP proof is checked for every grant at /oauth/token, so the second
factor's token is bound to the proof's key as the first grant's would
have been; and a proof does not get past mfa_required.
"""
import time

import pytest
import requests
from jwcrypto import jwk

import lk
from test_dpop import proof
from test_mfa import GRANT_OTP, MfaServer, bearer, challenge, enrol


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


def test_mfa_otp_with_a_proof_gets_a_bound_token(srv):
    totp, _, _ = enrol(srv, "ann")
    key = jwk.JWK.generate(kty="EC", crv="P-256")
    url = srv.url("oauth/token")
    email, pw = "ann@example.com", "ann-pw-Xc7vB0nM3qW6eR9t"
    r = srv.token(lk.password_form(username=email, password=pw,
        audience=lk.API), headers={"DPoP": proof(key, url)})
    assert r.status_code == 403 and r.json()["error"] == "mfa_required", r.text
    r = srv.token({"grant_type": GRANT_OTP, "client_id": lk.POST_ID,
        "client_secret": lk.POST_SECRET, "mfa_token": r.json()["mfa_token"],
        "otp": totp.at(time.time() + 30)}, headers={"DPoP": proof(key, url)})
    assert r.status_code == 200, r.text
    assert r.json()["token_type"] == "DPoP"
    claims = srv.decode(r.json()["access_token"], lk.API)
    assert claims["cnf"] == {"jkt": key.thumbprint()}
    assert claims["gty"] == "mfa-otp"


def test_a_bound_mfa_api_token_is_refused_as_bearer(srv):
    """RFC 9449 7.2: an MFA API access token bound to a DPoP key is no
    bearer token at the /mfa/ endpoints (docs/COMPAT.md 13.3)."""
    totp, _, _ = enrol(srv, "ben")
    key = jwk.JWK.generate(kty="EC", crv="P-256")
    url = srv.url("oauth/token")
    aud = srv.issuer + "mfa/"
    tok = challenge(srv, "ben", audience=aud, scope="read:authenticators")
    r = srv.token({"grant_type": GRANT_OTP, "client_id": lk.POST_ID,
        "client_secret": lk.POST_SECRET, "mfa_token": tok,
        "otp": totp.at(time.time() + 30)}, headers={"DPoP": proof(key, url)})
    assert r.status_code == 200, r.text
    at = r.json()["access_token"]
    assert srv.decode(at, aud)["cnf"] == {"jkt": key.thumbprint()}
    r = requests.get(srv.url("mfa/authenticators"), headers=bearer(at),
        timeout=30)
    assert r.status_code == 401, r.text
    assert r.json() == {"error": "invalid_token", "error_description":
        "The access token is DPoP-bound: it is not accepted as a Bearer "
        "token"}
