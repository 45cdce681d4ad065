#!/usr/bin/python3
"""
tests/fuzz/seeds.py: writes the fuzz tenant (tests/fuzz/tenant.json) and
the seed corpora (tests/fuzz/corpus/<harness>/), which are committed.

    /usr/bin/python3 tests/fuzz/seeds.py [CAPTURE]

The seeds come from the golden corpus of malformed requests
(tests/e2e/golden/malformed.json), from the requests the end-to-end tests
send (CAPTURE: a file of JSON lines written by running them with the
lkcapture plugin, as below; without it only the other sources are used),
from the Deploy CLI fixtures (tests/e2e/fixtures/auth0-tenant) and from a
few inputs written here (client assertions signed with the fuzz tenant's
client key, access-token claims, Auth0 user exports, DPoP proofs of each
algorithm and proof claims).

    LK_FUZZ_CAPTURE=/tmp/capture.jsonl PYTHONPATH=tests/fuzz \\
        LATCHKEY_BUILD=build /usr/bin/python3 -m pytest -q -p lkcapture \\
        tests/e2e/test_token.py tests/e2e/test_client_auth.py ...

Requests are written in the harnesses' text form (tests/fuzz/fuzz_fx.h):
"METHOD PATH", header lines, an empty line, the body.  Each directory is
emptied first; files are named by the SHA-1 of their content.
"""
import base64
import hashlib
import json
import shutil
import sys
import uuid
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
sys.path.insert(0, str(ROOT / "tests" / "e2e"))

import jwt  # noqa: E402
import lk  # noqa: E402
import pwl  # noqa: E402

ISSUER = "https://fuzz.latchkey.test/"
NOW = 1700000000		# fuzz_fx.h FUZZ_NOW
ALICE_ID = "auth0|0000000000000000000a11ce"
PER_HARNESS = 300		# at most this many seeds from the capture
SEED_MAX = 16384			# longer inputs (the 413 cases) are left out

# The content types of fuzz_decode.c's table, by index.
DECODE_CT = {"application/x-www-form-urlencoded": 0, "application/json": 1,
    "application/json; charset=utf-8": 2, "text/plain": 6}


def tenant(client_key):
    """lk's test tenant, with argon2id's smallest costs, alice's user id
    fixed (for signed /userinfo claims), the legacy /oauth/ro client and
    passwordless connections (delivery by /bin/true), an API that allows
    offline access, allowed origins on the post client; no crypt(3)
    users (their hashes are random)."""
    t = lk.tenant_doc(ISSUER, client_key)
    t["tenant"]["hash"] = {"t": 1, "m": 8, "p": 1}
    t["users"] = [u for u in t["users"] if "password" in u]
    t["users"][0]["user_id"] = ALICE_ID
    t["apis"][1]["allow_offline_access"] = True
    for c in t["clients"]:
        if c["client_id"] == lk.POST_ID:
            c["grant_types"].append("refresh_token")
            # CORS (cors.c): an origin and a wildcard origin.
            c["allowed_origins"] = ["https://app.example.com"]
            c["web_origins"] = ["https://*.spa.example.org"]
    t["clients"].append({"name": "Legacy RO App", "client_id": pwl.RO_ID,
        "app_type": "native", "token_endpoint_auth_method": "none",
        "grant_types": [pwl.RO_GRANT, pwl.RO_JWT_GRANT, pwl.OTP_GRANT,
                        "refresh_token"]})
    for name, strategy in ((pwl.SMS, "sms"), (pwl.EMAIL, "email")):
        t["connections"].append({"name": name, "strategy": strategy,
            "enabled_clients": [pwl.RO_ID, lk.POST_ID],
            "delivery_command": ["/bin/true"]})
    t["connections"][0]["enabled_clients"].append(pwl.RO_ID)
    return t


def request(method, path, headers, body):
    head = "%s %s\n" % (method, path)
    for k, v in headers.items():
        head += "%s: %s\n" % (k, v)
    return (head + "\n").encode() + body


def captured(path):
    """The captured requests, as (method, path, headers, body)."""
    names = {"content-type": "Content-Type", "authorization": "Authorization",
        "dpop": "DPoP", "auth0-forwarded-for": "Auth0-Forwarded-For"}
    out = []
    for line in Path(path).read_text().splitlines():
        r = json.loads(line)
        h = {names[k]: v for k, v in r["headers"].items() if k in names}
        out.append((r["method"], r["path"], h, base64.b64decode(r["body"])))
    return out


