"""
DPoP (RFC 9449) and the resource parameter (RFC 8707) at /oauth/token and
/userinfo (docs/COMPAT.md 10), through the real lighttpd.  Proofs are made
by an independent library (jwcrypto); issued tokens are checked with PyJWT
against the JWKS, cnf.jkt against jwcrypto's RFC 7638 thumbprint.
"""
import http.client
import json
import time
import urllib.parse
import uuid

import jwt
import pytest
from jwcrypto import jwk
from jwcrypto import jwt as jjwt

import conftest
import lk
import lk_refresh as R
from test_cgi import cgi

# Clients and APIs added to the lifecycle tenant (lk_refresh).
MUST_ID, MUST_SECRET = "dpop-must", "dpop-must-secret-Rg5Hk8Lm1Np4"
POP_API = "https://pop.test.latchkey/"		# requires DPoP of every client
POP_PUBLIC_API = "https://pop-public.test.latchkey/"	# of public clients


def customise(s):
    R.customise(s)
    t = s.tenant
    t["tenant"]["resource_parameter_profile"] = "compatibility"
    t["clients"].append({"name": MUST_ID, "client_id": MUST_ID,
        "client_secret": MUST_SECRET, "app_type": "regular_web",
        "token_endpoint_auth_method": "client_secret_post",
        "grant_types": [lk.GRANT_PASSWORD], "require_proof_of_possession": True})
    t["connections"][0]["enabled_clients"].append(MUST_ID)
    t["apis"] += [
        {"identifier": POP_API, "name": "PoP API", "scopes": ["read:pop"],
         "allow_offline_access": True,
         "proof_of_possession": {"mechanism": "dpop", "required": True}},
        {"identifier": POP_PUBLIC_API, "name": "PoP public API",
         "scopes": ["read:pop"], "allow_offline_access": True,
         "proof_of_possession": {"mechanism": "dpop", "required": True,
                                 "required_for": "public_clients"}},
    ]
    s.tenant_file.write_text(json.dumps(t, indent=1))


@pytest.fixture(scope="module")
def ds():
    s = lk.Server("dpop")
    customise(s)
    yield conftest._start(s)
    conftest._finish(s)


KEYS = {
    "ES256": lambda: jwk.JWK.generate(kty="EC", crv="P-256"),
    "ES384": lambda: jwk.JWK.generate(kty="EC", crv="P-384"),
    "RS256": lambda: jwk.JWK.generate(kty="RSA", size=2048),
    "PS256": lambda: jwk.JWK.generate(kty="RSA", size=2048),
    "EdDSA": lambda: jwk.JWK.generate(kty="OKP", crv="Ed25519"),
}


def proof(key, htu, htm="POST", alg="ES256", header=None, **claims):
    """A DPoP proof JWT signed by key (jwcrypto)."""
    hdr = {"typ": "dpop+jwt", "alg": alg, "jwk": key.export_public(as_dict=True)}
    hdr.update(header or {})
    c = {"jti": uuid.uuid4().hex, "htm": htm, "htu": htu, "iat": int(time.time())}
    c.update(claims)
    c = {k: v for k, v in c.items() if v is not None}
    t = jjwt.JWT(header=hdr, claims=c)
    t.make_signed_token(key)
    return t.serialize()


def token_url(s):
    return s.url("oauth/token")


def conf_login(s, key, client_id=R.ROT_ID, audience=R.OFFLINE_API, htu=None,
        **claims):
    """A confidential client's password grant with a proof by key."""
    email, pw = R.USERS["gina"]
    f = lk.password_form(client_id=client_id, secret=R.secret_of(client_id),
        username=email, password=pw, audience=audience,
        scope="openid offline_access")
    return s.token(f, headers={"DPoP": proof(key, htu or token_url(s), **claims)})


def public_form(s, audience=R.OFFLINE_API, user="hank"):
    email, pw = R.USERS[user]
    return lk.password_form(client_id=R.PUB_ID, secret=None, username=email,
        password=pw, audience=audience, scope="openid offline_access")


def nonce_of(s, key, form):
    """The DPoP-Nonce of a public client's first (nonce-less) request."""
    r = s.token(form, headers={"DPoP": proof(key, token_url(s))})
    assert r.status_code == 400, r.text
    assert r.json() == {"error": "use_dpop_nonce", "error_description":
        "Authorization server requires nonce in DPoP proof"}
    assert r.headers.get("DPoP-Nonce"), r.headers
    return r.headers["DPoP-Nonce"]


