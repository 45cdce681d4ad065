"""
Browser apps across origins (docs/COMPAT.md 11) through the real web
server: the header contract of the CORS protocol
(https://fetch.spec.whatwg.org/#http-cors-protocol) for a client's
allowed origins, exactly, on preflights and on actual answers (errors
too), for an allowed origin, an unknown one and another client's, with
and without credentials; the discovery documents open to every origin;
the origins set with latchkeyctl and refused when malformed; and a real
browser (headless Debian chromium) logging in from a page on another
origin: allowed, an error it can read, another client's origin and
credentials blocked.
"""
import json
import os
import re
import subprocess
import sys
import time

import pytest
import requests

import conftest
import lk

APP = "https://app.example.com"			# POST_ID's allowed_origins
SPA = "https://*.spa.example.org"			# PUBLIC_ID's web_origins
SPA_PAGE = "https://shop.spa.example.org"
DEV = "http://localhost:3000"				# PUBLIC_ID's web_origins
EVIL = "https://evil.example.net"			# nobody's

ALLOW_HEADERS = "Content-Type, Auth0-Client, Authorization, DPoP"
EXPOSE = {"DPoP-Nonce", "Retry-After", "WWW-Authenticate", "X-RateLimit-Limit",
          "X-RateLimit-Remaining", "X-RateLimit-Reset", "X-Request-Id"}
CORS_HEADERS = ("Access-Control-Allow-Origin", "Access-Control-Allow-Methods",
                "Access-Control-Allow-Headers", "Access-Control-Max-Age",
                "Access-Control-Expose-Headers",
                "Access-Control-Allow-Credentials")


@pytest.fixture(scope="module")
def cs():
    s = lk.Server("cors")
    for c in s.tenant["clients"]:
        if c["client_id"] == lk.POST_ID:
            c["allowed_origins"] = [APP]
        if c["client_id"] == lk.PUBLIC_ID:
            c["web_origins"] = [SPA, DEV + "/"]
    s.tenant_file.write_text(json.dumps(s.tenant, indent=1))
    yield conftest._start(s)
    conftest._finish(s)


def preflight(s, path, origin, method="POST", headers="content-type"):
    h = {"Origin": origin, "Access-Control-Request-Method": method}
    if headers:
        h["Access-Control-Request-Headers"] = headers
    return requests.options(s.url(path), headers=h, timeout=30)


def allowed(r, origin):
    """An actual answer a page at origin may read."""
    assert r.headers.get("Access-Control-Allow-Origin") == origin, r.headers
    assert set(r.headers["Access-Control-Expose-Headers"].split(", ")) == EXPOSE
    assert "Origin" in r.headers.get("Vary", "")
    assert "Access-Control-Allow-Credentials" not in r.headers


def refused(r):
    """An answer without CORS headers: the browser hides it from the page."""
    for h in CORS_HEADERS:
        assert h not in r.headers, (h, r.headers)
    assert "Origin" in r.headers.get("Vary", "")


def token(s, origin, client_id=lk.POST_ID, secret=lk.POST_SECRET, **kw):
    h = {"Origin": origin} if origin else {}
    h.update(kw.pop("headers", {}))
    return s.token(lk.password_form(client_id=client_id, secret=secret, **kw),
                   headers=h)


# --- preflight -----------------------------------------------------------

@pytest.mark.parametrize("path,methods", [
    ("oauth/token", "POST"), ("oauth/ro", "POST"),
    ("passwordless/start", "POST"), ("oauth/revoke", "POST"),
    ("userinfo", "GET, POST"), ("mfa/associate", "POST"),
    ("mfa/authenticators", "GET"), ("mfa/challenge", "POST"),
    ("mfa/authenticators/totp%7Cdev_0123456789abcdef", "DELETE")])
def test_preflight_from_an_allowed_origin_is_204_with_the_contract(cs, path, methods):
    r = preflight(cs, path, APP)
    assert r.status_code == 204, r.text
    assert r.content == b""
    assert r.headers["Access-Control-Allow-Origin"] == APP
    assert r.headers["Access-Control-Allow-Methods"] == methods
    assert r.headers["Access-Control-Allow-Headers"] == ALLOW_HEADERS
    assert r.headers["Access-Control-Max-Age"] == "86400"
    assert r.headers["Vary"] == "Origin"
    assert "Access-Control-Allow-Credentials" not in r.headers