def golden():
    sys.path.insert(0, str(ROOT / "tests" / "e2e"))
    import test_golden
    out = []
    for c in test_golden.CASES:
        h = {"Content-Type": c["content_type"]} if c.get("content_type") else {}
        h.update(c.get("request_headers", {}))
        out.append((c["method"], "/" + c["path"], h, test_golden.build_body(c)))
    return out


def assertion(key, aud, **over):
    claims = {"iss": lk.PK_ID, "sub": lk.PK_ID, "aud": aud, "iat": NOW,
        "exp": NOW + 300, "jti": str(uuid.uuid4())}
    claims.update(over)
    return jwt.encode(claims, key, algorithm="RS256",
        headers={"kid": lk.PK_KID})


def assertion_requests(key):
    out = []
    for aud, over in ((ISSUER, {}), (ISSUER + "oauth/token", {}),
            (ISSUER, {"exp": NOW - 1}), ("https://other/", {}),
            ([ISSUER, "x"], {"jti": 7})):
        form = {"grant_type": lk.GRANT_PASSWORD, "client_assertion_type":
            lk.ASSERTION_TYPE, "client_assertion": assertion(key, aud, **over),
            "username": lk.ALICE, "password": lk.ALICE_PW}
        body = "&".join("%s=%s" % kv for kv in form.items()).encode()
        out.append(("POST", "/oauth/token",
            {"Content-Type": "application/x-www-form-urlencoded"}, body))
        out.append(("POST", "/oauth/token", {"Content-Type":
            "application/json"}, json.dumps(form).encode()))
    return out


def userinfo_seeds(reqs):
    seeds = [b"R" + h["Authorization"].encode() for m, p, h, b in reqs
        if p.endswith("/userinfo") and "Authorization" in h]
    base = {"iss": ISSUER, "sub": ALICE_ID, "aud": [lk.API, ISSUER + "userinfo"],
        "iat": NOW - 10, "exp": NOW + 3600, "scope": "openid profile email"}
    variants = [{}, {"aud": ISSUER + "userinfo"}, {"exp": NOW - 1},
        {"iss": "https://other/"}, {"scope": "profile"}, {"sub": "auth0|nobody"},
        {"aud": lk.API}, {"scope": "openid phone address offline_access"}]
    for v in variants:
        c = dict(base, **v)
        seeds.append(b"S" + json.dumps(c).encode())
    seeds += [b"RBearer", b"RBearer a.b.c", b"Rbearer  x", b"RBasic eDp5",
        b"RBearer eyJhbGciOiJub25lIn0.e30."]
    return seeds


def export_seeds():
    bcrypt = "$2b$10$" + "a" * 53
    users = [
        {"user_id": "auth0|5f7c8ec7c33c6c004bbafe82", "email": "a@x.io",
         "email_verified": True, "username": "al", "name": "Al",
         "phone_number": "+15551234567", "blocked": True,
         "app_metadata": {"plan": "gold"}, "user_metadata": {"t": 1},
         "identities": [{"provider": "auth0"}], "password_hash": bcrypt},
        {"email": "b@x.io", "name": None},
        {"user_id": "google-oauth2|123", "email": "c@x.io"},
        {"email": "d@x.io", "custom_password_hash": {"algorithm": "bcrypt",
         "hash": {"value": bcrypt, "encoding": "utf8"}}},
        {"email": "e@x.io", "custom_password_hash": {"algorithm": "ldap",
         "hash": {"value": "{SSHA}abcd", "encoding": "utf8"}}},
        {"email": "f@x.io", "password_hash": "$6$salt$" + "b" * 86},
    ]
    nd = "\n".join(json.dumps(u) for u in users).encode() + b"\n"
    return [nd, json.dumps(users).encode(), b"[]", b"{\"email\":1}\n{",
        json.dumps(users[0]).encode()]


def deploy_seeds():
    fx = ROOT / "tests" / "e2e" / "fixtures" / "auth0-tenant"
    seeds = [b"Y" + (fx / "tenant.yaml").read_bytes(),
        b"J" + (fx / "management-api.json").read_bytes(),
        b"Y" + b"tenant:\n  friendly_name: ##FUZZ_TEXT##\nclients:\n"
        b"  - name: A\n    callbacks: @@FUZZ_LIST@@\n    x: &a [1, 2]\n"
        b"    y: *a\n    z: ##FUZZ_UNSET##\n",
        b"J" + b"{\"clients\": [{\"name\": \"A\", \"app_type\": \"spa\"}]}"]
    for f in sorted((fx / "directory").rglob("*.json")):
        seeds.append(b"J" + f.read_bytes())
    return seeds


