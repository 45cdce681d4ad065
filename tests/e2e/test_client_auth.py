"""
Client authentication at /oauth/token (RFC 6749 2.3, RFC 7523 2.2):
client_secret_post, client_secret_basic, none, private_key_jwt, and the
401 access_denied "Unauthorized" answer to every failure.
"""
import base64
import hashlib
import hmac
import json
import time
import uuid

import pytest

import lk
from lk import (API, ASSERTION_TYPE, BASIC_ID, BASIC_SECRET, PK_ID, POST_ID,
    POST_SECRET, PUBLIC_ID, b64url, basic, password_form)

UNAUTHORIZED = {"error": "access_denied", "error_description": "Unauthorized"}
MULTIPLE = {"error": "invalid_request", "error_description":
    "Only one client authentication method may be used per request"}


def granted(server, r, client_id):
    assert r.status_code == 200, r.text
    c = server.decode(r.json()["access_token"], audience=API)
    assert c["azp"] == client_id
    return c


def denied(r, basic_challenge=False):
    assert r.status_code == 401, r.text
    assert lk.error_body(r) == UNAUTHORIZED
    if basic_challenge:
        assert r.headers.get("WWW-Authenticate", "").startswith("Basic"), r.headers


# --- client_secret_post ---------------------------------------------------

def test_client_secret_post(server):
    granted(server, server.token(password_form(audience=API)), POST_ID)


def test_unknown_client_is_unauthorized(server):
    denied(server.token(password_form(client_id="no-such-client", audience=API)))


def test_wrong_secret_is_unauthorized(server):
    denied(server.token(password_form(secret=POST_SECRET + "x", audience=API)))


def test_confidential_client_without_secret_is_unauthorized(server):
    denied(server.token(password_form(secret=None, audience=API)))


def test_secret_of_another_client_is_unauthorized(server):
    denied(server.token(password_form(secret=lk.HS_SECRET, audience=API)))


# --- client_secret_basic ----------------------------------------------------

def test_client_secret_basic_with_form_encoded_credentials(server):
    # BASIC_ID and BASIC_SECRET hold ':' '+' '%' ' ': RFC 6749 2.3.1
    # form-encodes both before base64; client_id absent from the body.
    r = server.token(password_form(client_id=None, secret=None, audience=API),
        headers={"Authorization": basic(BASIC_ID, BASIC_SECRET)})
    granted(server, r, BASIC_ID)


def test_client_secret_basic_with_matching_client_id_in_body(server):
    r = server.token(password_form(client_id=BASIC_ID, secret=None, audience=API),
        headers={"Authorization": basic(BASIC_ID, BASIC_SECRET)})
    granted(server, r, BASIC_ID)


def test_client_secret_basic_wrong_secret_challenges(server):
    r = server.token(password_form(client_id=None, secret=None, audience=API),
        headers={"Authorization": basic(BASIC_ID, BASIC_SECRET + "x")})
    denied(r, basic_challenge=True)


def test_client_secret_basic_body_client_id_mismatch_rejected(server):
    r = server.token(password_form(client_id=POST_ID, secret=None, audience=API),
        headers={"Authorization": basic(BASIC_ID, BASIC_SECRET)})
    assert r.status_code in (400, 401), r.text
    assert r.status_code != 200


@pytest.mark.parametrize("value", ["Basic", "Basic !!!notbase64", "Basic " +
    base64.b64encode(b"no-colon").decode()], ids=["empty", "not_base64", "no_colon"])
def test_malformed_basic_header_is_unauthorized(server, value):
    r = server.token(password_form(client_id=None, secret=None, audience=API),
        headers={"Authorization": value})
    assert r.status_code in (400, 401), r.text
    assert lk.error_body(r)["error"] in ("access_denied", "invalid_request")


def test_basic_and_post_secret_at_once_is_invalid_request(server):
    r = server.token(password_form(client_id=BASIC_ID, secret=BASIC_SECRET, audience=API),
        headers={"Authorization": basic(BASIC_ID, BASIC_SECRET)})
    assert r.status_code == 400, r.text
    assert lk.error_body(r) == MULTIPLE


