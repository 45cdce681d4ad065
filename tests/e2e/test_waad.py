"""
Azure AD (Entra ID) and ADFS connections (docs/COMPAT.md 12) through the
real lighttpd, against a stand-in upstream on 127.0.0.1 over TLS with a
throw-away CA (upstream_idp.py): the password forwarded to the upstream
token endpoint, its id_token verified against its JWKS, the shadow user
written, and latchkey's own tokens checked with PyJWT.  Every way the
upstream can fail is refused with a JSON answer that repeats nothing the
upstream said.
"""
import json
import time
import urllib.parse

import pytest
import requests

import conftest
import lk
import test_cgi
import upstream_idp as up

WAAD, ADFS = "corp-waad", "corp-adfs"
APP_ID, APP_SECRET = "waad-app", "waad-app-secret-Tk3mB8vQ1xZ6"
RO_ID = "waad-ro-app"
OFFLINE_API = "https://api.waad.test/"
MAYA, MAYA_PW = "maya@corp.example", "maya upstream pw: 7gH!k2"
OID = "a1b2c3d4-0000-4000-8000-00000000beef"
NOEL, NOEL_PW = "noel@corp.example", "noel-upstream-pw-Zx9"
UPN = "ivan@adfs.example"
IVAN_PW = "ivan adfs pw 4Rt%"
SECRETS = [MAYA_PW, NOEL_PW, IVAN_PW, up.CLIENT_SECRET, "upstream-access-token"]


@pytest.fixture(scope="module")
def idp(tmp_path_factory):
    u = up.Upstream(tmp_path_factory.mktemp("idp"))
    u.users = {
        MAYA: (MAYA_PW, {"oid": OID, "sub": "pairwise-sub-maya",
            "email": MAYA, "name": "Maya Ortiz", "given_name": "Maya",
            "family_name": "Ortiz", "preferred_username": MAYA}),
        NOEL: (NOEL_PW, {"oid": "noel-oid-1", "preferred_username": NOEL,
            "name": "Noel"}),
        UPN: (IVAN_PW, {"upn": UPN, "unique_name": "ADFS\\ivan",
            "sub": "adfs-sub-ivan"}),
    }
    yield u
    u.stop()


@pytest.fixture(scope="module")
def srv(idp):
    s = lk.Server("waad")
    lk.add_directory_apps(s, "Waad", APP_ID, APP_SECRET, RO_ID,
        [lk.GRANT_PASSWORD, lk.GRANT_REALM, "refresh_token"], OFFLINE_API)

    def connections(s):
        common = ["--clients", "%s,%s" % (APP_ID, RO_ID), "--ca-file", str(idp.ca),
            "--upstream-timeout-ms", "1500", "--upstream-connect-timeout-ms", "1000",
            "--jwks-refresh-min", "1"]
        lk.ctl(s.home, "connection", "add", WAAD, "--strategy", "waad",
            "--token-url", idp.base + up.WAAD_PATH, "--jwks-url", idp.base + up.JWKS_PATH,
            "--upstream-issuer", idp.issuer(False), "--tenant-id", up.TENANT_ID,
            "--upstream-client-id", up.CLIENT_ID, "--upstream-secret-stdin", *common,
            input=up.CLIENT_SECRET + "\n")
        secret_file = s.tmp / "adfs-secret"
        secret_file.write_text(up.CLIENT_SECRET + "\n")
        lk.ctl(s.home, "connection", "add", ADFS, "--strategy", "adfs",
            "--token-url", idp.base + up.ADFS_PATH, "--jwks-url", idp.base + up.ADFS_JWKS_PATH,
            "--upstream-issuer", idp.issuer(True), "--upstream-client-id", up.ADFS_CLIENT_ID,
            "--upstream-resource", up.ADFS_RESOURCE,
            "--upstream-secret-file", str(secret_file), *common)

    yield conftest._start(s, connections)
    log = s.log()
    for secret in SECRETS:
        assert secret not in log, "a secret reached the log"
    conftest._finish(s)


