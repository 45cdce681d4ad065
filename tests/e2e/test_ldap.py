"""
AD/LDAP connections (docs/COMPAT.md 14) through the real lighttpd,
against a real slapd (slapd.py: TLS with a throw-away CA, the ppolicy
overlay): search-then-bind over ldap:// with StartTLS and direct bind
over ldaps:// (after a dead URL), the password, password-realm and
/oauth/ro grants, claims checked with PyJWT, the same answer for a wrong
password and an unknown user, ppolicy's locked, expired and must-change
accounts, filter injection, the empty password, and a directory that
goes away and comes back.
"""
import json
import os
import subprocess
import time
import urllib.parse

import pyotp
import pytest

import conftest
import lk
import slapd as sl
import test_cgi
import upstream_idp

LDAP, DIRECT = "corp-ldap", "corp-ldap-direct"
APP_ID, APP_SECRET = "ldap-app", "ldap-app-secret-Hq4nW7zK2pL9"
RO_ID = "ldap-ro-app"
GRANT_OTP = "http://auth0.com/oauth/grant-type/mfa-otp"
OFFLINE_API = "https://api.ldap.test/"
# The directory's bound; memcheck (make valgrind) runs a login many times
# slower, and leaves out the tests that measure it.
TIMEOUT_MS = 15000 if os.environ.get("LATCHKEY_VALGRIND") else 1500
ALICE_PW = sl.USERS["alice"][0]
SECRETS = [sl.SERVICE_PW] + [pw for pw, _ in sl.USERS.values()]


@pytest.fixture(scope="module")
def directory(tmp_path_factory):
    d = sl.Slapd(tmp_path_factory.mktemp("slapd"))
    yield d
    d.stop()


@pytest.fixture(scope="module")
def srv(directory):
    s = lk.Server("ldap")
    lk.add_directory_apps(s, "Ldap", APP_ID, APP_SECRET, RO_ID,
        [lk.GRANT_PASSWORD, lk.GRANT_REALM, "refresh_token", GRANT_OTP],
        OFFLINE_API)

    def connections(s):
        common = ["--strategy", "ad", "--clients", "%s,%s" % (APP_ID, RO_ID),
            "--ca-file", str(directory.ca),
            "--upstream-timeout-ms", str(TIMEOUT_MS),
            "--upstream-connect-timeout-ms", "1000"]
        lk.ctl(s.home, "connection", "add", LDAP, "--ldap-url", directory.url,
            "--bind-dn", sl.SERVICE_DN, "--bind-password-stdin",
            "--base-dn", sl.PEOPLE, *common, input=sl.SERVICE_PW + "\n")
        dead = "ldaps://127.0.0.1:%d" % lk.free_port()
        lk.ctl(s.home, "connection", "add", DIRECT, "--ldap-url",
            "%s %s" % (dead, directory.tls_url),
            "--user-dn", "uid={login}," + sl.PEOPLE, *common)
        lk.ctl(s.home, "tenant", "set", "default_directory", LDAP)
        # Many wrong passwords on purpose here; test_brute_force_...
        # lowers it again.
        lk.ctl(s.home, "tenant", "set", "brute_force.threshold", "100")

    yield conftest._start(s, connections)
    log = s.log()
    for secret in SECRETS:
        assert secret not in log, "a secret reached the log"
    conftest._finish(s)


def login(s, user, pw, realm=LDAP, scope="openid profile email", **extra):
    f = {"grant_type": lk.GRANT_REALM, "realm": realm, "client_id": APP_ID,
         "client_secret": APP_SECRET, "username": user, "password": pw,
         "scope": scope}
    f.update(extra)
    return s.token(f)


def entry_uuid(directory, uid):
    r = subprocess.run(["ldapsearch", "-x", "-LLL", "-H", directory.url,
        "-D", sl.SERVICE_DN, "-w", sl.SERVICE_PW, "-b", sl.PEOPLE,
        "(uid=%s)" % uid, "entryUUID"], capture_output=True, text=True,
        check=True)
    (line,) = [l for l in r.stdout.splitlines() if l.startswith("entryUUID:")]
    return line.split(":", 1)[1].strip()


