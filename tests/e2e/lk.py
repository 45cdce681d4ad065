"""
Shared helpers for the end-to-end tests: the test tenant, a running
lighttpd + latchkey server, and independent token checks with PyJWT.

The tenant's credentials are constants so the golden table
(golden/malformed.json) can name them literally.
"""
import atexit
import base64
import itertools
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.parse
import uuid
from pathlib import Path

import jwt
import requests
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

ROOT = Path(__file__).resolve().parents[2]

# A responder started as root refuses to serve unless LATCHKEY_USER names
# the user to become (latchkey.fcgi(8)).  Run as root (CI, containers),
# the suite's homes belong to root, so it names root deliberately;
# test_privileges.py starts responders that drop to another user.
if os.geteuid() == 0:
    os.environ.setdefault("LATCHKEY_USER", "root")
_build = Path(os.environ.get("LATCHKEY_BUILD", "build"))
BUILD = _build if _build.is_absolute() else ROOT / _build
FCGI = BUILD / "cgi-bin" / "latchkey.fcgi"
CTL = BUILD / "db" / "latchkeyctl"


def _valgrind_wrapper(real, logdir):
    """make valgrind: a script that runs the responder under memcheck,
    one log per process (prefork workers are followed without exec), and
    that every test starts in its place."""
    w = logdir / "latchkey.fcgi"
    supp = ROOT / "tests" / "valgrind" / "latchkey.supp"
    # No leak check: it scans every mapping, Berkeley DB's regions too,
    # at each process's exit, a minute for a forked courier that its
    # responder waits for; leaks are LeakSanitizer's (make check).
    w.write_text("#!/bin/sh\nexec /usr/bin/valgrind --tool=memcheck "
        "--error-exitcode=99 --leak-check=no --child-silent-after-fork=no "
        "--suppressions=%s --log-file=%s/vg.%%p.log %s \"$@\"\n"
        % (supp, logdir, real))
    w.chmod(0o755)
    return w


# LATCHKEY_VALGRIND=DIR (make valgrind): every responder under memcheck.
if os.environ.get("LATCHKEY_VALGRIND"):
    FCGI = _valgrind_wrapper(FCGI, Path(os.environ["LATCHKEY_VALGRIND"]))
CONF = ROOT / "httpd-conf" / "lighttpd.conf"

# LATCHKEY_TEST_BACKEND=pg (make e2e-pg): every home gets a PostgreSQL
# database of its own in one cluster for the session (tests/pg), which
# latchkeyctl and the responders reach through LATCHKEY_DATABASE; the
# home stays the local directory of the run/ files.
BACKEND = os.environ.get("LATCHKEY_TEST_BACKEND", "bdb")
PG = BACKEND == "pg"
_pg = None
_pg_dbs = {}
_pg_seq = itertools.count(1)
PG_TEMPLATE = "lk_template"


def pg_cluster():
    """The session's cluster, started on first use, with a template
    database holding the schema (latchkeyctl migrate)."""
    global _pg
    if _pg is None:
        sys.path.insert(0, str(ROOT / "tests" / "pg"))
        import pgcluster
        c = pgcluster.PgCluster()
        atexit.register(c.cleanup)
        c.start()
        c.createdb(PG_TEMPLATE)
        p = subprocess.run([str(CTL), "-D", c.conninfo(PG_TEMPLATE),
            "migrate"], capture_output=True, text=True, timeout=60)
        assert p.returncode == 0, "latchkeyctl migrate: " + p.stderr
        _pg = c
    return _pg


def pg_database(home):
    """The conninfo of home's database (made on first use)."""
    key = os.path.abspath(str(home))
    if key not in _pg_dbs:
        c = pg_cluster()
        name = c.createdb("lk_%d" % next(_pg_seq), template=PG_TEMPLATE)
        _pg_dbs[key] = c.conninfo(name)
    return _pg_dbs[key]


def pg_use(home, conninfo):
    """Point home at the database conninfo names."""
    _pg_dbs[os.path.abspath(str(home))] = conninfo


def pg_share(home, other, user=None):
    """Point home at other's database (a second machine), connecting as
    user (default: the owner)."""
    info = pg_database(other)
    if user is not None:
        info = info.replace("user=postgres", "user=%s" % user)
    pg_use(home, info)