def public_login(s, key, audience=R.OFFLINE_API, user="hank"):
    form = public_form(s, audience, user)
    n = nonce_of(s, key, form)
    r = s.token(form, headers={"DPoP": proof(key, token_url(s), nonce=n)})
    assert r.status_code == 200, r.text
    assert r.headers.get("DPoP-Nonce"), "a 200 to a public client names the next nonce"
    return r.json(), n


def check_bound(s, body, key, audience):
    assert body["token_type"] == "DPoP"
    claims = s.decode(body["access_token"], audience=[audience, s.issuer + "userinfo"])
    assert claims["cnf"] == {"jkt": key.thumbprint()}
    return claims


@pytest.mark.parametrize("alg", sorted(KEYS))
def test_confidential_client_gets_bound_token(ds, alg):
    key = KEYS[alg]()
    r = conf_login(ds, key, alg=alg)
    assert r.status_code == 200, r.text
    check_bound(ds, r.json(), key, R.OFFLINE_API)
    assert "DPoP-Nonce" not in r.headers, "no nonce is demanded of confidential clients"


def test_without_proof_bearer_as_before(ds):
    b = R.login(ds)
    assert b["token_type"] == "Bearer"
    assert "cnf" not in ds.decode(b["access_token"],
        audience=[R.OFFLINE_API, ds.issuer + "userinfo"])


def test_discovery_lists_algs(ds):
    r = lk.requests.get(ds.url(".well-known/openid-configuration"), timeout=30)
    assert r.json()["dpop_signing_alg_values_supported"] == [
        "ES256", "ES384", "RS256", "RS384", "PS256", "PS384", "EdDSA"]


def bad(ds, p, desc, status=400, error="invalid_dpop_proof"):
    email, pw = R.USERS["gina"]
    f = lk.password_form(client_id=R.ROT_ID, secret=R.ROT_SECRET,
        username=email, password=pw, audience=R.OFFLINE_API)
    r = ds.token(f, headers={"DPoP": p})
    assert r.status_code == status, r.text
    assert r.json() == {"error": error, "error_description": desc}


def test_refused_proofs(ds):
    key = KEYS["ES256"]()
    url = token_url(ds)
    bad(ds, proof(key, url, header={"typ": "JWT"}), "DPoP proof typ must be dpop+jwt")
    bad(ds, proof(key, url, htm="GET"),
        "DPoP proof htm does not match the request method")
    bad(ds, proof(key, ds.url("oauth/revoke")),
        "DPoP proof htu does not match the request URL")
    bad(ds, proof(key, "https://elsewhere.example/oauth/token"),
        "DPoP proof htu does not match the request URL")
    bad(ds, proof(key, url, iat=int(time.time()) - 300), "DPoP proof is too old")
    bad(ds, proof(key, url, iat=int(time.time()) + 300),
        "DPoP proof iat is in the future")
    bad(ds, proof(key, url, jti=None), "DPoP proof jti is missing or too long")
    bad(ds, "not.a.jwt", "DPoP proof is not a well-formed JWT")
    priv = key.export_private(as_dict=True)
    bad(ds, proof(key, url, header={"jwk": priv}),
        "DPoP proof jwk must not contain a private key")
    other = KEYS["ES256"]()
    bad(ds, proof(key, url, header={"jwk": other.export_public(as_dict=True)}),
        "DPoP proof signature is invalid")
    # Two DPoP headers: the web server joins them with ", ".
    p = proof(key, url)
    bad(ds, p + ", " + p, "Only one DPoP header is allowed")


def test_two_dpop_headers_refused(ds):
    """Two DPoP header lines (RFC 9449 4.3 check 1), sent as such."""
    key = KEYS["ES256"]()
    email, pw = R.USERS["gina"]
    body = urllib.parse.urlencode(lk.password_form(client_id=R.ROT_ID,
        secret=R.ROT_SECRET, username=email, password=pw))
    c = http.client.HTTPConnection("127.0.0.1", ds.port, timeout=30)
    c.putrequest("POST", "/oauth/token")
    c.putheader("Content-Type", "application/x-www-form-urlencoded")
    c.putheader("Content-Length", str(len(body)))
    c.putheader("DPoP", proof(key, token_url(ds)))
    c.putheader("DPoP", proof(key, token_url(ds)))
    c.endheaders(body.encode())
    r = c.getresponse()
    assert r.status == 400
    assert json.loads(r.read())["error_description"] == "Only one DPoP header is allowed"
    c.close()