WRONG = {"error": "invalid_grant", "error_description": "Wrong email or password."}


@pytest.mark.parametrize("realm", [LDAP, DIRECT])
def test_realm_login_issues_tokens_with_the_directory_claims(srv, directory, realm):
    r = login(srv, "alice", ALICE_PW, realm=realm, audience=lk.API)
    assert r.status_code == 200, r.text
    body = r.json()
    sub = "ad|%s|%s" % (realm, entry_uuid(directory, "alice"))
    at = srv.decode(body["access_token"], lk.API)
    assert at["sub"] == sub and at["gty"] == "password-realm"
    idt = srv.decode(body["id_token"], APP_ID)
    assert idt["sub"] == sub
    assert idt["email"] == "alice@example.test"
    assert idt["email_verified"] is False
    assert idt["name"] == "Alice Liddell"
    assert idt["given_name"] == "Alice" and idt["family_name"] == "Liddell"
    assert idt["nickname"] == "alice"


def test_phone_claim_from_the_directory_with_the_phone_scope(srv):
    """docs/COMPAT.md 14.4: telephoneNumber as phone_number (scope phone),
    never verified; one that is not +E.164 is left out, not an error."""
    r = login(srv, "alice", ALICE_PW, scope="openid phone")
    assert r.status_code == 200, r.text
    idt = srv.decode(r.json()["id_token"], APP_ID)
    assert idt["phone_number"] == "+15550100"
    assert idt["phone_verified"] is False
    r = login(srv, "alice", ALICE_PW, scope="openid email")
    assert "phone_number" not in srv.decode(r.json()["id_token"], APP_ID)
    r = login(srv, "bob", sl.USERS["bob"][0], scope="openid phone")
    assert r.status_code == 200, r.text
    idt = srv.decode(r.json()["id_token"], APP_ID)
    assert "phone_number" not in idt and "phone_verified" not in idt


def userinfo(s, at):
    return lk.requests.get(s.url("userinfo"),
        headers={"Authorization": "Bearer " + at}, timeout=30)


def test_groups_claim_when_the_connection_reads_groups(srv):
    """docs/COMPAT.md 14.4: with ldap_groups on, memberOf (the memberof
    overlay's) gives each group's first RDN value as `groups` in the ID
    token and /userinfo (scope profile); off (the default), none."""
    alice = {"Staff", "Research, Dev"}
    r = login(srv, "alice", ALICE_PW)
    assert "groups" not in srv.decode(r.json()["id_token"], APP_ID)
    lk.ctl(srv.home, "connection", "update", LDAP, "--groups", "true")
    try:
        r = login(srv, "alice", ALICE_PW)
        assert r.status_code == 200, r.text
        idt = srv.decode(r.json()["id_token"], APP_ID)
        assert sorted(idt["groups"]) == sorted(alice)
        ui = userinfo(srv, r.json()["access_token"])
        assert ui.status_code == 200, ui.text
        assert sorted(ui.json()["groups"]) == sorted(alice)
        r = login(srv, "alice", ALICE_PW, scope="openid email")
        assert "groups" not in srv.decode(r.json()["id_token"], APP_ID)
        r = login(srv, "mia", sl.USERS["mia"][0])
        assert srv.decode(r.json()["id_token"], APP_ID)["groups"] == []
        p = lk.ctl(srv.home, "connection", "test", LDAP, "bob",
            input=sl.USERS["bob"][0] + "\n")
        assert json.loads(p.stdout)["groups"] == ["Staff"]
        # The other connection reads none.
        r = login(srv, "alice", ALICE_PW, realm=DIRECT)
        assert "groups" not in srv.decode(r.json()["id_token"], APP_ID)
    finally:
        lk.ctl(srv.home, "connection", "update", LDAP, "--groups", "false")
    r = login(srv, "alice", ALICE_PW)
    assert "groups" not in srv.decode(r.json()["id_token"], APP_ID)
    assert "groups" not in userinfo(srv, r.json()["access_token"]).json()


def test_search_then_bind_finds_the_user_by_email_too(srv, directory):
    r = login(srv, "alice@example.test", ALICE_PW)
    assert r.status_code == 200, r.text
    assert srv.decode(r.json()["id_token"], APP_ID)["sub"] == \
        "ad|%s|%s" % (LDAP, entry_uuid(directory, "alice"))