def store_env(home):
    """What a process on home needs in its environment beside
    LATCHKEY_HOME: LATCHKEY_DATABASE under the PostgreSQL backend."""
    if not PG:
        return {}
    return {"LATCHKEY_DATABASE": pg_database(home)}
LIGHTTPD = shutil.which("lighttpd") or "/usr/sbin/lighttpd"

GRANT_PASSWORD = "password"
GRANT_REALM = "http://auth0.com/oauth/grant-type/password-realm"
ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"

# Connections.
DB1 = "Username-Password-Authentication"	# the default directory
DB2 = "second-db"				# enabled for some clients only

# APIs.
API = "https://api.test.latchkey/"
API_SCOPES = ["read:things", "write:things"]
API_LIFETIME = 3600
API2 = "https://api2.test.latchkey/"		# no token_lifetime: 86400

# Clients: one per authentication method, plus the special cases.
POST_ID, POST_SECRET = "post-app", "post-app-secret-Zq8uW1mK3pR6tY9v"
# RFC 6749 2.3.1: id and secret are form-encoded before base64, so both
# carry characters that change under that encoding (':' '+' '%' ' ').
BASIC_ID, BASIC_SECRET = "basic:app+1", "b%s3cr:et +/=&x9Qw"
HS_ID, HS_SECRET = "hs256-app", "hs256-app-secret-Vn4bX7cJ2sL5dF8h"
PK_ID, PK_KID = "pkjwt-app", "pkjwt-key-1"
PUBLIC_ID = "public-app"
NOPW_ID, NOPW_SECRET = "nopassword-app", "nopassword-secret-Hj3kL6mN9pQ2rS5t"
REALMONLY_ID, REALMONLY_SECRET = "realmonly-app", "realmonly-secret-Wx2cV5bN8mA1sD4f"

# Users.
ALICE, ALICE_PW = "alice@example.com", "alice pw: Tr0ub4dor&3 correct"
ALICE_USERNAME = "alice"
BOB, BOB_PW = "bob@example.com", "bob-pw-Gh7jK0lP3oI6uY9t"		# DB2 only
CAROL, CAROL_PW = "carol@example.com", "carol-pw-Mn4bV7cX0zA3sD6f"	# blocked
DORA, DORA_PW = "dora@example.com", "dora-pw-Qw1eR4tY7uI0oP3a"	# block/unblock test
ERIN, ERIN_PW = "erin@example.com", "erin-pw-bcrypt-Lk2jH5gF8dS1"	# bcrypt hash
FRED, FRED_PW = "fred@example.com", "fred-pw-yescrypt-Zx3cV6bN9m"	# yescrypt hash

ALL_SECRETS = [POST_SECRET, BASIC_SECRET, HS_SECRET, NOPW_SECRET,
    REALMONLY_SECRET, ALICE_PW, BOB_PW, CAROL_PW, DORA_PW, ERIN_PW, FRED_PW]

SANITIZER_MARKERS = ("ERROR: AddressSanitizer", "ERROR: LeakSanitizer",
    "runtime error:", "UndefinedBehaviorSanitizer")


def legacy_hash(pw, method):
    """A crypt(3) hash ($2b$ or $y$) made by libcrypt, for the
    verify-and-rehash path; None when Python's crypt module is gone."""
    try:
        import warnings
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            import crypt
    except ImportError:
        return None
    if method == "bcrypt":
        return crypt.crypt(pw, crypt.mksalt(crypt.METHOD_BLOWFISH, rounds=16))
    return crypt.crypt(pw, "$y$j9T$" + base64.b64encode(os.urandom(12),
        b"./").decode().rstrip("="))


def new_rsa_key():
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def public_pem(key):
    return key.public_key().public_bytes(serialization.Encoding.PEM,
        serialization.PublicFormat.SubjectPublicKeyInfo).decode()