def test_oversized_proof_refused_not_ignored(ds):
    """A DPoP header over the responder's 8 KiB bound is refused, not
    taken for no proof (lighttpd itself answers 431 well before; a CGI
    run reaches the responder's own bound)."""
    key = KEYS["ES256"]()
    email, pw = R.USERS["gina"]
    f = lk.password_form(client_id=R.ROT_ID, secret=R.ROT_SECRET,
        username=email, password=pw)
    status, _, payload = cgi(urllib.parse.urlencode(f), ds.home,
        extra={"HTTP_DPOP": proof(key, token_url(ds), pad="x" * 9000)})
    assert status == 400, payload
    assert json.loads(payload) == {"error": "invalid_dpop_proof",
        "error_description": "DPoP proof is not a well-formed JWT"}


@pytest.mark.parametrize("alg", ["none", "HS256"])
def test_symmetric_and_none_refused(ds, alg):
    key = KEYS["ES256"]()
    hdr = lk.b64url(json.dumps({"typ": "dpop+jwt", "alg": alg,
        "jwk": key.export_public(as_dict=True)}))
    body = lk.b64url(json.dumps({"jti": uuid.uuid4().hex, "htm": "POST",
        "htu": token_url(ds), "iat": int(time.time())}))
    bad(ds, "%s.%s.%s" % (hdr, body, lk.b64url(b"x" * 32)),
        "DPoP proof alg is not supported")


def test_htu_scheme_host_case_query_fragment_ignored(ds):
    key = KEYS["ES256"]()
    r = conf_login(ds, key, htu=token_url(ds).upper().replace("/OAUTH/TOKEN",
        "/oauth/token") + "?x=1#f")
    assert r.status_code == 200, r.text


def test_replay_refused(ds):
    key = KEYS["ES256"]()
    email, pw = R.USERS["gina"]
    f = lk.password_form(client_id=R.ROT_ID, secret=R.ROT_SECRET,
        username=email, password=pw, audience=R.OFFLINE_API)
    p = proof(key, token_url(ds))
    assert ds.token(f, headers={"DPoP": p}).status_code == 200
    r = ds.token(f, headers={"DPoP": p})
    assert r.status_code == 400
    assert r.json()["error_description"] == "DPoP proof jti has already been used"


def test_replay_refused_in_another_process(ds):
    """The first use through lighttpd's responders, the replay in a
    process of its own (CGI): the replay store is the shared environment."""
    key = KEYS["ES256"]()
    email, pw = R.USERS["gina"]
    f = lk.password_form(client_id=R.ROT_ID, secret=R.ROT_SECRET,
        username=email, password=pw, audience=R.OFFLINE_API)
    p = proof(key, token_url(ds))
    assert ds.token(f, headers={"DPoP": p}).status_code == 200
    # The CGI request's URL is the issuer's: the same htu.
    status, _, payload = cgi(urllib.parse.urlencode(f), ds.home,
        extra={"HTTP_DPOP": p})
    assert status == 400, payload
    assert json.loads(payload)["error_description"] == \
        "DPoP proof jti has already been used"
    # And a fresh proof in that other process is accepted.
    status, _, payload = cgi(urllib.parse.urlencode(f), ds.home,
        extra={"HTTP_DPOP": proof(key, token_url(ds))})
    assert status == 200, payload


def test_public_client_nonce_and_refresh(ds):
    key = KEYS["ES256"]()
    body, n = public_login(ds, key)
    check_bound(ds, body, key, R.OFFLINE_API)
    rt = body["refresh_token"]
    rf = R.refresh_form(rt, client_id=R.PUB_ID, secret=None)
    # A stale or foreign nonce is refused with use_dpop_nonce too.
    r = ds.token(rf, headers={"DPoP": proof(key, token_url(ds), nonce="A" * 22)})
    assert r.status_code == 400 and r.json()["error"] == "use_dpop_nonce", r.text
    assert r.headers.get("DPoP-Nonce")
    # Without a proof: the token is bound (RFC 9449 5).
    r = ds.token(rf)
    assert r.status_code == 400, r.text
    assert r.json() == {"error": "invalid_grant", "error_description":
        "The refresh token is bound to another DPoP key"}
    # With another key's proof: refused, the token stays unspent.
    other = KEYS["ES256"]()
    r = ds.token(rf, headers={"DPoP": proof(other, token_url(ds), nonce=n)})
    assert r.status_code == 400 and r.json()["error"] == "invalid_grant", r.text
    # With the key: a new bound access token and a successor.
    r = ds.token(rf, headers={"DPoP": proof(key, token_url(ds), nonce=n)})
    assert r.status_code == 200, r.text
    check_bound(ds, r.json(), key, R.OFFLINE_API)
    assert r.json()["refresh_token"] != rt