# --- none (public clients) -------------------------------------------------

def test_public_client_with_client_id_only(server):
    granted(server, server.token(password_form(client_id=PUBLIC_ID, secret=None,
        audience=API)), PUBLIC_ID)


def test_public_client_with_basic_empty_secret(server):
    # requests-oauthlib sends Basic base64("client_id:") for public clients.
    r = server.token(password_form(client_id=None, secret=None, audience=API),
        headers={"Authorization": "Basic " + base64.b64encode(
            (PUBLIC_ID + ":").encode()).decode()})
    granted(server, r, PUBLIC_ID)


# --- private_key_jwt (RFC 7523) ---------------------------------------------

def pk_form(assertion, client_id=PK_ID, **extra):
    f = password_form(client_id=client_id, secret=None, audience=API)
    f["client_assertion"] = assertion
    f["client_assertion_type"] = ASSERTION_TYPE
    f.update(extra)
    return f


def test_private_key_jwt_audience_issuer(server):
    granted(server, server.token(pk_form(server.assertion())), PK_ID)


def test_private_key_jwt_audience_token_endpoint(server):
    a = server.assertion(aud=server.issuer + "oauth/token")
    granted(server, server.token(pk_form(a)), PK_ID)


def test_private_key_jwt_without_client_id_in_body(server):
    # RFC 7521 4.2: client_id is optional with an assertion.
    granted(server, server.token(pk_form(server.assertion(), client_id=None)), PK_ID)


def test_private_key_jwt_json_body(server):
    r = server.token(json_body={k: v for k, v in pk_form(server.assertion()).items()
        if v is not None})
    granted(server, r, PK_ID)


def test_private_key_jwt_jti_replay_rejected(server):
    a = server.assertion()
    granted(server, server.token(pk_form(a)), PK_ID)
    denied(server.token(pk_form(a)))


def test_private_key_jwt_wrong_audience_rejected(server):
    denied(server.token(pk_form(server.assertion(aud="https://elsewhere.example/"))))


def test_private_key_jwt_expired_rejected(server):
    now = int(time.time())
    denied(server.token(pk_form(server.assertion(iat=now - 600, exp=now - 300))))


def test_private_key_jwt_long_lived_rejected(server):
    now = int(time.time())
    denied(server.token(pk_form(server.assertion(exp=now + 3600))))


def test_private_key_jwt_without_exp_rejected(server):
    denied(server.token(pk_form(server.assertion(exp=None))))


def test_private_key_jwt_without_jti_rejected(server):
    denied(server.token(pk_form(server.assertion(jti=None))))


def test_private_key_jwt_wrong_issuer_rejected(server):
    denied(server.token(pk_form(server.assertion(iss=POST_ID))))


def test_private_key_jwt_sub_differs_from_iss_rejected(server):
    denied(server.token(pk_form(server.assertion(sub="someone-else"))))


def test_private_key_jwt_unregistered_key_rejected(server):
    denied(server.token(pk_form(server.assertion(key=lk.new_rsa_key()))))


def test_private_key_jwt_unregistered_key_without_kid_rejected(server):
    denied(server.token(pk_form(server.assertion(key=lk.new_rsa_key(), kid=None))))


def test_private_key_jwt_registered_key_without_kid_accepted(server):
    granted(server, server.token(pk_form(server.assertion(kid=None))), PK_ID)


def _unsigned(server, alg, sign=None):
    now = int(time.time())
    hdr = b64url(json.dumps({"alg": alg, "typ": "JWT", "kid": lk.PK_KID}))
    pl = b64url(json.dumps({"iss": PK_ID, "sub": PK_ID, "aud": server.issuer,
        "jti": uuid.uuid4().hex, "iat": now, "exp": now + 60}))
    sig = sign(("%s.%s" % (hdr, pl)).encode()) if sign else b""
    return "%s.%s.%s" % (hdr, pl, b64url(sig) if sig else "")