def tenant_doc(issuer, client_key, *, alg="RS256", default_directory=DB1,
        default_audience=None):
    """The test tenant (latchkeyctl import format)."""
    both = [GRANT_PASSWORD, GRANT_REALM]
    tenant = {"issuer": issuer, "alg": alg, "hash": {"t": 1, "m": 1024, "p": 1}}
    # Attack protection (lib/security/guard.c) keeps Auth0's brute-force default,
    # but the whole suite logs in from 127.0.0.1 as a few users, so the
    # per-IP and per-user-per-IP limits are off here; test_attack.py
    # tests them on tenants of its own.
    tenant["rate_limit"] = {"enabled": False}
    tenant["suspicious_ip"] = {"enabled": False}
    if default_directory:
        tenant["default_directory"] = default_directory
    if default_audience:
        tenant["default_audience"] = default_audience
    users = [
        {"connection": DB1, "email": ALICE, "username": ALICE_USERNAME,
         "password": ALICE_PW, "email_verified": True,
         "name": "Alice Liddell", "given_name": "Alice",
         "family_name": "Liddell", "nickname": "ali",
         "picture": "https://example.com/alice.png"},
        {"connection": DB2, "email": BOB, "password": BOB_PW,
         "email_verified": False, "name": "Bob"},
        {"connection": DB1, "email": CAROL, "password": CAROL_PW,
         "blocked": True, "name": "Carol"},
        {"connection": DB1, "email": DORA, "password": DORA_PW, "name": "Dora"},
    ]
    for email, pw, method in ((ERIN, ERIN_PW, "bcrypt"), (FRED, FRED_PW, "yescrypt")):
        h = legacy_hash(pw, method)
        if h:
            users.append({"connection": DB1, "email": email, "password_hash": h})
    return {
        "tenant": tenant,
        "connections": [
            {"name": DB1, "strategy": "auth0",
             "enabled_clients": [POST_ID, BASIC_ID, HS_ID, PK_ID, PUBLIC_ID,
                                 NOPW_ID, REALMONLY_ID]},
            {"name": DB2, "strategy": "auth0", "enabled_clients": [POST_ID]},
        ],
        "clients": [
            {"name": "Post App", "client_id": POST_ID, "client_secret": POST_SECRET,
             "app_type": "regular_web", "token_endpoint_auth_method": "client_secret_post",
             "grant_types": both, "id_token_alg": "RS256"},
            {"name": "Basic App", "client_id": BASIC_ID, "client_secret": BASIC_SECRET,
             "app_type": "regular_web", "token_endpoint_auth_method": "client_secret_basic",
             "grant_types": both},
            {"name": "HS256 App", "client_id": HS_ID, "client_secret": HS_SECRET,
             "app_type": "regular_web", "token_endpoint_auth_method": "client_secret_post",
             "grant_types": both, "id_token_alg": "HS256"},
            {"name": "Private Key JWT App", "client_id": PK_ID,
             "app_type": "non_interactive", "token_endpoint_auth_method": "private_key_jwt",
             "grant_types": both,
             "public_keys": [{"kid": PK_KID, "alg": "RS256", "pem": public_pem(client_key)}]},
            {"name": "Public App", "client_id": PUBLIC_ID, "app_type": "native",
             "token_endpoint_auth_method": "none", "grant_types": both},
            {"name": "No Password App", "client_id": NOPW_ID, "client_secret": NOPW_SECRET,
             "app_type": "regular_web", "token_endpoint_auth_method": "client_secret_post",
             "grant_types": ["refresh_token"]},
            {"name": "Realm Only App", "client_id": REALMONLY_ID,
             "client_secret": REALMONLY_SECRET, "app_type": "regular_web",
             "token_endpoint_auth_method": "client_secret_post", "grant_types": [GRANT_REALM]},
        ],
        "apis": [
            {"identifier": API, "name": "Test API", "scopes": API_SCOPES,
             "token_lifetime": API_LIFETIME, "allow_offline_access": False},
            {"identifier": API2, "name": "Second API", "scopes": ["read:other"]},
        ],
        "users": users,
    }


def add_directory_apps(s, name, app, secret, ro, grants, offline_api):
    """Add to s's tenant file what a directory connection's tests log in
    with: a confidential app with grants, a public legacy /oauth/ro app and
    an API that allows offline access."""
    t = json.loads(s.tenant_file.read_text())
    t["clients"].append({"name": name + " App", "client_id": app,
        "client_secret": secret, "app_type": "regular_web",
        "token_endpoint_auth_method": "client_secret_post",
        "grant_types": grants})
    t["clients"].append({"name": name + " Legacy", "client_id": ro,
        "app_type": "native", "token_endpoint_auth_method": "none",
        "grant_types": ["http://auth0.com/oauth/legacy/grant-type/ro"]})
    t["apis"].append({"identifier": offline_api, "name": "Offline",
        "scopes": ["read:x"], "allow_offline_access": True})
    s.tenant_file.write_text(json.dumps(t, indent=1))


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def ctl(home, *args, input=None, check=True):
    """Run latchkeyctl -d home args...; returns the CompletedProcess."""
    p = subprocess.run([str(CTL), "-d", str(home), *args], input=input,
        capture_output=True, text=True, timeout=120,
        env=dict(os.environ, **store_env(home)))
    if check and p.returncode != 0:
        raise AssertionError("latchkeyctl %s failed (%d):\n%s%s" % (
            " ".join(args), p.returncode, p.stdout, p.stderr))
    return p