@pytest.fixture(autouse=True)
def _mode(idp):
    idp.mode = "ok"
    yield
    idp.mode = "ok"


def login(s, user, pw, realm=WAAD, scope="openid profile email", **extra):
    f = {"grant_type": lk.GRANT_REALM, "realm": realm, "client_id": APP_ID,
         "client_secret": APP_SECRET, "username": user, "password": pw,
         "scope": scope}
    f.update(extra)
    return s.token(f)


def unavailable(r):
    assert r.status_code == 503, (r.status_code, r.text)
    assert r.headers["Content-Type"].startswith("application/json")
    assert int(r.headers["Retry-After"]) >= 1
    body = r.json()
    assert body["error"] == "temporarily_unavailable"
    return body


def test_login_forwards_the_password_grant_and_issues_our_tokens(srv, idp):
    idp.requests.clear()
    r = login(srv, MAYA, MAYA_PW, audience=lk.API)
    assert r.status_code == 200, r.text
    body = r.json()
    sub = "waad|%s|%s" % (WAAD, OID)
    at = srv.decode(body["access_token"], lk.API)
    assert at["sub"] == sub and at["gty"] == "password-realm"
    idt = srv.decode(body["id_token"], APP_ID)
    assert idt["sub"] == sub
    assert idt["email"] == MAYA and idt["email_verified"] is False
    assert idt["name"] == "Maya Ortiz" and idt["given_name"] == "Maya"
    assert idt["family_name"] == "Ortiz"
    assert "upstream-access-token" not in r.text
    # The request Entra ID's ROPC documentation describes.
    (form,) = idp.requests
    assert form["_path"] == up.WAAD_PATH
    assert form["grant_type"] == "password"
    assert form["client_id"] == up.CLIENT_ID
    assert form["client_secret"] == up.CLIENT_SECRET
    assert form["username"] == MAYA and form["password"] == MAYA_PW
    assert "openid" in form["scope"].split()


def test_shadow_user_is_stored_without_password_or_secret(srv):
    assert login(srv, MAYA, MAYA_PW).status_code == 200
    u = json.loads(lk.ctl(srv.home, "user", "show",
        "waad|%s|%s" % (WAAD, OID)).stdout)
    assert u["connection"] == WAAD and u["email"] == MAYA
    assert "password_hash" not in u and "password_hash_alg" not in u
    c = lk.ctl(srv.home, "connection", "show", WAAD).stdout
    assert up.CLIENT_SECRET not in c
    assert json.loads(c)["strategy"] == "waad"


def test_default_directory_may_be_a_waad_connection(srv):
    lk.ctl(srv.home, "tenant", "set", "default_directory", WAAD)
    try:
        r = srv.token({"grant_type": "password", "client_id": APP_ID,
            "client_secret": APP_SECRET, "username": MAYA, "password": MAYA_PW,
            "scope": "openid"})
        assert r.status_code == 200, r.text
        assert srv.decode(r.json()["id_token"], APP_ID)["sub"].startswith("waad|")
    finally:
        lk.ctl(srv.home, "tenant", "set", "default_directory", lk.DB1)


def test_wrong_password_and_unknown_user_get_the_same_answer(srv):
    wrong = login(srv, NOEL, "not the password")
    unknown = login(srv, "nobody@corp.example", "whatever")
    for r in (wrong, unknown):
        assert r.status_code == 403, r.text
        assert r.json() == {"error": "invalid_grant",
            "error_description": "Wrong email or password."}
    assert wrong.content == unknown.content
    assert "AADSTS" not in wrong.text and "<script" not in wrong.text


@pytest.mark.parametrize("mode", ["bad_signature", "wrong_issuer",
    "wrong_audience", "wrong_tenant", "expired"])
def test_an_upstream_id_token_that_does_not_verify_is_refused(srv, idp, mode):
    idp.mode = mode
    body = unavailable(login(srv, MAYA, MAYA_PW))
    assert "could not be verified" in body["error_description"]