def test_password_grant_at_the_default_directory(srv):
    r = srv.token({"grant_type": lk.GRANT_PASSWORD, "client_id": APP_ID,
        "client_secret": APP_SECRET, "username": "bob",
        "password": sl.USERS["bob"][0], "scope": "openid"})
    assert r.status_code == 200, r.text
    assert srv.decode(r.json()["id_token"], APP_ID)["sub"].startswith(
        "ad|%s|" % LDAP)


def test_legacy_ro_logs_in_at_an_ldap_connection(srv):
    r = srv.token({"client_id": RO_ID, "connection": DIRECT,
        "grant_type": "password", "username": "bob",
        "password": sl.USERS["bob"][0], "scope": "openid"}, path="oauth/ro")
    assert r.status_code == 200, r.text
    assert srv.decode(r.json()["id_token"], RO_ID)["sub"].startswith(
        "ad|%s|" % DIRECT)
    bad = srv.token({"client_id": RO_ID, "connection": DIRECT,
        "grant_type": "password", "username": "bob", "password": "nope",
        "scope": "openid"}, path="oauth/ro")
    assert bad.status_code == 401 and \
        bad.json()["error"] == "invalid_user_password", bad.text


@pytest.mark.parametrize("realm", [LDAP, DIRECT])
def test_wrong_password_and_unknown_user_get_the_same_answer(srv, realm):
    def timed(user, pw):
        t0 = time.monotonic()
        r = login(srv, user, pw, realm=realm)
        return r, time.monotonic() - t0
    timed("alice", "warm-up wrong pw")
    wrong, unknown = [], []
    for _ in range(5):
        wrong.append(timed("alice", "not the password"))
        unknown.append(timed("nobody-here", "not the password"))
    for r, _ in wrong + unknown:
        assert r.status_code == 403 and r.json() == WRONG, r.text
    assert wrong[0][0].content == unknown[0][0].content
    # The same directory work: no early return for an unknown user.
    mw = sorted(t for _, t in wrong)[2]
    mu = sorted(t for _, t in unknown)[2]
    assert abs(mw - mu) < 0.05 + 0.5 * max(mw, mu), (mw, mu)


@pytest.mark.parametrize("login_name", ["*", "ali*", "*)(uid=*",
    "alice)(|(uid=*", "\\2a", "alice,ou=people", "uid=alice"])
@pytest.mark.parametrize("realm", [LDAP, DIRECT])
def test_filter_and_dn_injection_is_escaped(srv, realm, login_name):
    # Every one, with alice's own password, finds no one.
    r = login(srv, login_name, ALICE_PW, realm=realm)
    assert r.status_code == 403 and r.json() == WRONG, r.text


def test_a_nul_in_the_login_is_refused_before_the_directory(srv):
    r = srv.post("oauth/token", "grant_type=%s&realm=%s&client_id=%s"
        "&client_secret=%s&username=alice%%00&password=x" % (
        lk.GRANT_REALM, LDAP, APP_ID, APP_SECRET),
        "application/x-www-form-urlencoded")
    assert r.status_code == 400, r.text
    assert r.json()["error"] == "invalid_request"


@pytest.mark.parametrize("realm", [LDAP, DIRECT])
def test_empty_password_is_refused_not_an_anonymous_bind(srv, realm):
    r = login(srv, "alice", "", realm=realm)
    assert r.status_code in (400, 403), r.text
    assert r.json()["error"] in ("invalid_request", "invalid_grant")
    assert "access_token" not in r.text


@pytest.mark.parametrize("realm", [LDAP, DIRECT])
def test_ppolicy_locked_account_is_blocked(srv, realm):
    r = login(srv, "lena", sl.USERS["lena"][0], realm=realm)
    assert r.status_code == 401, r.text
    assert r.json() == {"error": "unauthorized",
        "error_description": "user is blocked"}


