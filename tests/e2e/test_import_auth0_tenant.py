"""
latchkeyctl import-auth0-tenant (latchkeyctl(8), docs/migration.md): an
Auth0 tenant as the Deploy CLI exports it, in both of its formats
(fixtures/auth0-tenant: tenant.yaml and directory/) and as a JSON file of
Management API objects (management-api.json), imported into a fresh
home; then the password and password-realm grants work for the imported
clients.  The dry-run report is compared exactly, a second import changes
nothing, and malformed exports are refused with their message, writing
nothing.
"""
import json
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import jwt
import pytest
import requests

import lk

FIX = Path(__file__).resolve().parent / "fixtures" / "auth0-tenant"
# The Deploy CLI's two formats, and the same sections as one JSON file in
# the Management API's shapes.
FORMATS = {"yaml": FIX / "tenant.yaml", "directory": FIX / "directory",
    "json": FIX / "management-api.json"}
EXPECTED = FIX / "expected-report.json"
API = "https://api.example.com/things"
DB = "Username-Password-Authentication"
EMAIL, PW = "mia@example.com", "mia's pw: a long passphrase 42"


def import_tenant(home, path, *args, check=True):
    return lk.ctl(home, "import-auth0-tenant", *args, str(path), check=check)


@pytest.fixture
def tmp():
    d = Path(tempfile.mkdtemp(prefix="latchkey-e2e-a0t-"))
    yield d
    shutil.rmtree(d, ignore_errors=True)


@pytest.fixture
def srv():
    s = lk.Server("auth0-tenant")
    yield s
    s.stop()
    s.cleanup()


@pytest.mark.parametrize("fmt", sorted(FORMATS))
def test_dry_run_report(tmp, fmt):
    home = tmp / "home"
    p = import_tenant(home, FORMATS[fmt], "--dry-run")
    assert json.loads(p.stdout) == json.loads(EXPECTED.read_text())
    assert not home.exists(), "a dry run wrote the home"


def generated(out):
    return {g["name"]: g for g in out["changes"]["generated"]}


@pytest.mark.parametrize("fmt", sorted(FORMATS))
def test_import_then_grants(srv, fmt):
    out = json.loads(import_tenant(srv.home, FORMATS[fmt], "--issuer",
        srv.issuer).stdout)
    assert out["changed"] is True
    gen = generated(out)
    backend = gen["Backend Service"]
    assert backend["client_id"] == "bK7Qm2Xs9LpA4vR8tY3nW6cE1hJ5gF0d"
    assert "client_secret" not in gen["Mobile App"]
    assert sorted(e["name"] for e in out["secrets_needed"]) == [
        "Backend Service", "Web Portal"]
    lk.ctl(srv.home, "user", "add", "--connection", DB, "--email", EMAIL,
        "--password-stdin", input=PW + "\n")
    srv.serve()

    # Mobile App: a public (native) client, the password grant through
    # the default directory and the default audience.
    r = srv.token(lk.password_form(client_id=gen["Mobile App"]["client_id"],
        secret=None, username=EMAIL, password=PW))
    assert r.status_code == 200, r.text
    claims = srv.decode(r.json()["access_token"], API)
    assert claims["gty"] == "password"
    assert r.json()["expires_in"] == 7200

    # Backend Service: confidential, its generated secret, password-realm.
    r = srv.token(lk.realm_form(realm=DB, client_id=backend["client_id"],
        secret=backend["client_secret"], username=EMAIL, password=PW,
        audience=API, scope="openid read:things"))
    assert r.status_code == 200, r.text
    claims = srv.decode(r.json()["access_token"], API)
    assert claims["azp"] == backend["client_id"]
    assert "read:things" in claims.get("scope", "")
    # jwt_configuration: HS256 with the client's secret, 3600 s.
    idt = r.json()["id_token"]
    assert jwt.get_unverified_header(idt)["alg"] == "HS256"
    ic = jwt.decode(idt, backend["client_secret"], algorithms=["HS256"],
        audience=backend["client_id"], issuer=srv.issuer)
    assert ic["exp"] - ic["iat"] == 3600

    # Web Portal holds no grant latchkey serves but refresh_token.
    portal = gen["Web Portal"]
    r = srv.token(lk.password_form(client_id=portal["client_id"],
        secret=portal["client_secret"], username=EMAIL, password=PW))
    assert r.status_code in (400, 401, 403), r.text
    # Its web_origins came along (the one with a path was left out,
    # reported): a page there may call the token endpoint (CORS).
    shown = json.loads(lk.ctl(srv.home, "client", "show",
        portal["client_id"]).stdout)
    assert shown["web_origins"] == ["https://portal.example.com"]
    assert "allowed_origins" not in shown or shown["allowed_origins"] == []
    r = requests.options(srv.url("oauth/token"), timeout=30, headers={
        "Origin": "https://portal.example.com",
        "Access-Control-Request-Method": "POST"})
    assert r.status_code == 204, r.text
    assert r.headers["Access-Control-Allow-Origin"] == "https://portal.example.com"


@pytest.mark.parametrize("first,second", [("yaml", "directory"),
    ("directory", "json"), ("json", "yaml")])