@pytest.mark.parametrize("mode", ["status500", "garbage", "no_id_token",
    "invalid_client"])
def test_an_unusable_upstream_answer_is_503_and_not_echoed(srv, idp, mode):
    idp.mode = mode
    r = login(srv, MAYA, MAYA_PW)
    body = unavailable(r)
    for leak in ("<script", "alert", "AADSTS", "not json", "\x1b", "<b>"):
        assert leak not in r.text
    assert body["error_description"].startswith("The connection's identity provider")


def cgi_login(srv, extra):
    f = {"grant_type": lk.GRANT_REALM, "realm": WAAD, "client_id": APP_ID,
         "client_secret": APP_SECRET, "username": MAYA, "password": MAYA_PW,
         "scope": "openid"}
    status, headers, payload, err = test_cgi.cgi_run(
        urllib.parse.urlencode(f), srv.home, extra=extra)
    for secret in SECRETS:
        assert secret not in err
    return status, headers, payload, err


def test_libcurl_is_loaded_by_the_upstream_call_and_without_it_the_login_is_503(
        srv, tmp_path):
    # Plain CGI: libcurl is mapped only by a request that calls an upstream
    # (lib/net/curlsym.c).
    status, _, payload, err = cgi_login(srv, {"LD_DEBUG": "files"})
    assert status == 200, payload
    assert "libcurl.so.4" in test_cgi.loaded_objects(err)
    # A libcurl that cannot be loaded: the upstream is unreachable, said once
    # in the log, and the process answers.
    (tmp_path / "libcurl.so.4").write_text("not a shared object\n")
    status, headers, payload, err = cgi_login(srv,
        {"LD_LIBRARY_PATH": str(tmp_path)})
    assert status == 503, payload
    assert int(headers["retry-after"]) >= 1
    assert json.loads(payload)["error"] == "temporarily_unavailable"
    assert err.count("libcurl.so.4 cannot be loaded") == 1, err


def test_upstream_timeout_answers_within_the_bound(srv, idp):
    idp.mode = "slow"
    t0 = time.monotonic()
    r = login(srv, MAYA, MAYA_PW)
    took = time.monotonic() - t0
    unavailable(r)
    # upstream_timeout_ms is 1500; the stand-in takes 6 s.
    assert took < 4.0, took


def test_a_slow_jwks_counts_against_the_same_bound(srv, idp):
    assert login(srv, MAYA, MAYA_PW).status_code == 200
    idp.rotate()		# an unknown kid: the JWKS is fetched again
    time.sleep(1.2)
    idp.jwks_slow = True
    try:
        t0 = time.monotonic()
        r = login(srv, MAYA, MAYA_PW)
        took = time.monotonic() - t0
    finally:
        idp.jwks_slow = False
    unavailable(r)
    assert took < 4.0, took
    # Fetched again once jwks_refresh_min has passed.
    time.sleep(1.2)
    for _ in range(4):
        assert login(srv, MAYA, MAYA_PW).status_code == 200


def test_mfa_required_upstream_is_a_clear_403(srv, idp):
    idp.mode = "mfa"
    r = login(srv, MAYA, MAYA_PW)
    assert r.status_code == 403, r.text
    assert r.json()["error"] == "access_denied"
    assert "multi-factor" in r.json()["error_description"]
    assert "AADSTS" not in r.text
    # A wrong password is still a wrong password.
    assert login(srv, MAYA, "wrong").json()["error"] == "invalid_grant"


def test_a_rotated_upstream_key_is_fetched_on_its_unknown_kid(srv, idp):
    assert login(srv, MAYA, MAYA_PW).status_code == 200
    before = idp.jwks_fetches
    idp.rotate()
    time.sleep(1.2)		# jwks_refresh_min is 1 s
    r = login(srv, MAYA, MAYA_PW)
    assert r.status_code == 200, r.text
    assert idp.jwks_fetches > before