def test_private_key_jwt_alg_none_rejected(server):
    denied(server.token(pk_form(_unsigned(server, "none"))))
    denied(server.token(pk_form(_unsigned(server, "None"))))


def test_private_key_jwt_hs256_with_public_key_rejected(server):
    # Algorithm confusion: HMAC keyed with the registered public key PEM.
    pem = lk.public_pem(server.client_key).encode()
    a = _unsigned(server, "HS256", lambda m: hmac.new(pem, m, hashlib.sha256).digest())
    denied(server.token(pk_form(a)))


def test_private_key_jwt_garbage_assertion_rejected(server):
    denied(server.token(pk_form("not.a.jwt")))
    denied(server.token(pk_form("x")))


def test_private_key_jwt_wrong_assertion_type_is_invalid_request(server):
    f = pk_form(server.assertion())
    f["client_assertion_type"] = "urn:ietf:params:oauth:client-assertion-type:saml2-bearer"
    r = server.token(f)
    assert r.status_code == 400, r.text
    assert lk.error_body(r) == {"error": "invalid_request", "error_description":
        "client_assertion_type must be urn:ietf:params:oauth:client-assertion-type:jwt-bearer"}


def test_assertion_and_secret_at_once_is_invalid_request(server):
    f = pk_form(server.assertion(), client_secret="whatever")
    r = server.token(f)
    assert r.status_code == 400, r.text
    assert lk.error_body(r) == MULTIPLE


def test_assertion_and_basic_at_once_is_invalid_request(server):
    r = server.token(pk_form(server.assertion()),
        headers={"Authorization": basic(BASIC_ID, BASIC_SECRET)})
    assert r.status_code == 400, r.text
    assert lk.error_body(r) == MULTIPLE


def test_secret_for_private_key_jwt_client_is_unauthorized(server):
    denied(server.token(password_form(client_id=PK_ID, secret="guess", audience=API)))


# --- what real SDKs send (lib/security/client.c) -------------------------------------

RAW_ID, RAW_SECRET = "raw+basic%app", "s3cr+t%41x-raw-Basic-secret"


@pytest.fixture(scope="module")
def raw_client(server):
    """A client whose id and secret hold '+' and '%' (added once)."""
    lk.ctl(server.home, "client", "add", "--name", "Raw Basic App",
        "--client-id", RAW_ID, "--type", "regular_web", "--auth-method",
        "client_secret_basic", "--grants", "password", "--secret-stdin",
        input=RAW_SECRET + "\n")
    lk.ctl(server.home, "connection", "update", lk.DB1, "--enable-client", RAW_ID)
    return RAW_ID


def test_basic_raw_credentials_as_python_requests_sends_them(server, raw_client):
    # requests' HTTPBasicAuth (requests-oauthlib) base64-encodes id:secret
    # without form-encoding them first.
    raw = "Basic " + base64.b64encode(("%s:%s" % (RAW_ID, RAW_SECRET)).encode()).decode()
    f = password_form(client_id=None, secret=None, audience=API)
    granted(server, server.token(f, headers={"Authorization": raw}), RAW_ID)
    # The RFC 6749 2.3.1 form-encoded header works as well.
    granted(server, server.token(f, headers={"Authorization": basic(RAW_ID,
        RAW_SECRET)}), RAW_ID)
    # A wrong secret is wrong either way.
    bad = "Basic " + base64.b64encode(("%s:%s" % (RAW_ID, RAW_SECRET + "x")
        ).encode()).decode()
    denied(server.token(f, headers={"Authorization": bad}), basic_challenge=True)


def test_public_client_with_empty_client_secret(server):
    # Some SDKs send client_secret= for a public client: no secret at all.
    f = password_form(client_id=PUBLIC_ID, secret="", audience=API)
    granted(server, server.token(f), PUBLIC_ID)
    # It does not make a confidential client public.
    denied(server.token(password_form(client_id=POST_ID, secret="", audience=API)))