def test_confidential_refresh_not_bound(ds):
    """RFC 9449 5: a confidential client's refresh token is bound by its
    authentication; a refresh with a new key gets a token for that key."""
    key = KEYS["ES256"]()
    r = conf_login(ds, key)
    assert r.status_code == 200, r.text
    rt = r.json()["refresh_token"]
    other = KEYS["RS256"]()
    r = ds.token(R.refresh_form(rt),
        headers={"DPoP": proof(other, token_url(ds), alg="RS256")})
    assert r.status_code == 200, r.text
    check_bound(ds, r.json(), other, R.OFFLINE_API)


def test_client_requires_dpop(ds):
    email, pw = R.USERS["gina"]
    f = lk.password_form(client_id=MUST_ID, secret=MUST_SECRET, username=email,
        password=pw)
    r = ds.token(f)
    assert r.status_code == 400
    assert r.json() == {"error": "invalid_dpop_proof",
        "error_description": "DPoP proof is required"}
    key = KEYS["ES256"]()
    r = ds.token(f, headers={"DPoP": proof(key, token_url(ds))})
    assert r.status_code == 200, r.text
    assert r.json()["token_type"] == "DPoP"


def test_api_requires_dpop(ds):
    r = ds.token(lk.password_form(client_id=R.ROT_ID, secret=R.ROT_SECRET,
        username=R.USERS["gina"][0], password=R.USERS["gina"][1],
        audience=POP_API))
    assert r.status_code == 400
    assert r.json()["error"] == "invalid_dpop_proof"
    key = KEYS["ES256"]()
    r = conf_login(ds, key, audience=POP_API)
    assert r.status_code == 200, r.text
    # required_for public_clients: a confidential client may go without.
    b = R.login(ds, audience=POP_PUBLIC_API, scope="openid")
    assert b["token_type"] == "Bearer"


def test_api_requires_dpop_at_refresh(ds):
    """A confidential client's refresh for an API that requires DPoP needs
    a proof each time; the refusal spends nothing."""
    key = KEYS["ES256"]()
    r = conf_login(ds, key, audience=POP_API)
    rt = r.json()["refresh_token"]
    r = ds.token(R.refresh_form(rt))
    assert r.status_code == 400 and r.json()["error"] == "invalid_dpop_proof", r.text
    r = ds.token(R.refresh_form(rt), headers={"DPoP": proof(key, token_url(ds))})
    assert r.status_code == 200, r.text


def userinfo(ds, at, scheme="DPoP", p=None, method="GET"):
    h = {"Authorization": "%s %s" % (scheme, at)}
    if p is not None:
        h["DPoP"] = p
    return lk.requests.request(method, ds.url("userinfo"), headers=h, timeout=30)


def ath(at):
    import hashlib
    return lk.b64url(hashlib.sha256(at.encode()).digest())


def test_userinfo_with_dpop(ds):
    key = KEYS["ES256"]()
    r = conf_login(ds, key)
    at = r.json()["access_token"]
    url = ds.url("userinfo")
    r = userinfo(ds, at, p=proof(key, url, htm="GET", ath=ath(at)))
    assert r.status_code == 200, r.text
    assert r.json()["sub"] == R.user_id(ds, "gina")
    # POST too (OpenID Connect Core 5.3.1).
    r = userinfo(ds, at, p=proof(key, url, ath=ath(at)), method="POST")
    assert r.status_code == 200, r.text
    # A bound token as Bearer (RFC 9449 7.1).
    r = userinfo(ds, at, scheme="Bearer")
    assert r.status_code == 401
    assert r.json()["error"] == "invalid_token"
    assert 'DPoP algs="ES256' in r.headers["WWW-Authenticate"]
    # No proof, a proof without ath, another key's proof.
    r = userinfo(ds, at)
    assert r.status_code == 401 and r.json()["error"] == "invalid_dpop_proof"
    assert r.headers["WWW-Authenticate"].startswith('DPoP algs="')
    r = userinfo(ds, at, p=proof(key, url, htm="GET"))
    assert r.json()["error_description"] == \
        "DPoP proof ath does not match the access token"
    other = KEYS["ES256"]()
    r = userinfo(ds, at, p=proof(other, url, htm="GET", ath=ath(at)))
    assert r.status_code == 401 and r.json()["error"] == "invalid_token"
    # An unbound token with the DPoP scheme.
    b = R.login(ds)
    r = userinfo(ds, b["access_token"],
        p=proof(key, url, htm="GET", ath=ath(b["access_token"])))
    assert r.status_code == 401 and r.json()["error"] == "invalid_token"


