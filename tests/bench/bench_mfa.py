#!/usr/bin/python3
"""
bench_mfa.py: make bench's section 10, the mfa-otp grant against the
password grant with the cheap hash (BENCH_ONLY=mfa-otp runs it alone).
"""
import base64
import concurrent.futures
import hashlib
import hmac
import json
import os
import shutil
import struct
import tempfile
import time
import urllib.parse
from pathlib import Path

from bench_lib import (API, CLIENT, CONN, FCGI, PW, SECRET, USER, Lighttpd,
    ctl, post, tenant, wrk)

GRANT_MFA_OTP = "http://auth0.com/oauth/grant-type/mfa-otp"
MFA_USERS = int(os.environ.get("BENCH_MFA_USERS", "1500"))
# Each user's code is good for one request, so the rows of section 10 run
# for BENCH_MFA_SECONDS only: 1500 users last about 2 s at 700 req/s.
MFA_SECONDS = int(os.environ.get("BENCH_MFA_SECONDS", "2"))


def mfa_tenant(t, n):
    """t with n users who must pass a second factor and the mfa-otp grant
    for the bench client (docs/COMPAT.md 13)."""
    for c in t["clients"]:
        if c["client_id"] == CLIENT:
            c["grant_types"] = c["grant_types"] + [GRANT_MFA_OTP]
    t["users"] += [{"connection": CONN, "email": "mfa-%d@bench.example" % i,
        "password": PW, "mfa": "always"} for i in range(n)]
    return t


def totp(secret, step):
    """RFC 6238 TOTP (HMAC-SHA1, 6 digits) of the base32 secret at step."""
    key = base64.b32decode(secret + "=" * (-len(secret) % 8))
    mac = hmac.new(key, struct.pack(">Q", step), hashlib.sha1).digest()
    o = mac[-1] & 15
    return "%06d" % ((struct.unpack(">I", mac[o:o + 4])[0] & 0x7fffffff) %
        10**6)


def mfa_token(base, i):
    st, body = post(base, "/oauth/token", {"grant_type": "password",
        "client_id": CLIENT, "client_secret": SECRET,
        "username": "mfa-%d@bench.example" % i, "password": PW,
        "audience": API, "scope": "openid"})
    assert st == 403 and "mfa_token" in body, (st, body)
    return body["mfa_token"]


def mfa_enrol(base, i):
    """Enrol user i's authenticator app and confirm it; its secret."""
    tok = mfa_token(base, i)
    req = urllib.request.Request(base + "/mfa/associate", json.dumps(
        {"authenticator_types": ["otp"]}).encode(),
        {"Content-Type": "application/json", "Authorization": "Bearer " + tok})
    with urllib.request.urlopen(req, timeout=60) as r:
        secret = json.loads(r.read())["secret"]
    st, body = post(base, "/oauth/token", {"grant_type": GRANT_MFA_OTP,
        "client_id": CLIENT, "client_secret": SECRET, "mfa_token": tok,
        "otp": totp(secret, int(time.time()) // 30)})
    assert st == 200, (st, body)
    return secret


def mfa_bodies(base, secrets):
    """One mfa-otp body per user: a fresh mfa_token and the code of the
    next 30 s step (the server takes a step either side, and each
    authenticator a step once), made before the measured window."""
    with concurrent.futures.ThreadPoolExecutor(4) as ex:
        toks = list(ex.map(lambda i: mfa_token(base, i), range(len(secrets))))
    step = int(time.time()) // 30 + 1
    return [urllib.parse.urlencode({"grant_type": GRANT_MFA_OTP,
        "client_id": CLIENT, "client_secret": SECRET, "mfa_token": t,
        "otp": totp(s, step)}) for t, s in zip(toks, secrets)], step


def mfa_row(tmp, srv, pw_body, conc):
    """The password grant, then the mfa-otp grant, at concurrency conc on
    one server: requests per second and CPU milliseconds per answer."""
    with concurrent.futures.ThreadPoolExecutor(4) as ex:
        secrets = list(ex.map(lambda i: mfa_enrol(srv.base, i),
            range(MFA_USERS)))
    rows = []
    for what in ("password", "mfa-otp"):
        if what == "password":
            bodies, mode = [pw_body], "plain"
        else:
            bodies, step = mfa_bodies(srv.base, secrets)
            # Wait for the step the codes were made for: from then on
            # they are good for 60 s.
            while int(time.time()) // 30 < step:
                time.sleep(0.2)
            mode = "once"
        cpu0 = srv.cpu()
        r = wrk(tmp, srv.base + "/oauth/token", bodies, conc,
            seconds=MFA_SECONDS, mode=mode)
        r["cpu_ms"] = (srv.cpu() - cpu0) * 1e3 / max(1,
            r["requests"] - r["non2xx"])
        rows.append((what, r))
    return rows


def mfa_lines(tmp):
    """Section 10: the mfa-otp grant against the password grant, on a
    tenant of its own (the cheap hash, so that enrolling the users takes
    seconds and the password row shows the request around the hash)."""
    srv = None
    out = ["10. MFA: the mfa-otp grant (one mfa_token and code per user, made"
        " before the run) against the password grant, cheap hash"]
    try:
        home = Path(tmp) / "home-mfa"
        tf = Path(tmp) / "tenant-mfa.json"
        t = mfa_tenant(tenant("http://127.0.0.1/", "RS256"), MFA_USERS)
        t["tenant"]["hash"] = {"t": 1, "m": 8, "p": 1}
        tf.write_text(json.dumps(t))
        ctl(home, "import", str(tf))
        srv = Lighttpd(tmp, home, FCGI)
        pw_body = urllib.parse.urlencode({"grant_type": "password",
            "client_id": CLIENT, "client_secret": SECRET, "username": USER,
            "password": PW, "audience": API, "scope": "openid"})
        conc = int(os.environ.get("BENCH_MFA_CONC", "2"))
        for what, r in mfa_row(tmp, srv, pw_body, conc):
            out.append("   %-9s c=%d %6d requests %5d non-2xx %8.1f req/s"
                " cpu/req %.2f ms p50 %.1f ms p99 %.1f ms" % (what, conc,
                r["requests"], r["non2xx"], r["ok_rps"], r["cpu_ms"],
                r["p50_us"] / 1e3, r["p99_us"] / 1e3))
        out.append("   (%d users; mfa-otp non-2xx: the users ran out, raise"
            " BENCH_MFA_USERS)" % MFA_USERS)
    finally:
        if srv is not None:
            srv.stop()
    return out


def mfa_only():
    """BENCH_ONLY=mfa-otp: section 10 alone."""
    tmp = tempfile.mkdtemp(prefix="latchkey-bench-")
    try:
        print("\n".join(mfa_lines(tmp)))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