def test_refresh_token_of_a_waad_login_and_block(srv):
    r = login(srv, MAYA, MAYA_PW, scope="openid offline_access",
        audience=OFFLINE_API)
    assert r.status_code == 200, r.text
    rt = r.json()["refresh_token"]
    f = {"grant_type": "refresh_token", "refresh_token": rt,
         "client_id": APP_ID, "client_secret": APP_SECRET}
    r2 = srv.token(f)
    assert r2.status_code == 200, r2.text
    assert srv.decode(r2.json()["access_token"], OFFLINE_API)["sub"] == \
        "waad|%s|%s" % (WAAD, OID)
    uid = "waad|%s|%s" % (WAAD, OID)
    lk.ctl(srv.home, "user", "block", uid)
    try:
        assert srv.token(f).status_code == 403
        # A blocked shadow user cannot log in either, even with the
        # upstream's blessing.
        r3 = login(srv, MAYA, MAYA_PW)
        assert r3.status_code == 401 and r3.json()["error"] == "unauthorized"
    finally:
        lk.ctl(srv.home, "user", "unblock", uid)
    assert login(srv, MAYA, MAYA_PW).status_code == 200


def test_userinfo_of_a_waad_login(srv):
    r = login(srv, NOEL, NOEL_PW, audience=srv.issuer + "userinfo")
    assert r.status_code == 200, r.text
    u = requests.get(srv.url("userinfo"), timeout=30,
        headers={"Authorization": "Bearer " + r.json()["access_token"]})
    assert u.status_code == 200, u.text
    assert u.json()["sub"] == "waad|%s|noel-oid-1" % WAAD
    assert u.json()["email"] == NOEL


def test_adfs_login_sends_the_resource_and_names_the_user_by_upn(srv, idp):
    idp.requests.clear()
    r = login(srv, UPN, IVAN_PW, realm=ADFS, scope="openid")
    assert r.status_code == 200, r.text
    assert srv.decode(r.json()["id_token"], APP_ID)["sub"] == \
        "adfs|%s|%s" % (ADFS, UPN)
    (form,) = idp.requests
    assert form["_path"] == up.ADFS_PATH
    assert form["resource"] == up.ADFS_RESOURCE
    assert form["client_id"] == up.ADFS_CLIENT_ID
    wrong = login(srv, UPN, "nope", realm=ADFS)
    assert wrong.status_code == 403
    assert wrong.json()["error_description"] == "Wrong email or password."
    assert "MSIS" not in wrong.text


def test_legacy_ro_logs_in_at_an_adfs_connection(srv):
    r = srv.token({"client_id": RO_ID, "connection": ADFS, "grant_type": "password",
        "username": UPN, "password": IVAN_PW, "scope": "openid"}, path="oauth/ro")
    assert r.status_code == 200, r.text
    assert srv.decode(r.json()["id_token"], RO_ID)["sub"] == "adfs|%s|%s" % (ADFS, UPN)
    bad = srv.token({"client_id": RO_ID, "connection": ADFS, "grant_type": "password",
        "username": UPN, "password": "x", "scope": "openid"}, path="oauth/ro")
    assert bad.status_code == 401
    assert bad.json()["error"] == "invalid_user_password"


def test_failed_logins_are_audited_and_counted(srv):
    login(srv, NOEL, "wrong again")
    events = json.loads(lk.ctl(srv.home, "audit", "list").stdout)
    assert any(e.get("type") == "fp" and e.get("user_name") == NOEL for e in events)
    assert any(e.get("type") == "s" and e.get("user_id", "").startswith("waad|")
        for e in events)


@pytest.mark.parametrize("args, why", [
    (["--strategy", "waad"], "needs token_url"),
    (["--strategy", "waad", "--token-url", "https://x/t", "--jwks-url", "https://x/k",
      "--upstream-issuer", "https://x/", "--upstream-client-id", "c"], "tenant_id"),
    (["--strategy", "adfs", "--token-url", "http://x/t", "--jwks-url", "https://x/k",
      "--upstream-issuer", "https://x/", "--upstream-client-id", "c"], "https://"),
])
def test_connection_add_refuses_an_incomplete_upstream(srv, args, why):
    p = lk.ctl(srv.home, "connection", "add", "incomplete", *args, check=False)
    assert p.returncode != 0
    assert why in p.stderr