DPOP_HTU = ISSUER + "oauth/token"	# fuzz_dpop.c HTU
DPOP_TOKEN = "an-access-token"		# fuzz_dpop.c TOKEN


def dpop_seeds():
    """fuzz_dpop: proofs of each algorithm (the options byte first, as
    fuzz_dpop.c reads it), claims for the harness to sign, and the
    golden corpus's malformed proofs."""
    from cryptography.hazmat.primitives.asymmetric import ec, ed25519
    ath = base64.urlsafe_b64encode(hashlib.sha256(DPOP_TOKEN.encode())
        .digest()).rstrip(b"=").decode()
    keys = [("ES256", ec.generate_private_key(ec.SECP256R1())),
        ("ES384", ec.generate_private_key(ec.SECP384R1())),
        ("RS256", lk.new_rsa_key()), ("PS256", lk.new_rsa_key()),
        ("EdDSA", ed25519.Ed25519PrivateKey.generate())]
    seeds = []
    for alg, key in keys:
        algo = jwt.get_algorithm_by_name(alg)
        jwk = json.loads(algo.to_jwk(key.public_key()))
        for opts, over in ((0, {}), (1, {"ath": ath}), (5, {"htm": "GET",
                "ath": ath}), (2, {}), (0, {"iat": NOW - 3600})):
            claims = {"jti": str(uuid.uuid4()), "htm": "POST",
                "htu": DPOP_HTU, "iat": NOW}
            claims.update(over)
            proof = jwt.encode(claims, key, algorithm=alg,
                headers={"typ": "dpop+jwt", "jwk": jwk})
            seeds.append(bytes([opts]) + proof.encode())
    base = {"jti": "j1", "htm": "POST", "htu": DPOP_HTU, "iat": NOW}
    for opts, over in ((8, {}), (9, {"ath": ath}), (13, {"htm": "GET",
            "ath": ath}), (10, {"nonce": "AAAAAAAAAAAAAAAAAAAAAA"}),
            (8, {"iat": NOW + 60}), (8, {"iat": "now"}),
            (8, {"htu": DPOP_HTU + "?x=1"}), (8, {"jti": ""})):
        seeds.append(bytes([opts]) + json.dumps(dict(base, **over)).encode())
    return seeds + [bytes([opts]) + h["DPoP"].encode() for opts in (0, 2)
        for m, p, h, b in golden() if "DPoP" in h]


def write(name, seeds):
    d = HERE / "corpus" / name
    shutil.rmtree(d, ignore_errors=True)
    d.mkdir(parents=True)
    seen = set()
    for s in seeds:
        if len(s) > SEED_MAX:
            continue
        h = hashlib.sha1(s).hexdigest()
        if h not in seen:
            seen.add(h)
            (d / h).write_bytes(s)
    print("%s: %d seeds" % (name, len(seen)))


def distinct(reqs):
    """At most PER_HARNESS requests, one per (method, path, content type,
    authorization scheme, DPoP or not, body field names) first."""
    keys, first, rest = set(), [], []
    for r in reqs:
        m, p, h, b = r
        try:
            fields = tuple(sorted(json.loads(b))) if b.startswith(b"{") else \
                tuple(sorted(x.split(b"=")[0] for x in b.split(b"&")))
        except (ValueError, TypeError):
            fields = ("?",)
        k = (m, p, h.get("Content-Type"), h.get("Authorization", " ").split(" ")[0],
            "DPoP" in h, fields)
        (rest if k in keys else first).append(r)
        keys.add(k)
    return (first + rest)[:PER_HARNESS]


def main():
    client_key = lk.new_rsa_key()
    (HERE / "tenant.json").write_text(json.dumps(tenant(client_key), indent=1)
        + "\n")
    reqs = golden() + assertion_requests(client_key)
    if len(sys.argv) > 1:
        reqs += distinct(captured(sys.argv[1]))
    write("fuzz_route", [request(*r) for r in reqs])
    write("fuzz_client", [request(*r) for r in reqs
        if r[3] or "Authorization" in r[2]])
    write("fuzz_decode", [bytes([DECODE_CT.get(h.get("Content-Type"), 0),
        0xff, 0xff, 0xff, 0xff]) + b for m, p, h, b in reqs if b])
    write("fuzz_userinfo", userinfo_seeds(reqs))
    write("fuzz_export", export_seeds())
    write("fuzz_deploy", deploy_seeds())
    write("fuzz_dpop", dpop_seeds())


if __name__ == "__main__":
    main()