def test_preflight_from_a_wildcard_and_a_web_origin(cs):
    for origin in (SPA_PAGE, DEV):
        r = preflight(cs, "oauth/token", origin, headers="content-type,auth0-client,dpop")
        assert r.status_code == 204, (origin, r.text)
        assert r.headers["Access-Control-Allow-Origin"] == origin


@pytest.mark.parametrize("origin", [
    EVIL, "null", "https://a.b.spa.example.org", "http://shop.spa.example.org",
    "https://app.example.com:8443", "http://localhost:3001"])
def test_preflight_from_an_unknown_origin_is_403_without_cors_headers(cs, origin):
    r = preflight(cs, "oauth/token", origin)
    assert r.status_code == 403, r.text
    assert r.json() == {"error": "access_denied",
                        "error_description": "Origin not allowed"}
    refused(r)


def test_plain_options_is_still_405(cs):
    for h in ({}, {"Origin": APP}, {"Access-Control-Request-Method": "POST"}):
        r = requests.options(cs.url("oauth/token"), headers=h, timeout=30)
        assert r.status_code == 405, (h, r.text)
        assert r.headers["Allow"] == "POST"
        assert lk.error_body(r)["error"] == "method_not_allowed"


def test_preflight_of_an_unknown_path_is_404(cs):
    r = preflight(cs, "oauth/authorize", APP)
    assert r.status_code == 404
    assert "Access-Control-Allow-Origin" not in r.headers


# --- actual requests -----------------------------------------------------

def test_token_from_the_clients_origin_is_readable(cs):
    r = token(cs, APP)
    assert r.status_code == 200, r.text
    assert "access_token" in r.json()
    allowed(r, APP)


def test_token_from_another_clients_origin_is_not(cs):
    # SPA_PAGE is PUBLIC_ID's origin: a page there cannot read POST_ID's
    # answers, although its preflight passed.
    r = token(cs, SPA_PAGE)
    assert r.status_code == 200, r.text
    refused(r)
    r = token(cs, APP, client_id=lk.PUBLIC_ID, secret=None)
    assert r.status_code == 200, r.text
    refused(r)
    allowed(token(cs, SPA_PAGE, client_id=lk.PUBLIC_ID, secret=None), SPA_PAGE)


def test_token_from_an_unknown_origin_answers_as_before(cs):
    r = token(cs, EVIL)
    assert r.status_code == 200, r.text
    refused(r)
    # Without an Origin (a server, curl) nothing changes but Vary.
    r = token(cs, None)
    assert r.status_code == 200
    refused(r)


def test_errors_carry_the_headers_for_the_clients_origin(cs):
    r = token(cs, APP, password="wrong password")
    assert r.status_code == 403 and lk.error_body(r)["error"] == "invalid_grant"
    allowed(r, APP)
    r = token(cs, APP, secret="not-the-secret-at-all")
    assert r.status_code == 401, r.text
    allowed(r, APP)
    r = token(cs, EVIL, password="wrong password")
    assert r.status_code == 403
    refused(r)
    # Basic authentication names the client too.
    h = {"Origin": APP, "Authorization": lk.basic(lk.POST_ID, "wrong-secret-xx")}
    r = cs.token(lk.password_form(client_id=None, secret=None), headers=h)
    assert r.status_code == 401, r.text
    allowed(r, APP)


def test_a_request_naming_no_client_is_judged_by_the_tenant(cs):
    r = cs.token({"grant_type": "password"}, headers={"Origin": SPA_PAGE})
    assert r.status_code in (400, 401), r.text
    allowed(r, SPA_PAGE)
    r = cs.token({"grant_type": "password"}, headers={"Origin": EVIL})
    refused(r)