@pytest.mark.parametrize("user", ["ed", "rita"])
@pytest.mark.parametrize("realm", [LDAP, DIRECT])
def test_ppolicy_expired_or_reset_password_must_be_changed(srv, realm, user):
    r = login(srv, user, sl.USERS[user][0], realm=realm)
    assert r.status_code == 401, r.text
    assert r.json()["error"] == "password_change_required"
    # A wrong password on such an account is only a wrong password.
    assert login(srv, user, "wrong", realm=realm).json() == WRONG


def test_refresh_token_of_an_ldap_login_and_block(srv, directory):
    r = login(srv, "alice", ALICE_PW, scope="openid offline_access",
        audience=OFFLINE_API)
    assert r.status_code == 200, r.text
    f = {"grant_type": "refresh_token", "refresh_token": r.json()["refresh_token"],
         "client_id": APP_ID, "client_secret": APP_SECRET}
    r2 = srv.token(f)
    assert r2.status_code == 200, r2.text
    uid = "ad|%s|%s" % (LDAP, entry_uuid(directory, "alice"))
    assert srv.decode(r2.json()["access_token"], OFFLINE_API)["sub"] == uid
    lk.ctl(srv.home, "user", "block", uid)
    try:
        r3 = login(srv, "alice", ALICE_PW)
        assert r3.status_code == 401 and r3.json()["error"] == "unauthorized"
    finally:
        lk.ctl(srv.home, "user", "unblock", uid)


def test_mfa_challenges_a_directory_login_that_completes_with_otp(srv, directory):
    """docs/COMPAT.md 13.1 and 14: a directory user whose mfa is always
    gets 403 mfa_required after the directory accepted the password,
    enrols an otp authenticator, and the mfa-otp grant gives her tokens
    with the shadow user's sub."""
    pw = sl.USERS["mia"][0]
    assert login(srv, "mia", pw).status_code == 200
    uid = "ad|%s|%s" % (LDAP, entry_uuid(directory, "mia"))
    lk.ctl(srv.home, "user", "update", uid, "--mfa", "always")
    try:
        assert login(srv, "mia", "not mia's password").json() == WRONG
        r = login(srv, "mia", pw, audience=lk.API)
        assert r.status_code == 403, r.text
        body = r.json()
        assert body["error"] == "mfa_required", body
        auth = {"Authorization": "Bearer " + body["mfa_token"]}
        r = srv.post("mfa/associate", json.dumps({"authenticator_types":
            ["otp"]}), "application/json", auth)
        assert r.status_code == 200, r.text
        totp = pyotp.TOTP(r.json()["secret"])
        f = {"grant_type": GRANT_OTP, "client_id": APP_ID,
             "client_secret": APP_SECRET, "mfa_token": body["mfa_token"]}
        wrong = "%06d" % ((int(totp.now()) + 1) % 10**6)
        r = srv.token(dict(f, otp=wrong))
        assert r.status_code == 403 and r.json()["error"] == "invalid_grant"
        r = srv.token(dict(f, otp=totp.now()))
        assert r.status_code == 200, r.text
        at = srv.decode(r.json()["access_token"], lk.API)
        assert at["sub"] == uid and at["gty"] == "mfa-otp"
        idt = srv.decode(r.json()["id_token"], APP_ID)
        assert idt["sub"] == uid and idt["email"] == "mia@example.test"
        # Enrolled now: the next login is challenged again, not let through.
        assert login(srv, "mia", pw).status_code == 403
    finally:
        lk.ctl(srv.home, "user", "update", uid, "--mfa", "tenant")


def test_shadow_user_and_connection_show_no_password(srv):
    out = lk.ctl(srv.home, "connection", "show", LDAP).stdout
    assert sl.SERVICE_PW not in out and "ldap_bind_password" not in out
    assert "ldap_url" in out


def unavailable(r):
    assert r.status_code == 503, (r.status_code, r.text)
    assert r.json()["error"] == "temporarily_unavailable"
    assert int(r.headers["Retry-After"]) >= 1


def cgi_login(srv, extra):
    f = {"grant_type": lk.GRANT_REALM, "realm": LDAP, "client_id": APP_ID,
         "client_secret": APP_SECRET, "username": "bob",
         "password": sl.USERS["bob"][0], "scope": "openid"}
    status, headers, payload, err = test_cgi.cgi_run(
        urllib.parse.urlencode(f), srv.home, extra=extra)
    for secret in SECRETS:
        assert secret not in err
    return status, headers, payload, err


