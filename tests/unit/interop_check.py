#!/usr/bin/python3
"""Verify latchkey-made tokens and JWKS with an independent verifier.

Usage (Debian's python3-jwt and python3-cryptography, so /usr/bin/python3):
    /usr/bin/python3 tests/unit/interop_check.py build/tests/unit/test_token
    /usr/bin/python3 tests/unit/interop_check.py --dir DIR

Given the test binary, runs it with LK_INTEROP_DIR set to a fresh
directory; test_token then writes rs256.jwt, es256.jwt, hs256.jwt,
hs256.secret, claims.json and jwks.json there.  Checks with PyJWT that
each token verifies against our JWKS (RS256, ES256) or secret (HS256),
with the header alg/typ/kid expected, the claims unchanged, and every
kid equal to the RFC 7638 thumbprint computed here.
"""
import base64
import hashlib
import json
import os
import subprocess
import sys
import tempfile

import jwt
from jwt.algorithms import ECAlgorithm, RSAAlgorithm


def b64url(raw):
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def thumbprint(jwk):
    """RFC 7638 3: required members, lexicographic, no whitespace."""
    members = {"RSA": ("e", "kty", "n"), "EC": ("crv", "kty", "x", "y")}
    req = {k: jwk[k] for k in members[jwk["kty"]]}
    text = json.dumps(req, separators=(",", ":"), sort_keys=True)
    return b64url(hashlib.sha256(text.encode()).digest())


def read(d, name):
    with open(os.path.join(d, name), encoding="ascii") as f:
        return f.read()


def check(d):
    claims = json.loads(read(d, "claims.json"))
    jwks = json.loads(read(d, "jwks.json"))
    keys = {}
    for jwk in jwks["keys"]:
        assert jwk["use"] == "sig", jwk
        assert jwk["kid"] == thumbprint(jwk), "kid is not the thumbprint"
        if jwk["kty"] == "RSA":
            assert jwk["alg"] == "RS256"
            keys[jwk["kid"]] = (RSAAlgorithm.from_jwk(jwk), "RS256")
        else:
            assert jwk["alg"] == "ES256" and jwk["crv"] == "P-256"
            keys[jwk["kid"]] = (ECAlgorithm.from_jwk(jwk), "ES256")
    assert sorted(a for _, a in keys.values()) == ["ES256", "RS256"]

    aud = claims["aud"][0] if isinstance(claims["aud"], list) else claims["aud"]
    opts = {"verify_exp": False, "verify_iat": False}
    for name, alg in (("rs256.jwt", "RS256"), ("es256.jwt", "ES256")):
        tok = read(d, name)
        hdr = jwt.get_unverified_header(tok)
        assert hdr["alg"] == alg and hdr["typ"] == "JWT", hdr
        key, kalg = keys[hdr["kid"]]
        assert kalg == alg
        got = jwt.decode(tok, key, algorithms=[alg], audience=aud,
                         options=opts)
        assert got == claims, (got, claims)
        # A flipped payload must not verify.
        h, p, s = tok.split(".")
        bad = ".".join((h, p[:-2] + ("A" if p[-2] != "A" else "B") + p[-1], s))
        try:
            jwt.decode(bad, key, algorithms=[alg], audience=aud, options=opts)
        except jwt.InvalidTokenError:
            pass
        else:
            raise AssertionError(name + ": tampered token verified")
        print("ok", name, "kid", hdr["kid"])

    tok = read(d, "hs256.jwt")
    hdr = jwt.get_unverified_header(tok)
    assert hdr["alg"] == "HS256" and hdr["typ"] == "JWT", hdr
    got = jwt.decode(tok, read(d, "hs256.secret"), algorithms=["HS256"],
                     audience=aud, options=opts)
    assert got == claims
    print("ok hs256.jwt")


def main(argv):
    if len(argv) == 3 and argv[1] == "--dir":
        check(argv[2])
        return 0
    if len(argv) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory() as d:
        env = dict(os.environ, LK_INTEROP_DIR=d)
        subprocess.run([argv[1]], env=env, check=True,
                       stdout=subprocess.DEVNULL)
        check(d)
    print("interop: PyJWT %s verified RS256, ES256, HS256 and the JWKS"
          % jwt.__version__)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