def test_userinfo_no_token_names_dpop(ds):
    r = lk.requests.get(ds.url("userinfo"), timeout=30)
    assert r.status_code == 401
    assert "DPoP algs=" in r.headers["WWW-Authenticate"]


def test_resource_as_audience(ds):
    email, pw = R.USERS["gina"]
    f = lk.password_form(client_id=R.ROT_ID, secret=R.ROT_SECRET,
        username=email, password=pw, resource=R.OFFLINE_API)
    r = ds.token(f)
    assert r.status_code == 200, r.text
    ds.decode(r.json()["access_token"], audience=R.OFFLINE_API)
    # The same given as audience too: fine.
    f["audience"] = R.OFFLINE_API
    assert ds.token(f).status_code == 200
    # Different: RFC 8707 invalid_target.
    f["audience"] = lk.API
    r = ds.token(f)
    assert r.status_code == 400
    assert r.json()["error"] == "invalid_target"
    # Not an absolute URI.
    del f["audience"]
    f["resource"] = "not-a-uri"
    r = ds.token(f)
    assert r.status_code == 400 and r.json()["error"] == "invalid_target"


def test_resource_ignored_without_profile(server):
    """The main test tenant keeps Auth0's default profile: resource is
    not read."""
    r = server.token(lk.password_form(resource=lk.API))
    assert r.status_code == 200, r.text
    claims = jwt.decode(r.json()["access_token"], options={"verify_signature": False})
    assert claims["aud"] != lk.API


def test_import_auth0_tenant_maps_dpop_settings(tmp_path):
    """import-auth0-tenant: Auth0's require_proof_of_possession,
    proof_of_possession and resource_parameter_profile are imported; an
    mtls proof_of_possession is reported and left out."""
    from test_import_auth0_tenant import FORMATS, API
    d = json.loads(FORMATS["json"].read_text())
    d["tenant"]["resource_parameter_profile"] = "compatibility"
    d["clients"][0]["require_proof_of_possession"] = True
    d["resourceServers"][0]["proof_of_possession"] = {"mechanism": "dpop",
        "required": True, "required_for": "public_clients"}
    mtls = dict(d["resourceServers"][0], identifier="https://mtls.example.com/",
        name="mTLS API", proof_of_possession={"mechanism": "mtls",
        "required": True})
    d["resourceServers"].append(mtls)
    f = tmp_path / "export.json"
    f.write_text(json.dumps(d))
    home = tmp_path / "home"
    out = lk.ctl(home, "import-auth0-tenant", "--issuer",
        "https://login.example.com/", str(f)).stdout
    assert "mtls" in out, out
    tenant = json.loads(lk.ctl(home, "tenant", "show").stdout)
    assert tenant["resource_parameter_profile"] == "compatibility"
    client = json.loads(lk.ctl(home, "client", "show",
        d["clients"][0]["client_id"]).stdout)
    assert client["require_proof_of_possession"] is True
    api = json.loads(lk.ctl(home, "api", "show", API).stdout)
    assert api["proof_of_possession"] == {"mechanism": "dpop",
        "required": True, "required_for": "public_clients"}
    api = json.loads(lk.ctl(home, "api", "show", "https://mtls.example.com/").stdout)
    assert "proof_of_possession" not in api


def test_latchkeyctl_settings(tmp_path):
    home = tmp_path / "home"
    lk.ctl(home, "init", "--issuer", "https://login.example.com/")
    lk.ctl(home, "client", "add", "--name", "App", "--client-id", "app",
        "--require-dpop", "true")
    assert json.loads(lk.ctl(home, "client", "show", "app").stdout)[
        "require_proof_of_possession"] is True
    lk.ctl(home, "api", "add", "https://a.example/", "--proof-of-possession",
        '{"mechanism":"dpop","required":true}')
    p = lk.ctl(home, "api", "update", "https://a.example/",
        "--proof-of-possession", '{"mechanism":"mtls","required":true}',
        check=False)
    assert p.returncode != 0 and "mtls is not served" in p.stderr, p.stderr
    lk.ctl(home, "tenant", "set", "resource_parameter_profile", "compatibility")
    p = lk.ctl(home, "tenant", "set", "resource_parameter_profile", "other",
        check=False)
    assert p.returncode != 0