@pytest.mark.bdb_only("libpq needs libldap: the PostgreSQL store loads it")
def test_libldap_is_loaded_by_the_login_and_without_it_the_login_is_503(
        srv, tmp_path):
    # Plain CGI: libldap is mapped only by a directory login
    # (lib/directory/ldapsym.c).
    status, _, payload, err = cgi_login(srv, {"LD_DEBUG": "files"})
    assert status == 200, payload
    assert "libldap-2.5.so.0" in test_cgi.loaded_objects(err)
    # A liblber that cannot be loaded: no directory can be reached, said
    # once in the log, and the process answers.
    (tmp_path / "liblber-2.5.so.0").write_text("not a shared object\n")
    status, headers, payload, err = cgi_login(srv,
        {"LD_LIBRARY_PATH": str(tmp_path)})
    assert status == 503, payload
    assert int(headers["retry-after"]) >= 1
    assert json.loads(payload)["error"] == "temporarily_unavailable"
    assert err.count("liblber-2.5.so.0 cannot be loaded") == 1, err


@pytest.mark.parametrize("realm", [LDAP, DIRECT])
def test_directory_stopped_answers_503_then_recovers(srv, directory, realm):
    assert login(srv, "bob", sl.USERS["bob"][0], realm=realm).status_code == 200
    directory.stop()
    try:
        t0 = time.monotonic()
        r = login(srv, "bob", sl.USERS["bob"][0], realm=realm)
        unavailable(r)
        assert time.monotonic() - t0 < TIMEOUT_MS / 1000 + 1.5
    finally:
        directory.start()
    r = login(srv, "bob", sl.USERS["bob"][0], realm=realm)
    assert r.status_code == 200, r.text


def test_directory_that_hangs_answers_within_the_timeout(srv, directory):
    assert login(srv, "bob", sl.USERS["bob"][0]).status_code == 200
    directory.pause(True)
    try:
        t0 = time.monotonic()
        r = login(srv, "bob", sl.USERS["bob"][0])
        took = time.monotonic() - t0
        unavailable(r)
        assert took < TIMEOUT_MS / 1000 + 1.5, took
    finally:
        directory.pause(False)
    r = login(srv, "bob", sl.USERS["bob"][0])
    assert r.status_code == 200, r.text


def test_a_connection_without_what_it_needs_is_refused(srv, directory):
    r = lk.ctl(srv.home, "connection", "add", "half-ldap", "--strategy", "ad",
        "--ldap-url", directory.url, "--base-dn", sl.PEOPLE, check=False)
    assert r.returncode != 0 and "search-then-bind needs" in r.stderr
    r = lk.ctl(srv.home, "connection", "add", "http-ldap", "--strategy", "ad",
        "--ldap-url", "http://127.0.0.1/", "--user-dn", "uid={login},o=x",
        check=False)
    assert r.returncode != 0 and "ldap_url" in r.stderr


def test_brute_force_protection_counts_directory_failures(srv):
    lk.ctl(srv.home, "tenant", "set", "brute_force.threshold", "3")
    try:
        codes = [login(srv, "bob", "wrong %d" % i).status_code for i in range(4)]
        assert codes[:3] == [403, 403, 403] and codes[3] == 429, codes
        # Blocked before the directory is asked, even with the password.
        assert login(srv, "bob", sl.USERS["bob"][0]).status_code == 429
    finally:
        lk.ctl(srv.home, "tenant", "set", "brute_force.threshold", "100")
        lk.ctl(srv.home, "guard", "unblock", "--identifier", "bob")