def test_tenant_file_with_waad_and_adfs_connections(tmp_path, idp):
    doc = {"tenant": {"issuer": "https://auth.example.com/",
                      "default_directory": "entra"},
           "clients": [{"name": "A", "client_id": "app1",
                        "client_secret": "app1-secret-Rb5nW2qP",
                        "grant_types": ["password"]}],
           "connections": [
               {"name": "entra", "strategy": "waad", "enabled_clients": ["app1"],
                "token_url": idp.base + up.WAAD_PATH,
                "jwks_url": idp.base + up.JWKS_PATH,
                "upstream_issuer": idp.issuer(False), "tenant_id": up.TENANT_ID,
                "upstream_client_id": up.CLIENT_ID,
                "upstream_client_secret": up.CLIENT_SECRET, "ca_file": str(idp.ca)},
               {"name": "fs", "strategy": "adfs", "enabled_clients": ["app1"],
                "token_url": idp.base + up.ADFS_PATH,
                "jwks_url": idp.base + up.ADFS_JWKS_PATH,
                "upstream_issuer": idp.issuer(True),
                "upstream_client_id": up.ADFS_CLIENT_ID}]}
    f = tmp_path / "tenant.json"
    f.write_text(json.dumps(doc))
    home = tmp_path / "home"
    out = lk.ctl(home, "import", str(f)).stdout
    assert sorted(json.loads(out)["connections"]["created"]) == ["entra", "fs"]
    assert up.CLIENT_SECRET not in out
    shown = lk.ctl(home, "connection", "show", "entra").stdout
    assert up.CLIENT_SECRET not in shown
    assert json.loads(shown)["tenant_id"] == up.TENANT_ID
    # Again: nothing changes (the secret included).
    again = json.loads(lk.ctl(home, "import", str(f)).stdout)
    assert sorted(again["connections"]["unchanged"]) == ["entra", "fs"]
    # A new waad connection without its tenant is refused.
    del doc["connections"][0]["tenant_id"]
    f.write_text(json.dumps(doc))
    p = lk.ctl(tmp_path / "home2", "import", str(f), check=False)
    assert p.returncode != 0 and "tenant_id" in p.stderr


def test_deploy_export_waad_and_adfs_are_reported_with_the_command(tmp_path):
    doc = {"connections": [
        {"name": "entra", "strategy": "waad", "enabled_clients": [],
         "options": {"tenant_domain": "contoso.onmicrosoft.com",
                     "client_id": "6731de76-14a6", "waad_protocol": "openid-connect"}},
        {"name": "fs", "strategy": "adfs", "enabled_clients": [],
         "options": {"adfs_server": "https://adfs.contoso.com/FederationMetadata/"
                     "2007-06/FederationMetadata.xml"}},
        {"name": "odd", "strategy": "waad",
         "options": {"tenant_domain": "a b; rm -rf /", "client_id": "x"}}]}
    f = tmp_path / "export.json"
    f.write_text(json.dumps(doc))
    home = tmp_path / "home"
    p = lk.ctl(home, "import-auth0-tenant", "--dry-run", str(f))
    why = {e["name"]: e["why"] for e in json.loads(p.stdout)["skipped"]
           if e["kind"] == "connection"}
    assert "--token-url https://login.microsoftonline.com/contoso.onmicrosoft.com/" \
        "oauth2/v2.0/token" in why["entra"]
    assert "--upstream-client-id 6731de76-14a6" in why["entra"]
    assert "GUID" in why["entra"]
    assert why["fs"].startswith("adfs connection")
    assert "rm -rf" not in why["odd"]
    assert not home.exists()
