"""
/.well-known/openid-configuration and /.well-known/jwks.json.
"""
import jwt
import requests

import lk

PRIVATE_MEMBERS = {"d", "p", "q", "dp", "dq", "qi", "oth", "k"}


def get(server, path):
    r = requests.get(server.url(path), timeout=30)
    assert r.status_code == 200, r.text
    assert r.headers["Content-Type"].startswith("application/json")
    return r.json()


def test_discovery_document_fields(server):
    d = get(server, ".well-known/openid-configuration")
    iss = server.issuer
    assert d["issuer"] == iss
    assert d["jwks_uri"] == iss + ".well-known/jwks.json"
    assert d["token_endpoint"] == iss + "oauth/token"
    assert {"password", lk.GRANT_REALM} <= set(d["grant_types_supported"])
    assert {"client_secret_basic", "client_secret_post", "private_key_jwt"} \
        <= set(d["token_endpoint_auth_methods_supported"])
    assert "RS256" in d["id_token_signing_alg_values_supported"]
    assert d["subject_types_supported"] == ["public"]
    assert {"openid", "profile", "email"} <= set(d["scopes_supported"])
    # Only claims latchkey issues; a token endpoint only (README).
    assert "auth_time" not in d["claims_supported"]
    assert {"sub", "iss", "aud", "exp", "iat", "email"} <= set(d["claims_supported"])
    assert d["response_types_supported"] == []
    assert "authorization_endpoint" not in d


def test_discovery_advertises_only_endpoints_that_exist(server):
    d = get(server, ".well-known/openid-configuration")
    for k, v in d.items():
        if not (k.endswith("_endpoint") or k == "jwks_uri"):
            continue
        assert v.startswith(server.issuer), (k, v)
        r = requests.request("GET" if k == "jwks_uri" else "POST", v, timeout=30)
        assert r.status_code != 404, "%s advertised but 404: %s" % (k, v)


def test_discovery_es256_tenant(es256_server):
    d = get(es256_server, ".well-known/openid-configuration")
    assert d["issuer"] == es256_server.issuer
    assert "ES256" in d["id_token_signing_alg_values_supported"]


def test_jwks_publishes_public_keys_only(server):
    keys = get(server, ".well-known/jwks.json")["keys"]
    assert keys
    kids = [k["kid"] for k in keys]
    assert len(kids) == len(set(kids))
    for k in keys:
        assert not PRIVATE_MEMBERS & set(k), k
        assert k["kty"] == "RSA" and k["alg"] == "RS256" and k.get("use", "sig") == "sig"
        assert jwt.PyJWK(k).key.key_size >= 2048


def test_jwks_es256_tenant(es256_server):
    keys = get(es256_server, ".well-known/jwks.json")["keys"]
    assert keys
    for k in keys:
        assert not PRIVATE_MEMBERS & set(k), k
        assert k["kty"] == "EC" and k["crv"] == "P-256" and k["alg"] == "ES256"


def test_jwks_with_pyjwkclient(server):
    # The way SDKs fetch it: PyJWKClient picks the key by the token's kid.
    body = server.token(lk.password_form(audience=lk.API)).json()
    key = jwt.PyJWKClient(server.url(".well-known/jwks.json")) \
        .get_signing_key_from_jwt(body["access_token"])
    jwt.decode(body["access_token"], key.key, algorithms=["RS256"],
        audience=lk.API, issuer=server.issuer)


def test_wellknown_under_a_prefix(server):
    d = get(server, "some/prefix/.well-known/openid-configuration")
    assert d["issuer"] == server.issuer