def test_connection_test_prints_the_claims_of_a_login(srv, directory):
    p = lk.ctl(srv.home, "connection", "test", LDAP, "alice",
        input=ALICE_PW + "\n")
    claims = json.loads(p.stdout)
    assert claims["sub"] == "ad|%s|%s" % (LDAP, entry_uuid(directory, "alice"))
    assert claims["email"] == "alice@example.test"
    assert claims["name"] == "Alice Liddell" and claims["nickname"] == "alice"
    assert ALICE_PW not in p.stdout + p.stderr
    for user, pw, why in (("alice", "wrong", "wrong credentials"),
            ("lena", sl.USERS["lena"][0], "locked"),
            ("rita", sl.USERS["rita"][0], "password")):
        p = lk.ctl(srv.home, "connection", "test", DIRECT, user,
            input=pw + "\n", check=False)
        assert p.returncode == 1 and why in p.stderr, (user, p.stderr)
        assert p.stdout == ""
    p = lk.ctl(srv.home, "connection", "test", lk.DB1, "alice", input="x\n",
        check=False)
    assert p.returncode == 1 and "not an ad connection" in p.stderr


def test_tenant_file_with_an_ad_connection(tmp_path, directory):
    doc = {"tenant": {"issuer": "https://auth.example.com/",
                      "default_directory": "dir"},
           "clients": [{"name": "A", "client_id": "app1",
                        "client_secret": "app1-secret-Rb5nW2qP",
                        "grant_types": ["password"]}],
           "connections": [
               {"name": "dir", "strategy": "ad", "enabled_clients": ["app1"],
                "ldap_url": directory.url, "ldap_bind_dn": sl.SERVICE_DN,
                "ldap_bind_password": sl.SERVICE_PW,
                "ldap_base_dn": sl.PEOPLE, "ca_file": str(directory.ca)}]}
    f = tmp_path / "tenant.json"
    f.write_text(json.dumps(doc))
    home = tmp_path / "home"
    out = lk.ctl(home, "import", str(f)).stdout
    assert json.loads(out)["connections"]["created"] == ["dir"]
    assert sl.SERVICE_PW not in out
    shown = lk.ctl(home, "connection", "show", "dir").stdout
    assert sl.SERVICE_PW not in shown
    assert json.loads(shown)["ldap_base_dn"] == sl.PEOPLE
    again = json.loads(lk.ctl(home, "import", str(f)).stdout)
    assert again["connections"]["unchanged"] == ["dir"]
    p = lk.ctl(home, "connection", "test", "dir", "bob",
        input=sl.USERS["bob"][0] + "\n")
    assert json.loads(p.stdout)["email"] == "bob@example.test"
    # Without the service account's password: refused.
    del doc["connections"][0]["ldap_bind_password"]
    f.write_text(json.dumps(doc))
    p = lk.ctl(tmp_path / "home2", "import", str(f), check=False)
    assert p.returncode != 0 and "search-then-bind" in p.stderr


@pytest.mark.parametrize("url", ["url", "tls_url"])
def test_a_new_session_to_a_hung_directory_is_bounded_too(srv, directory, url):
    # A connection no responder has a session for: the TCP connection
    # is accepted by the kernel, then nothing (TLS handshake, StartTLS).
    name = "hung-" + url.replace("_", "-")
    lk.ctl(srv.home, "connection", "add", name, "--strategy", "ad",
        "--clients", APP_ID, "--ldap-url", getattr(directory, url),
        "--ca-file", str(directory.ca), "--user-dn", "uid={login}," + sl.PEOPLE,
        "--upstream-timeout-ms", str(TIMEOUT_MS),
        "--upstream-connect-timeout-ms", "1000")
    directory.pause(True)
    try:
        t0 = time.monotonic()
        r = login(srv, "bob", sl.USERS["bob"][0], realm=name)
        took = time.monotonic() - t0
        unavailable(r)
        assert took < TIMEOUT_MS / 1000 + 1.5, took
    finally:
        directory.pause(False)
    r = login(srv, "bob", sl.USERS["bob"][0], realm=name)
    assert r.status_code == 200, r.text


@pytest.mark.parametrize("url", ["url", "tls_url"])
def test_a_certificate_from_another_ca_is_refused(srv, directory, tmp_path, url):
    other_ca = upstream_idp.make_ca(tmp_path)[0]
    name = "other-ca-" + url.replace("_", "-")
    lk.ctl(srv.home, "connection", "add", name, "--strategy", "ad",
        "--clients", APP_ID, "--ldap-url", getattr(directory, url),
        "--ca-file", str(other_ca), "--user-dn", "uid={login}," + sl.PEOPLE)
    unavailable(login(srv, "bob", sl.USERS["bob"][0], realm=name))