def test_second_import_changes_nothing(tmp, first, second):
    home = tmp / "home"
    one = json.loads(import_tenant(home, FORMATS[first], "--issuer",
        "https://login.example.com/").stdout)
    two = json.loads(import_tenant(home, FORMATS[second]).stdout)
    assert two["changed"] is False
    assert two["changes"]["generated"] == []
    assert two["changes"]["tenant"] == {"status": "unchanged"}
    for sect in ("clients", "connections", "apis"):
        assert two["changes"][sect]["created"] == []
        assert two["changes"][sect]["updated"] == []
    assert sorted(two["changes"]["clients"]["unchanged"]) == sorted(
        one["changes"]["clients"]["created"])


def test_no_tenant_needs_issuer(tmp):
    home = tmp / "home"
    p = import_tenant(home, FORMATS["yaml"], check=False)
    assert p.returncode == 1
    assert "give --issuer URL" in p.stderr
    assert lk.ctl(home, "client", "list").stdout.strip() == "[]"


def yaml_with(tmp, old, new):
    text = FORMATS["yaml"].read_text()
    assert old in text
    f = tmp / "tenant.yaml"
    f.write_text(text.replace(old, new, 1))
    return f


MALFORMED = {
    "bad yaml": (lambda t: write(t, "clients: [\n  - name: x\n"),
        "tenant.yaml:"),
    "not an export": (lambda t: write(t, "hello: world\n"),
        "tenant.yaml: not an Auth0 export"),
    "wrong type": (lambda t: yaml_with(t,
        "is_token_endpoint_ip_header_trusted: true",
        "refresh_token: 7"),
        "clients[0] (Backend Service): refresh_token: not a mapping"),
    "unknown strategy": (lambda t: yaml_with(t, "strategy: google-oauth2",
        "strategy: frobnicate"),
        "connections[1] (google-oauth2): strategy: unknown strategy "
        "frobnicate"),
    "unknown client": (lambda t: yaml_with(t,
        "enabled_clients:\n  - Mobile App\n  options:\n    name: sms",
        "enabled_clients:\n  - Nobody App\n  options:\n    name: sms"),
        "connections[2] (sms): enabled_clients: no client named Nobody App "
        "in the export"),
}


def write(tmp, text):
    f = tmp / "tenant.yaml"
    f.write_text(text)
    return f


@pytest.mark.parametrize("case", sorted(MALFORMED))
def test_malformed(tmp, case):
    make, message = MALFORMED[case]
    home = tmp / "home"
    for args in ((), ("--dry-run",)):
        p = import_tenant(home, make(tmp), "--issuer",
            "https://login.example.com/", *args, check=False)
        assert p.returncode == 2, p.stdout + p.stderr
        assert message in p.stderr, p.stderr
        assert p.stdout == ""
        assert not home.exists(), "a refused import wrote the home"


def test_changed_export_updates(tmp):
    home = tmp / "home"
    import_tenant(home, FORMATS["yaml"], "--issuer",
        "https://login.example.com/")
    f = yaml_with(tmp, "token_lifetime: 7200\n", "token_lifetime: 600\n")
    out = json.loads(import_tenant(home, f).stdout)
    assert out["changed"] is True
    assert out["changes"]["apis"]["updated"] == [API]
    assert out["changes"]["clients"]["updated"] == []
    api = json.loads(lk.ctl(home, "api", "show", API).stdout)
    assert api["token_lifetime"] == 600


def test_placeholders(tmp):
    """Deploy CLI keywords (##KEY## as it is) come from the environment;
    an unset one is refused, nothing written."""
    f = yaml_with(tmp, "default_audience: " + API,
        "default_audience: '##AUDIENCE##'")
    home = tmp / "home"
    args = [str(lk.CTL), "-d", str(home), "import-auth0-tenant", "--issuer",
        "https://login.example.com/", str(f)]
    p = subprocess.run(args, capture_output=True, text=True, timeout=120,
        env=dict(os.environ, AUDIENCE=API, **lk.store_env(home)))
    assert p.returncode == 0, p.stderr
    tenant = json.loads(lk.ctl(home, "tenant", "show").stdout)
    assert tenant["default_audience"] == API
    env = {k: v for k, v in os.environ.items() if k != "AUDIENCE"}
    p = subprocess.run(args[:2] + [str(tmp / "other")] + args[3:],
        capture_output=True, text=True, timeout=120, env=env)
    assert p.returncode == 2
    assert "AUDIENCE" in p.stderr and "not set" in p.stderr, p.stderr
    assert not (tmp / "other").exists()


@pytest.mark.parametrize("policies, mfa, listed", [
    ("[all-applications]", "all", "imported"),
    ("[confidence-score]", "enrolled", "approximate"),
    ("[]", "never", "imported"),
])
def test_guardian_policies_become_the_tenants_mfa(tmp, policies, mfa, listed):
    """guardianPolicies as the tenant's mfa (docs/COMPAT.md 13.1)."""
    home = tmp / "home"
    f = yaml_with(tmp, "guardianFactors:\n",
        "guardianPolicies:\n  policies: %s\nguardianFactors:\n" % policies)
    report = json.loads(import_tenant(home, f, "--issuer",
        "https://login.example.com/", "--dry-run").stdout)
    assert [e for e in report[listed] if e["kind"] == "guardianPolicies"], \
        report[listed]
    import_tenant(home, f, "--issuer", "https://login.example.com/")
    assert json.loads(lk.ctl(home, "tenant", "show").stdout)["mfa"] == mfa
    p = import_tenant(home, yaml_with(tmp, "guardianFactors:\n",
        "guardianPolicies:\n  policies: [sometimes]\nguardianFactors:\n"),
        check=False)
    assert p.returncode == 2 and "guardianPolicies: unknown policy" in \
        p.stderr, p.stderr