# --- latchkeyctl while the responders run (lib/store/record_cache.c) --------

CACHED_ID, CACHED_SECRET = "cached-app", "cached-app-secret-Zx81qW"
# More logins than the pool has responders, so that each has the records
# of the state before in its cache when the state changes.
ROUNDS = 12


def test_latchkeyctl_changes_reach_every_responder_at_the_next_request(server):
    """A responder keeps the records it parsed while the store's
    generation holds: a secret rotated, a tenant setting changed, a
    client removed are seen by the very next request of every one."""
    lk.ctl(server.home, "client", "add", "--name", "Cached App",
        "--client-id", CACHED_ID, "--type", "regular_web", "--auth-method",
        "client_secret_post", "--grants", "password", "--secret-stdin",
        input=CACHED_SECRET + "\n")
    lk.ctl(server.home, "connection", "update", lk.DB1, "--enable-client",
        CACHED_ID)
    form = password_form(client_id=CACHED_ID, secret=CACHED_SECRET)
    for _ in range(ROUNDS):
        granted(server, server.token(dict(form, audience=API)), CACHED_ID)

    out = lk.ctl(server.home, "client", "rotate-secret", CACHED_ID).stdout
    new = json.loads(out)["client_secret"]
    for _ in range(ROUNDS):
        denied(server.token(dict(form, audience=API)))
    fresh = dict(form, client_secret=new)
    for _ in range(ROUNDS):
        granted(server, server.token(dict(fresh, audience=API)), CACHED_ID)

    # A tenant setting: the default audience of a login without one.
    for _ in range(ROUNDS):
        r = server.token(fresh)
        assert r.status_code == 200, r.text
        assert "read:other" not in r.json().get("scope", "")
    lk.ctl(server.home, "tenant", "set", "default_audience", lk.API2)
    try:
        for _ in range(ROUNDS):
            r = server.token(fresh)
            assert r.status_code == 200, r.text
            c = server.decode(r.json()["access_token"], audience=lk.API2)
            assert c["aud"] == lk.API2 and c["azp"] == CACHED_ID
    finally:
        lk.ctl(server.home, "tenant", "unset", "default_audience")
    for _ in range(ROUNDS):
        r = server.token(fresh)
        assert r.status_code == 200, r.text
        assert "read:other" not in r.json().get("scope", "")

    lk.ctl(server.home, "client", "remove", CACHED_ID)
    for _ in range(ROUNDS):
        denied(server.token(dict(fresh, audience=API)))


# --- client ids latchkeyctl makes and takes ---------------------------------

def test_generated_client_ids_are_letters_and_digits(server):
    # 32 characters of [A-Za-z0-9], the form of Auth0's client ids: never
    # a leading '-' that a command line would take for an option.
    for i in range(8):
        out = json.loads(lk.ctl(server.home, "client", "add", "--name",
            "Generated %d" % i, "--type", "native", "--auth-method", "none",
            "--grants", "password").stdout)
        assert len(out["client_id"]) == 32, out
        assert out["client_id"].isascii() and out["client_id"].isalnum(), out


def test_double_dash_ends_the_options(server):
    # An id that starts with "--" (one an older release generated, or one
    # imported) is named after "--".
    odd = "--odd-client-id"
    lk.ctl(server.home, "client", "add", "--name", "Odd Id", "--client-id",
        odd, "--type", "native", "--auth-method", "none")
    p = lk.ctl(server.home, "client", "show", odd, check=False)
    assert p.returncode == 2 and "unknown option" in p.stderr, p
    shown = json.loads(lk.ctl(server.home, "client", "show", "--", odd).stdout)
    assert shown["client_id"] == odd and shown["name"] == "Odd Id"
    lk.ctl(server.home, "client", "remove", "--", odd)
    p = lk.ctl(server.home, "client", "show", "--", odd, check=False)
    assert p.returncode != 0