def test_credentials_are_never_allowed(cs):
    # A page fetching with credentials: "include" sends cookies; latchkey
    # uses none, and never answers Access-Control-Allow-Credentials, so
    # the browser refuses such a request (docs/COMPAT.md 11.4).
    r = token(cs, APP, headers={"Cookie": "session=abc"})
    assert r.status_code == 200
    allowed(r, APP)
    r = preflight(cs, "oauth/token", APP)
    assert "Access-Control-Allow-Credentials" not in r.headers


def test_legacy_ro_and_revoke_and_passwordless(cs):
    body = {"client_id": lk.POST_ID, "connection": lk.DB1, "grant_type": "password",
            "username": lk.ALICE, "password": lk.ALICE_PW, "scope": "openid"}
    for origin, ok in ((APP, True), (SPA_PAGE, False)):
        r = cs.post("oauth/ro", json.dumps(body), "application/json", {"Origin": origin})
        assert r.status_code < 500, r.text
        allowed(r, origin) if ok else refused(r)
        r = cs.token({"client_id": lk.POST_ID, "client_secret": lk.POST_SECRET,
                      "token": "not-a-token"}, headers={"Origin": origin},
                     path="oauth/revoke")
        assert r.status_code == 200, r.text
        allowed(r, origin) if ok else refused(r)
    pwl = {"client_id": lk.PUBLIC_ID, "connection": "email", "send": "code",
           "email": "x@example.com"}
    r = cs.post("passwordless/start", json.dumps(pwl), "application/json",
                {"Origin": DEV})
    assert r.status_code == 403, r.text	# no passwordless/otp grant
    allowed(r, DEV)
    r = cs.post("passwordless/start", json.dumps(pwl), "application/json",
                {"Origin": EVIL})
    refused(r)


def test_userinfo_follows_the_tokens_client(cs):
    b = token(cs, None, scope="openid email").json()
    h = {"Authorization": "Bearer " + b["access_token"]}
    r = requests.get(cs.url("userinfo"), headers=dict(h, Origin=APP), timeout=30)
    assert r.status_code == 200, r.text
    allowed(r, APP)
    r = requests.get(cs.url("userinfo"), headers=dict(h, Origin=SPA_PAGE), timeout=30)
    assert r.status_code == 200
    refused(r)
    # No token: no client; a page of a registered origin can read the
    # challenge (WWW-Authenticate is exposed), others cannot.
    r = requests.get(cs.url("userinfo"), headers={"Origin": SPA_PAGE}, timeout=30)
    assert r.status_code == 401
    allowed(r, SPA_PAGE)
    assert r.headers["WWW-Authenticate"].startswith("Bearer")
    r = requests.get(cs.url("userinfo"), headers={"Origin": EVIL}, timeout=30)
    refused(r)


# --- the discovery documents ---------------------------------------------

@pytest.mark.parametrize("path", [".well-known/jwks.json",
                                  ".well-known/openid-configuration"])
def test_wellknown_is_open_to_every_origin(cs, path):
    for origin in (EVIL, APP, None):
        h = {"Origin": origin} if origin else {}
        r = requests.get(cs.url(path), headers=h, timeout=30)
        assert r.status_code == 200
        assert r.headers["Access-Control-Allow-Origin"] == "*"
        assert "Access-Control-Allow-Credentials" not in r.headers
    r = preflight(cs, path, EVIL, method="GET", headers=None)
    assert r.status_code == 204
    assert r.headers["Access-Control-Allow-Origin"] == "*"
    assert r.headers["Access-Control-Allow-Methods"] == "GET, HEAD"


# --- latchkeyctl ---------------------------------------------------------

def test_latchkeyctl_sets_origins_and_they_apply_at_once(cs):
    refused(token(cs, EVIL))
    lk.ctl(cs.home, "client", "update", lk.POST_ID, "--allowed-origins",
           APP + "," + EVIL)
    try:
        shown = json.loads(lk.ctl(cs.home, "client", "show", lk.POST_ID).stdout)
        assert shown["allowed_origins"] == [APP, EVIL]
        allowed(token(cs, EVIL), EVIL)
        assert preflight(cs, "oauth/token", EVIL).status_code == 204
    finally:
        lk.ctl(cs.home, "client", "update", lk.POST_ID, "--allowed-origins", APP)
    refused(token(cs, EVIL))
    assert preflight(cs, "oauth/token", EVIL).status_code == 403