class Server:
    """A tenant home loaded with latchkeyctl import, served by the real
    lighttpd with httpd-conf/lighttpd.conf on a free 127.0.0.1 port."""

    def __init__(self, name, **tenant_kw):
        self.name = name
        self.tmp = Path(tempfile.mkdtemp(prefix="latchkey-e2e-%s-" % name))
        self.home = self.tmp / "home"
        self.run = self.tmp / "run"
        self.run.mkdir()
        self.errlog = self.run / "error.log"
        self.port = free_port()
        self.base = "http://127.0.0.1:%d/" % self.port
        self.issuer = self.base
        self.client_key = new_rsa_key()
        self.tenant = tenant_doc(self.issuer, self.client_key, **tenant_kw)
        self.tenant_file = self.tmp / "tenant.json"
        self.tenant_file.write_text(json.dumps(self.tenant, indent=1))
        self.proc = None
        self._jwks = None

    def env(self):
        e = dict(os.environ)
        e.update(LATCHKEY_PORT=str(self.port), LATCHKEY_FCGI=str(FCGI),
            LATCHKEY_HOME=str(self.home), LATCHKEY_RUNDIR=str(self.run))
        e.update(store_env(self.home))
        return e

    def start(self):
        ctl(self.home, "import", str(self.tenant_file))
        return self.serve()

    def serve(self):
        """Start lighttpd on the home as it is."""
        t = subprocess.run([LIGHTTPD, "-tt", "-f", str(CONF)], env=self.env(),
            capture_output=True, text=True)
        assert t.returncode == 0, "lighttpd -tt: " + t.stdout + t.stderr
        with open(self.errlog, "ab") as log:
            # -D: stay in the foreground so the responders inherit this
            # stderr (the error log); a daemon points it at /dev/null.
            self.proc = subprocess.Popen([LIGHTTPD, "-D", "-f", str(CONF)],
                env=self.env(), stdin=subprocess.DEVNULL, stdout=log,
                stderr=log, start_new_session=True)
        deadline = time.time() + 30
        last = "no answer"
        while True:
            if self.proc.poll() is not None:
                raise AssertionError("lighttpd exited (%d):\n%s" % (
                    self.proc.returncode, self.log()))
            try:
                r = requests.get(self.base + ".well-known/jwks.json", timeout=5)
                if r.status_code == 200:
                    return self
                last = "HTTP %d %s" % (r.status_code, r.text[:200])
            except requests.RequestException as e:
                last = "%s: %s" % (type(e).__name__, e)
            if time.time() > deadline:
                raise AssertionError("server not ready in 30 s (last: %s); log:\n%s"
                    % (last, self.log()[-4000:]))
            time.sleep(0.1)

    def _children(self):
        try:
            with open("/proc/%d/task/%d/children" % (self.proc.pid, self.proc.pid)) as f:
                return [int(x) for x in f.read().split()]
        except OSError:
            return []

    def stop(self):
        if self.proc is None or self.proc.poll() is not None:
            return
        kids = self._children()
        self.proc.terminate()
        try:
            self.proc.wait(15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(5)
        # lighttpd stops its FastCGI children; give them time to exit
        # (and a sanitizer time to write its report), then make sure.
        deadline = time.time() + 10
        for pid in kids:
            while time.time() < deadline:
                try:
                    os.kill(pid, 0)
                except ProcessLookupError:
                    break
                time.sleep(0.05)
            else:
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass

    def log(self):
        try:
            return self.errlog.read_text(errors="replace")
        except OSError:
            return ""

    def sanitizer_reports(self, text=None):
        text = self.log() if text is None else text
        return [m for m in SANITIZER_MARKERS if m in text]

    def slot_objects(self):
        """This home's hash slot memory objects in /dev/shm (lib/security/admit.c)."""
        st = os.stat(self.home / "run" / "admission")
        pre = "latchkey-%d-%d-%d-" % (os.geteuid(), st.st_dev, st.st_ino)
        return sorted(n for n in os.listdir("/dev/shm") if n.startswith(pre))

    def cleanup(self):
        # Hash slot memory a test left by killing every responder
        # (a graceful stop removes it: test_admission.py).
        try:
            for n in self.slot_objects():
                os.unlink("/dev/shm/" + n)
        except OSError:
            pass
        if not os.environ.get("LATCHKEY_KEEP_TMP"):
            shutil.rmtree(self.tmp, ignore_errors=True)

    # --- requests -----------------------------------------------------

    def url(self, path):
        return self.base + path.lstrip("/")

    def post(self, path, body=b"", ctype=None, headers=None):
        """POST raw bytes (str is UTF-8 encoded) with the given type."""
        h = dict(headers or {})
        if ctype is not None:
            h["Content-Type"] = ctype
        if isinstance(body, str):
            body = body.encode()
        return requests.post(self.url(path), data=body, headers=h, timeout=60)

    def token(self, form=None, json_body=None, headers=None, path="oauth/token"):
        """POST /oauth/token with a form (dict or list of pairs) or JSON."""
        if json_body is not None:
            return self.post(path, json.dumps(json_body), "application/json", headers)
        return self.post(path, urllib.parse.urlencode(form or {}),
            "application/x-www-form-urlencoded", headers)

    def jwks(self):
        if self._jwks is None:
            r = requests.get(self.url(".well-known/jwks.json"), timeout=30)
            assert r.status_code == 200, r.text
            self._jwks = r.json()
        return self._jwks

    def signing_key(self, token):
        """The JWKS key named by the token's kid (independent of latchkey's
        own verification: PyJWT and the published JWKS only)."""
        kid = jwt.get_unverified_header(token).get("kid")
        assert kid, "token header has no kid"
        for k in self.jwks()["keys"]:
            if k.get("kid") == kid:
                return jwt.PyJWK(k)
        raise AssertionError("kid %r not in JWKS" % kid)

    def decode(self, token, audience, alg="RS256", **kw):
        """Verify signature, iss, aud, exp, iat with PyJWT; return claims."""
        hdr = jwt.get_unverified_header(token)
        assert hdr["alg"] == alg, hdr
        return jwt.decode(token, self.signing_key(token).key, algorithms=[alg],
            audience=audience, issuer=self.issuer,
            options={"require": ["iss", "sub", "aud", "exp", "iat"]}, **kw)

    # --- client assertions (RFC 7523) -----------------------------------

    def assertion(self, key=None, kid=PK_KID, alg="RS256", **claims):
        now = int(time.time())
        c = {"iss": PK_ID, "sub": PK_ID, "aud": self.issuer,
             "jti": uuid.uuid4().hex, "iat": now, "exp": now + 60}
        c.update(claims)
        c = {k: v for k, v in c.items() if v is not None}
        return jwt.encode(c, key or self.client_key, algorithm=alg,
            headers={"kid": kid} if kid else None)


def basic(client_id, secret):
    """RFC 6749 2.3.1 Basic credentials: form-encode, then base64."""
    raw = "%s:%s" % (urllib.parse.quote_plus(client_id),
        urllib.parse.quote_plus(secret))
    return "Basic " + base64.b64encode(raw.encode()).decode()


def b64url(data):
    if isinstance(data, str):
        data = data.encode()
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def password_form(client_id=POST_ID, secret=POST_SECRET, username=ALICE,
        password=ALICE_PW, **extra):
    f = {"grant_type": GRANT_PASSWORD, "username": username, "password": password}
    if client_id is not None:
        f["client_id"] = client_id
    if secret is not None:
        f["client_secret"] = secret
    f.update({k: v for k, v in extra.items() if v is not None})
    return f


def realm_form(realm=DB1, **kw):
    f = password_form(**kw)
    f["grant_type"] = GRANT_REALM
    f["realm"] = realm
    return f


def error_body(r):
    """The JSON error body, after checking it is JSON."""
    assert r.headers.get("Content-Type", "").startswith("application/json"), r.headers
    return r.json()
