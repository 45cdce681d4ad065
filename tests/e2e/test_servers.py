"""
The same smoke set through every web server configuration shipped in
httpd-conf/ (see webservers.py), once at the site root and once under the
prefix /auth: a password grant whose token PyJWT verifies against the
JWKS that server publishes, a malformed request, the JWKS, HTTP Basic
client authentication (the Authorization header must reach the
responder), latchkey's JSON 404 inside a mapped tree, and the body limit
(the server must let a body just over 64 KiB through to latchkey's JSON
413).
"""
import pytest
import requests

import lk
import webservers

PREFIXES = ["", "/auth"]
PARAMS = [(k, p) for k in webservers.KINDS for p in PREFIXES]
# The shared-hosting configuration (.htaccess SetEnv) names
# LATCHKEY_HOME only: a shared host has no PostgreSQL cluster of its own.
HOME_ONLY = ("apache-cgi",)


@pytest.fixture(scope="module", params=PARAMS,
    ids=["%s%s" % (k, p.replace("/", "-")) for k, p in PARAMS])
def web(request):
    kind, prefix = request.param
    if lk.PG and kind in HOME_ONLY:
        pytest.skip("%s's configuration passes LATCHKEY_HOME only, not "
            "LATCHKEY_DATABASE" % kind)
    s = webservers.KINDS[kind](prefix)
    try:
        s.start()
    except BaseException:
        s.stop()
        s.cleanup()
        raise
    yield s
    s.stop()
    found = s.sanitizer_reports()
    if found:
        pytest.fail("sanitizer report in %s (%s); log kept in %s:\n%s" % (
            s.errlog, ", ".join(found), s.tmp, s.log()[-8000:]), pytrace=False)
    s.cleanup()


def test_password_grant_token_verifies_against_servers_jwks(web):
    r = web.token(lk.password_form(audience=lk.API))
    assert r.status_code == 200, r.text
    assert r.headers["Content-Type"].startswith("application/json")
    assert r.headers.get("Cache-Control") == "no-store"
    claims = web.decode(r.json()["access_token"], audience=lk.API)
    assert claims["iss"] == web.issuer and claims["iss"].endswith(
        web.prefix + "/")
    assert claims["azp"] == lk.POST_ID and claims["gty"] == "password"


def test_malformed_request_is_400_json(web):
    f = lk.password_form(audience=lk.API)
    del f["username"]
    r = web.token(f)
    assert r.status_code == 400
    assert lk.error_body(r) == {"error": "invalid_request",
        "error_description": "Missing required parameter: username"}


def test_jwks(web):
    r = requests.get(web.url(".well-known/jwks.json"), timeout=30)
    assert r.status_code == 200
    assert r.headers["Content-Type"].startswith("application/json")
    keys = r.json()["keys"]
    assert keys and all(k["kty"] == "RSA" and k["kid"] for k in keys)


def test_basic_client_auth_header_arrives(web):
    h = {"Authorization": lk.basic(lk.BASIC_ID, lk.BASIC_SECRET)}
    r = web.token(lk.password_form(client_id=None, secret=None,
        audience=lk.API), headers=h)
    assert r.status_code == 200, r.text
    assert web.decode(r.json()["access_token"], audience=lk.API)["azp"] \
        == lk.BASIC_ID
    # The header is read, not merely tolerated: a wrong secret fails.
    h = {"Authorization": lk.basic(lk.BASIC_ID, lk.BASIC_SECRET + "x")}
    r = web.token(lk.password_form(client_id=None, secret=None,
        audience=lk.API), headers=h)
    assert r.status_code == 401
    assert lk.error_body(r)["error"] == "access_denied"
    assert r.headers.get("WWW-Authenticate", "").startswith("Basic")


def test_unknown_path_in_mapped_tree_is_json_404(web):
    r = requests.get(web.url("oauth/no-such-endpoint"), timeout=30)
    assert r.status_code == 404
    assert lk.error_body(r)["error"] == "not_found"


def test_body_over_64k_reaches_latchkey_json_413(web):
    r = web.post("oauth/token", "a=" + "x" * (70 * 1024),
        "application/x-www-form-urlencoded")
    assert r.status_code == 413
    assert lk.error_body(r)["error"] == "invalid_request"
