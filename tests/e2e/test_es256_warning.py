"""
An ES256 tenant signs ID tokens with ES256, which the ID-token validators
of Auth0's SDKs (node-auth0 v2-v4, auth0.js) refuse (docs/COMPAT.md
4): `latchkeyctl init --alg ES256` and `import` of an ES256 tenant warn
on stderr, and still succeed.
"""
import json

import lk


def test_init_es256_warns_rs256_does_not(tmp_path):
    p = lk.ctl(tmp_path / "es", "init", "--issuer", "https://es.example/",
        "--alg", "ES256")
    assert p.returncode == 0
    assert "warning: ES256 ID tokens are refused by Auth0 SDKs" in p.stderr
    assert "node-auth0" in p.stderr and "auth0.js" in p.stderr
    assert json.loads(p.stdout)
    p = lk.ctl(tmp_path / "rs", "init", "--issuer", "https://rs.example/")
    assert p.returncode == 0 and "warning" not in p.stderr


def test_import_es256_warns(tmp_path):
    f = tmp_path / "tenant.json"
    f.write_text(json.dumps({"tenant": {"issuer": "https://es.example/",
        "alg": "ES256"}}))
    p = lk.ctl(tmp_path / "home", "import", str(f))
    assert p.returncode == 0
    assert "warning: ES256 ID tokens are refused by Auth0 SDKs" in p.stderr
    f.write_text(json.dumps({"tenant": {"issuer": "https://rs.example/",
        "alg": "RS256"}}))
    p = lk.ctl(tmp_path / "home2", "import", str(f))
    assert p.returncode == 0 and "warning" not in p.stderr