@pytest.mark.parametrize("bad", [
    "https://app.example.com/login", "ftp://app.example.com", "https://*.com",
    "https://sub.*.example.com", "https://*.*.example.com", "app.example.com"])
def test_latchkeyctl_refuses_a_malformed_origin(cs, bad):
    p = lk.ctl(cs.home, "client", "update", lk.POST_ID, "--web-origins", bad,
               check=False)
    assert p.returncode != 0
    assert "web_origins" in p.stderr, p.stderr


# --- a real browser ------------------------------------------------------

CHROMIUM = "/usr/bin/chromium"

PAGE = """<!doctype html><pre id="out">pending</pre><script>
const T = "%(token)s";
async function one(name, body, opts) {
  try {
    const r = await fetch(T, Object.assign({method: "POST", body: JSON.stringify(body),
      headers: {"Content-Type": "application/json", "Auth0-Client": "eyJuYW1lIjoiYXV0aDAuanMifQ"}},
      opts || {}));
    const j = await r.json();
    return name + ":" + r.status + ":" + (j.access_token ? "token" : j.error) + ":" +
      (r.headers.get("X-Request-Id") ? "id" : "noid");
  } catch (e) {
    return name + ":blocked";
  }
}
(async () => {
  const pub = %(pub)s, post = %(post)s, bad = %(bad)s, res = [];
  res.push(await one("allowed", pub));
  res.push(await one("error", bad));
  res.push(await one("other", post));
  res.push(await one("credentials", pub, {credentials: "include"}));
  document.getElementById("out").textContent = res.join(" ");
})();
</script>"""


@pytest.mark.skipif(not os.access(CHROMIUM, os.X_OK), reason="no chromium")
def test_a_browser_page_logs_in_only_from_an_allowed_origin(cs, tmp_path):
    # A page on another 127.0.0.1 port (another origin) runs fetch() to
    # the token endpoint as auth0.js does: JSON with Auth0-Client, so the
    # browser sends a preflight first.
    port = lk.free_port()
    origin = "http://127.0.0.1:%d" % port
    form = lambda cid, secret=None, pw=lk.ALICE_PW: {k: v for k, v in dict(
        grant_type="password", client_id=cid, client_secret=secret,
        username=lk.ALICE, password=pw).items() if v is not None}
    (tmp_path / "index.html").write_text(PAGE % dict(token=cs.url("oauth/token"),
        pub=json.dumps(form(lk.PUBLIC_ID)),
        post=json.dumps(form(lk.POST_ID, lk.POST_SECRET)),
        bad=json.dumps(form(lk.PUBLIC_ID, pw="wrong password"))))
    web = subprocess.Popen([sys.executable, "-m", "http.server", str(port),
        "--bind", "127.0.0.1", "--directory", str(tmp_path)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    lk.ctl(cs.home, "client", "update", lk.PUBLIC_ID, "--web-origins",
           ",".join([SPA, DEV, origin]))
    try:
        for _ in range(100):
            try:
                requests.get(origin + "/index.html", timeout=1)
                break
            except requests.RequestException:
                time.sleep(0.05)
        p = subprocess.run([CHROMIUM, "--headless", "--no-sandbox",
            "--disable-gpu", "--no-first-run", "--user-data-dir=%s" % (tmp_path / "profile"),
            "--virtual-time-budget=20000", "--dump-dom", origin + "/index.html"],
            capture_output=True, text=True, timeout=120)
    finally:
        lk.ctl(cs.home, "client", "update", lk.PUBLIC_ID, "--web-origins",
               ",".join([SPA, DEV]))
        web.terminate()
        web.wait(10)
    out = re.search(r'<pre id="out">([^<]*)</pre>', p.stdout)
    assert out, p.stdout[-2000:] + p.stderr[-2000:]
    assert out.group(1).split() == ["allowed:200:token:id",
        "error:403:invalid_grant:id", "other:blocked", "credentials:blocked"], out.group(1)
