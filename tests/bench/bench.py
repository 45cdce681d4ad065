#!/usr/bin/python3
"""
make bench: latchkey's throughput against the crypto bound, on
127.0.0.1 through lighttpd (httpd-conf/lighttpd.conf) with wrk.

Prints one table:
  1. the crypto bound measured now (tests/bench/cryptobound): each core
     timed alone, and every core at once;
  2. password grant throughput at c = 1, 2, 8, 32 with p50/p99 and the
     ratio to each bound, the responders' CPU per login and the cores'
     idle time during the row (/proc/stat);
  3. responder CPU per request outside the crypto, also measured directly
     against a tenant with the smallest hash policy, and split by perf's
     samples of those rows (tests/bench/rowprofile.py);
  4. refresh-token grant throughput, ES256 and RS256 non-rotating and
     ES256 rotating, each ES256 row against a null FastCGI responder
     (tests/bench/nullfcgi) measured just before and after it;
  5. plain-CGI per-request overhead (BENCH_ONLY=cgi runs it alone);
  6. responder RSS;
  7. overload (c = 64, 256): served/shed, p99 of the served requests,
     with lighttpd's processes and with a LATCHKEY_CHILDREN supervisor,
     clients retrying at once or honouring Retry-After;
  8. DPoP (RFC 9449): the password grant (c = 2) and the ES256
     non-rotating refresh grant (c = 32) with a DPoP proof each, against
     the same rows without.  Proofs are single use, so they are made
     before wrk starts (ES256, Python's cryptography) and each is sent
     once: their making is outside the measured path;
  9. the password grant at an AD/LDAP connection against a real slapd,
     with slapd's own bind and search times of the same run
     (tests/bench/ldap_bench.py);
 11. the store backends: the password and rotating refresh grants on
     Berkeley DB and on PostgreSQL, and the refresh grant through one and
     through two web servers against one PostgreSQL
     (tests/bench/pg_bench.py; BENCH_ONLY=pg runs it alone).

and writes the figures as JSON to $B/bench.json (keys and their check:
tests/bench/bench_json.py).

Settings (environment): B (build dir, default build), BENCH_SECONDS (per
run, default 10), BENCH_PROCS (lighttpd max-procs, default 4 x cores),
BENCH_CHILDREN (workers of the supervisor in 7, default 64 x cores, at most
256), BENCH_ONLY (mfa-otp: section 10; cgi: section 5; pg: section 11;
password and/or overload, comma-separated: sections 1 and 2, and 7, on
one tenant, the table only).
"""
import json
import os
import tempfile
import time
import urllib.parse
from pathlib import Path

import rowprofile
from bench_lib import (B, BUDGET_MS, CLIENT, CORES, CRYPTOBOUND, CTL, FCGI,
    NULLFCGI, OV_CHILDREN, PROCS, PW_BODY, SECONDS, SECRET, STATIC,
    STATIC_SECRET, Lighttpd, cleanup, cpu_times, cryptobound, ctl, dpop_run,
    null_ceiling, pct, per_core, post, refresh_tokens, row_ceiling, tenant,
    wrk)
from bench_mfa import mfa_lines, mfa_only

# Timings of the cheap policy's crypto (section 3b): about 0.5 ms each.
CHEAP_N = 200


def cgi_section(tmp, home, servers):
    """Section 5: GET discovery one at a time through FastCGI and through
    mod_cgi of the same lighttpd; the two wrk results."""
    cg = Lighttpd(tmp, home, FCGI, cgi=True)
    servers.append(cg)
    fc = wrk(tmp, cg.base + "/.well-known/openid-configuration", [""], 1,
        seconds=max(3, SECONDS // 2), method="GET")
    ci = wrk(tmp, cg.base + "/cgi/latchkey.cgi/.well-known/openid-configuration",
        [""], 1, seconds=max(3, SECONDS // 2), method="GET")
    if ci["non2xx"] or fc["non2xx"]:
        raise SystemExit("bench: CGI run failed: %s; log in %s" % (
            urllib.request.urlopen(cg.base + "/cgi/latchkey.cgi/.well-known/"
            "openid-configuration").read()[:300], cg.run))
    cg.stop()
    servers.remove(cg)
    return fc, ci


def cgi_only():
    """BENCH_ONLY=cgi: section 5 alone."""
    tmp = tempfile.mkdtemp(prefix="latchkey-bench-")
    servers = []
    try:
        home = Path(tmp) / "home-ES256"
        tf = Path(tmp) / "tenant-ES256.json"
        tf.write_text(json.dumps(tenant("http://127.0.0.1/", "ES256")))
        ctl(home, "import", str(tf))
        fc, ci = cgi_section(tmp, home, servers)
        print("5. plain CGI (GET openid-configuration, c=1): FastCGI %.3f ms,"
            " CGI %.3f ms: CGI overhead %.3f ms/request" % (fc["p50_us"] / 1e3,
            ci["p50_us"] / 1e3, (ci["p50_us"] - fc["p50_us"]) / 1e3))
    finally:
        cleanup(servers, tmp)


def password_rows(tmp, srv, home, cb):
    """Section 2: the password grant at c = 1, 2, 8, 32 on srv, each row
    with the bounds measured just before and after it (one core at a
    time and every core at once), the responders' CPU per login and the
    machine's busy and idle core time during the row.  The rows and the
    last cryptobound."""
    st, body = post(srv.base, "/oauth/token", dict(urllib.parse.parse_qsl(PW_BODY)))
    assert st == 200 and "id_token" in body, (st, body)
    # This VM's cores drift, one of them by half (argon2id 22 to 34 ms
    # a verify on core 0 within a minute), so each row is set against
    # the mean of the bounds measured just before and just after it.
    rows = []
    prev = cb
    for c in (1, 2, 8, 32):
        srv.access()
        cpu0 = srv.cpu()
        busy0, idle0 = cpu_times()
        r = wrk(tmp, srv.base + "/oauth/token", [PW_BODY], c)
        busy1, idle1 = cpu_times()
        cpu = srv.cpu() - cpu0
        acc = srv.access()
        ok = [us for s, us, _ in acc if s == 200]
        n = max(1, r["requests"] - r["non2xx"])
        r["cpu_ms"] = cpu * 1e3 / n
        r["busy_ms"] = (busy1 - busy0) * 1e3 / n
        r["idle_pct"] = 100 * (idle1 - idle0) / max(1e-9,
            busy1 - busy0 + idle1 - idle0)
        r["acc_p99_ms"] = pct(ok, 99) / 1e3
        nxt = cryptobound(home, 2, n=15)
        r["bound"] = (float(prev["bound_rps"]) + float(nxt["bound_rps"])) / 2
        r["bound_conc"] = (float(prev["bound_concurrent_rps"]) +
            float(nxt["bound_concurrent_rps"])) / 2
        prev = nxt
        rows.append((c, r))
    return rows, prev


def overload_rows(tmp, srv, home, servers):
    """Section 7: c = 64 and 256 on srv (lighttpd's processes, clients
    retrying at once), then on a LATCHKEY_CHILDREN supervisor (every
    request reaches a worker that admits or sheds it; none waits in
    lighttpd) with such clients and with clients that honour
    Retry-After."""
    rows = []
    sup = Lighttpd(tmp, home, FCGI, children=OV_CHILDREN)
    servers.append(sup)
    sup.wait_open(home)
    post(sup.base, "/oauth/token", dict(urllib.parse.parse_qsl(PW_BODY)))
    for label, s3, mode in (("max-procs %d" % PROCS, srv, "plain"),
            ("%d workers" % OV_CHILDREN, sup, "plain"),
            ("%d workers" % OV_CHILDREN, sup, "honour")):
        for c in (64, 256):
            s3.access()
            cpu0 = s3.cpu()
            busy0, idle0 = cpu_times()
            t0 = time.time() * 1e6
            r = wrk(tmp, s3.base + "/oauth/token", [PW_BODY], c, mode=mode)
            busy1, idle1 = cpu_times()
            n = max(1, r["requests"] - r["non2xx"])
            r["cpu_ms"] = (s3.cpu() - cpu0) * 1e3 / n
            r["busy_ms"] = (busy1 - busy0) * 1e3 / n
            r["idle_pct"] = 100 * (idle1 - idle0) / max(1e-9,
                busy1 - busy0 + idle1 - idle0)
            acc = s3.access()
            ok = [us for st, us, _ in acc if st == 200]
            shed = [us for st, us, _ in acc if st in (429, 503)]
            other = [st for st, us, _ in acc if st not in (200, 429, 503)]
            first, after = first_second(acc, t0)
            r.update(served=len(ok), shed=len(shed), other=len(other),
                served_p50=pct(ok, 50) / 1e3, served_p99=pct(ok, 99) / 1e3,
                shed_p99=pct(shed, 99) / 1e3, shed_p99_first=pct(first, 99) / 1e3,
                shed_p99_after=pct(after, 99) / 1e3, label=label,
                clients="honour Retry-After" if mode == "honour" else "retry at once")
            rows.append((c, r))
    sup.stop()
    servers.remove(sup)
    rows.append((256, null_row(tmp, home, servers)))
    return rows


def first_second(acc, t0):
    """The refusals' times (us) of the requests that started in the row's
    first second (it started at t0, us since the epoch), when its
    clients' first requests arrive together, and of those that started
    later."""
    shed = [(us, b - t0 < 1e6) for st, us, b in acc if st in (429, 503)]
    return [us for us, f in shed if f], [us for us, f in shed if not f]


def null_row(tmp, home, servers):
    """Section 7's floor: the null FastCGI responder (an empty answer, no
    store, no crypto) at c = 256 through the same lighttpd: no refusal
    can be answered faster than this with that many clients at once."""
    nul = Lighttpd(tmp, home, NULLFCGI)
    servers.append(nul)
    try:
        nul.access()
        r = wrk(tmp, nul.base + "/oauth/token", [PW_BODY], 256)
        ok = [us for st, us, _ in nul.access() if st == 200]
    finally:
        nul.stop()
        servers.remove(nul)
    r.update(served=len(ok), shed=0, other=r["non2xx"],
        served_p50=pct(ok, 50) / 1e3, served_p99=pct(ok, 99) / 1e3,
        shed_p99=0.0, shed_p99_first=0.0, shed_p99_after=0.0,
        label="null (%d)" % PROCS, clients="retry at once",
        sample503="-")
    return r


def bound_lines(cb, crypto_ms, bound):
    """Section 1's table lines."""
    out = []
    P = out.append
    P("1. crypto bound (policy %s, %s; timed on each core in turn)"
        % (cb["policy"], cb["alg"]))
    P("   argon2id verify            %8.2f ms   (harmonic mean of %s ms)"
        % (float(cb["verify_ms"]), per_core(cb)))
    P("   RS256 sign (EVP)           %8.3f ms   latchkey token_sign %.3f ms"
        % (float(cb["sign_rs256_ms"]), float(cb["token_sign_rs256_ms"])))
    P("   ES256 sign (EVP)           %8.3f ms   latchkey token_sign %.3f ms"
        % (float(cb["sign_es256_ms"]), float(cb["token_sign_es256_ms"])))
    P("   per password response      %8.2f ms   (verify + %s signatures)"
        % (crypto_ms, cb["sigs"]))
    P("   bound                      %8.1f req/s (sum over %d cores of"
        " 1 / per-response crypto)" % (bound, int(cb["cores"])))
    P("   every core at once: verify %.2f ms (%s ms), bound %.1f req/s"
        " (one pinned process per core, together)" % (
        float(cb["verify_conc_ms"]), per_core(cb, "verify_conc_ms"),
        float(cb["bound_concurrent_rps"])))
    P("")
    return out


def password_lines(pw_rows, cb_after):
    """Section 2's table lines."""
    out = []
    P = out.append
    P("2. password grant (scope openid: access + ID token, RS256)")
    P("   %4s %8s %7s %7s %7s %6s %7s %6s %5s %6s %6s %5s" % ("c", "ok req/s",
        "p50 ms", "p99 ms", "bound", "ratio", "b.conc", "r.conc", "shed",
        "cpu ms", "busy", "idle%"))
    for c, r in pw_rows:
        P("   %4d %8.1f %7.1f %7.1f %7.1f %6.3f %7.1f %6.3f %5d %6.2f %6.2f"
            " %5.1f" % (c, r["ok_rps"], r["p50_us"] / 1e3, r["p99_us"] / 1e3,
            r["bound"], r["ok_rps"] / r["bound"], r["bound_conc"],
            r["ok_rps"] / r["bound_conc"], r["non2xx"], r["cpu_ms"],
            r["busy_ms"], r["idle_pct"]))
    P("   ratio to bound at c = 8 / 32: %s (target >= 0.95, no login shed);"
        " each row's bound is the mean of those measured just before and"
        " after it" % " / ".join("%.3f" % (r["ok_rps"] / r["bound"])
        for c, r in pw_rows if c in (8, 32)))
    P("   (bound: each core timed alone; b.conc: every core at once; cpu ms:"
        " responders' CPU a login; busy: every process's CPU a login;"
        " idle%: the cores' idle time during the row)")
    P("   bound after the last row: %.1f req/s (verify %s ms)"
        % (float(cb_after["bound_rps"]), per_core(cb_after)))
    P("")
    return out


def overload_lines(ov_rows, cb):
    """Section 7's table lines."""
    out = []
    P = out.append
    P("7. overload (password grant: a login waits while its predicted wait is within"
        " the budget, %d ms, beyond it is shed with 503 + Retry-After)" % BUDGET_MS)
    P("   %-13s %-19s %4s %9s %7s %7s %6s %9s %9s %9s %9s %9s" % (
        "responders", "clients", "c", "ok req/s", "served", "shed", "other",
        "srv p50", "srv p99", "shed p99", "1st s", "after"))
    for c, r in ov_rows:
        P("   %-13s %-19s %4d %9.1f %7d %7d %6d %9.1f %9.1f %9.2f %9.2f %9.2f"
            % (r["label"], r["clients"], c, r["ok_rps"], r["served"],
            r["shed"], r["other"], r["served_p50"], r["served_p99"],
            r["shed_p99"], r["shed_p99_first"], r["shed_p99_after"]))
    P("   (ms, from lighttpd's access log: time inside the web server,"
        " queueing included; null: the empty FastCGI responder, the floor"
        " of any answer at that concurrency; 1st s / after: the shed p99 of"
        " the requests begun in the row's first second, when every client's"
        " first request arrives at once, and of the later ones)")
    P("   target: refusals within 10 ms, served p99 <= budget + 2 x verify"
        " = %.1f ms; a 503 sample: %s" % (BUDGET_MS + 2 * float(cb["verify_ms"]),
        next((r["sample503"] for c, r in reversed(ov_rows)
            if r["sample503"] != "-"), "-")[:160]))
    return out


def password_only(sections):
    """BENCH_ONLY=password,overload (either or both): sections 1 and 2,
    and 7, on the RS256 tenant alone."""
    tmp = tempfile.mkdtemp(prefix="latchkey-bench-")
    servers = []
    out = ["latchkey bench (%s): %s, %d cores, %d s per run, lighttpd"
        " max-procs %d, wrk" % (",".join(sorted(sections)),
        time.strftime("%Y-%m-%d %H:%M"), CORES, SECONDS, PROCS), ""]
    try:
        home = Path(tmp) / "home-RS256"
        tf = Path(tmp) / "tenant-RS256.json"
        tf.write_text(json.dumps(tenant("http://127.0.0.1/", "RS256")))
        ctl(home, "import", str(tf))
        cb = cryptobound(home, 2)
        out.extend(bound_lines(cb, float(cb["crypto_ms"]), float(cb["bound_rps"])))
        srv = Lighttpd(tmp, home, FCGI)
        servers.append(srv)
        if "password" in sections:
            pw_rows, cb_after = password_rows(tmp, srv, home, cb)
            out.extend(password_lines(pw_rows, cb_after))
        if "overload" in sections:
            out.extend(overload_lines(overload_rows(tmp, srv, home, servers), cb))
    finally:
        cleanup(servers, tmp)
    print("\n".join(out))


def outside_figures(r):
    """Section 3's c = 2 row, the smallest hash: the responders' CPU a
    login outside the crypto, by perf's samples of the row when there are
    some (rowprofile.py), else the crypto timed around the row
    subtracted; and each measure's figures."""
    sub = r["cpu_ms"] - r["crypto_ms"]
    parts = r.get("parts") or {}
    d = {"subtracted_ms": sub, "method": "subtracted"}
    if parts.get("samples"):
        d.update(method="perf samples", samples=parts["samples"],
            parts_ms={k: r["cpu_ms"] * parts[k] for k in rowprofile.PARTS})
        d["sampled_ms"] = r["cpu_ms"] * (1 - parts["crypto"])
    return d


def bench_figures(cb, pw_rows, ov_rows, outside, nul_rps, rf_rows,
        cgi_ms, rss, hash_ms):
    """The figures of tests/bench/bench_json.py's SHAPE."""
    bound = float(cb["bound_rps"])
    bound_conc = float(cb["bound_concurrent_rps"])

    def row(c, r, rps, bnd, bconc, shed, p50, p99):
        return {"c": c, "rps": rps, "bound_rps": bnd, "ratio": rps / bnd,
            "bound_concurrent_rps": bconc, "ratio_concurrent": rps / bconc,
            "shed": shed, "p50_ms": p50, "p99_ms": p99,
            "cpu_ms": r["cpu_ms"], "busy_ms": r["busy_ms"],
            "idle_pct": r["idle_pct"]}
    pw = [row(c, r, r["ok_rps"], r["bound"], r["bound_conc"], r["non2xx"],
        r["p50_us"] / 1e3, r["p99_us"] / 1e3) for c, r in pw_rows]
    # c = 256: the supervisor's workers, enough for the budget's line,
    # clients retrying at once (section 7).
    o = next(r for c, r in ov_rows if c == 256 and r["label"].endswith(
        "workers") and r["clients"] == "retry at once")
    oh = next(r for c, r in ov_rows if c == 256 and r["label"].endswith(
        "workers") and r["clients"] == "honour Retry-After")
    on = next(r for c, r in ov_rows if r["label"].startswith("null"))
    pw.append(row(256, o, o["ok_rps"], bound, bound_conc, o["shed"],
        o["served_p50"], o["served_p99"]))
    es, rot = rf_rows["ES256"], rf_rows["ES256 rotating"]
    return {
        "bound_rps": bound,
        "bound_concurrent_rps": bound_conc,
        "password": pw,
        "cpu_outside_crypto_ms": outside.get("sampled_ms",
            outside["subtracted_ms"]),
        "cpu_outside_crypto": outside,
        "refresh": {"null_ceiling_rps": nul_rps, "es256_rps": es["rps"],
            "es256_ratio": es["rps"] / row_ceiling(es),
            "es256_ceiling_rps": row_ceiling(es), "rotating_rps": rot["rps"],
            "rotating_ratio": rot["rps"] / row_ceiling(rot),
            "rotating_ceiling_rps": row_ceiling(rot),
            "es256_p99_ms": rf_rows["ES256"]["p99_us"] / 1e3,
            "rotating_p99_ms": rf_rows["ES256 rotating"]["p99_us"] / 1e3},
        "cgi_overhead_ms": cgi_ms,
        "pss_mib": max(r[4] - r[6] for r in rss) / 1024 if rss else 0.0,
        "overload": {"c256_refusal_p99_ms": o["shed_p99"],
            "c256_served_p99_ms": o["served_p99"], "budget_ms": BUDGET_MS,
            "hash_ms": hash_ms,
            "c256_honour_refusal_p99_ms": oh["shed_p99"],
            "c256_refusal_p99_after_first_s_ms": o["shed_p99_after"],
            "c256_honour_refusal_p99_after_first_s_ms": oh["shed_p99_after"],
            "c256_honour_served_p99_ms": oh["served_p99"],
            "c256_null_p99_ms": on["served_p99"]},
    }


def make_homes(tmp):
    """The homes of the runs: an RS256 and an ES256 tenant, and "cheap",
    RS256 with the smallest argon2id (t=1, m=8 KiB): the same request with
    next to no hash work, to see the CPU around it."""
    homes = {}
    for alg in ("RS256", "ES256", "cheap"):
        home = Path(tmp) / ("home-" + alg)
        tf = Path(tmp) / ("tenant-%s.json" % alg)
        t = tenant("http://127.0.0.1/", "RS256" if alg == "cheap" else alg)
        if alg == "cheap":
            t["tenant"]["hash"] = {"t": 1, "m": 8, "p": 1}
        tf.write_text(json.dumps(t))
        ctl(home, "import", str(tf))
        homes[alg] = home
    return homes


def dpop_password(tmp, srv, pw_rows):
    """8a. The password grant with a DPoP proof, c = 2, against section
    2's c = 2 row."""
    srv.access()
    cpu0 = srv.cpu()
    d = dpop_run(tmp, srv.base, [PW_BODY], pw_rows[1][1]["ok_rps"], 2)
    d["cpu_ms"] = (srv.cpu() - cpu0) * 1e3 / max(1, d["requests"] - d["non2xx"])
    return d


def cheap_rows(tmp, home, servers):
    """3b. CPU outside the crypto, measured directly: the password grant
    against the tenant with the smallest hash policy, at c = 2 and 8.  The
    crypto (two RS256 signatures, mostly) is timed before and after each
    row, and the row takes the mean: a signature's time moves by a tenth
    between moments of a run, as much as the figure.  perf's samples of
    the responders during each row split its CPU (rowprofile.py).  The
    crypto timed first, and the rows."""
    cb_cheap = cryptobound(home, 2, n=CHEAP_N)
    chp = Lighttpd(tmp, home, FCGI)
    servers.append(chp)
    post(chp.base, "/oauth/token", dict(urllib.parse.parse_qsl(PW_BODY)))
    rows = []
    cb_row = cb_cheap
    for c in (2, 8):
        cpu0 = chp.cpu()
        rec = rowprofile.Record(tmp, chp.responders(), "cheap-%d" % c) \
            if rowprofile.available() else None
        r = wrk(tmp, chp.base + "/oauth/token", [PW_BODY], c)
        r["cpu_ms"] = (chp.cpu() - cpu0) * 1e3 / max(1, r["requests"] - r["non2xx"])
        r["parts"] = rec.stop() if rec else {}
        cb_next = cryptobound(home, 2, n=CHEAP_N)
        r["crypto_ms"] = (float(cb_row["crypto_ms"]) +
            float(cb_next["crypto_ms"])) / 2
        cb_row = cb_next
        rows.append((c, r))
    chp.stop()
    servers.remove(chp)
    return cb_cheap, rows


def refresh_row(tmp, s2, bodies, nul=None, **kw):
    """One refresh row at c = 32 on s2, with the null responder nul's
    ceiling measured just before and after it when given."""
    ceil0 = null_ceiling(tmp, nul) if nul else 0
    cpu0 = s2.cpu()
    r = wrk(tmp, s2.base + "/oauth/token", bodies, 32, **kw)
    r["cpu_ms"] = (s2.cpu() - cpu0) * 1e3 / max(1, r["requests"])
    if nul:
        r["ceilings"] = (ceil0, null_ceiling(tmp, nul))
    return r


def refresh_rows(tmp, srv, homes, servers):
    """4. Refresh grant: non-rotating tokens (a rotating token could be
    used only once); one per connection's worth, round-robin.  The null
    responder's ceiling is measured just before and after each ES256 row,
    which is set against their mean: the VM's ceiling moved from 13,900
    to 17,800 req/s between runs, and within one.  With 8b, the ES256
    row with a DPoP proof each.  The rows by name, and the RSS of the
    ES256 server's responders."""
    nul = Lighttpd(tmp, homes["ES256"], NULLFCGI)
    servers.append(nul)
    es = Lighttpd(tmp, homes["ES256"], FCGI)
    servers.append(es)
    rows = {}
    for alg, s2 in (("ES256", es), ("RS256", srv)):
        toks = refresh_tokens(s2.base, STATIC, STATIC_SECRET)
        bodies = [urllib.parse.urlencode({"grant_type": "refresh_token",
            "client_id": STATIC, "client_secret": STATIC_SECRET,
            "refresh_token": t}) for t in toks]
        st, body = post(s2.base, "/oauth/token", dict(urllib.parse.parse_qsl(bodies[0])))
        assert st == 200 and "access_token" in body, (st, body)
        rows[alg] = refresh_row(tmp, s2, bodies, nul if s2 is es else None)
        if s2 is not es:
            continue
        # 8b. The same with a DPoP proof each (a confidential client's
        # refresh token is not bound: any key will do).
        cpu0 = es.cpu()
        d = dpop_run(tmp, es.base, bodies, rows[alg]["rps"], 32)
        d["cpu_ms"] = (es.cpu() - cpu0) * 1e3 / max(1, d["requests"])
        rows["ES256 DPoP"] = d
        # Rotating: each token is used once; every 200's new token goes
        # back into the pool (BENCH_MODE=rotate).
        toks = refresh_tokens(es.base, CLIENT, SECRET)
        prefix = urllib.parse.urlencode({"grant_type": "refresh_token",
            "client_id": CLIENT, "client_secret": SECRET}) + "&refresh_token="
        rows["ES256 rotating"] = refresh_row(tmp, es, toks, nul,
            mode="rotate", prefix=prefix)
    return rows, es.rss_kib()


def outside_lines(pw_rows, cb, cb_cheap, cheap):
    """Section 3's table lines."""
    out = []
    P = out.append
    # The row's crypto per response: cores / its bound (the harmonic mean
    # over the cores of verify + signatures).
    outside = [r["cpu_ms"] - int(cb["cores"]) * 1e3 / r["bound"]
        for c, r in pw_rows]
    P("3. responder CPU per request outside crypto: %s ms (c=1,2,8,32;"
        " target <= 0.15)" % ", ".join("%.3f" % x for x in outside))
    P("   (total responder CPU / ok requests - the crypto of the row's bound:"
        " the hash's run-to-run spread, about +-1 ms, swamps it)")
    P("   measured directly, smallest hash policy (%s: verify %.3f ms +"
        " 2 RS256 signatures = %.3f ms crypto before the rows; each row"
        " against the mean of the crypto timed before and after it):"
        % (cb_cheap["policy"], float(cb_cheap["verify_ms"]),
        float(cb_cheap["crypto_ms"])))
    for c, r in cheap:
        P("   c=%d: %.1f req/s, responder CPU %.3f ms/request, crypto %.3f,"
            " outside crypto %.3f ms" % (c, r["ok_rps"], r["cpu_ms"],
            r["crypto_ms"], r["cpu_ms"] - r["crypto_ms"]))
    if not rowprofile.available():
        P("   (perf not installed: no samples of the rows; sh tests/deps.sh"
            " --install)")
        return out
    P("   the same rows by perf's samples of the responders during each"
        " (tests/bench/rowprofile.py: crypto = the signatures and the verify;"
        " target <= 0.15 outside it):")
    for c, r in cheap:
        P("   c=%d: %s" % (c, rowprofile.line(r["cpu_ms"], r["parts"])))
    return out


def null_mean(rf_rows):
    """The null responder's ceiling over the run: the mean of those
    measured around the ES256 rows."""
    ceilings = rf_rows["ES256"]["ceilings"] + rf_rows["ES256 rotating"]["ceilings"]
    return sum(ceilings) / len(ceilings), ceilings


def refresh_lines(rf_rows):
    """Section 4's table lines."""
    out = []
    P = out.append
    nul_rps, ceilings = null_mean(rf_rows)
    P("4. refresh grant (non-rotating, 64 tokens round-robin, c=32)")
    P("   null FastCGI responder ceiling  %9.1f req/s (mean of %s, measured"
        " before and after each ES256 row)" % (nul_rps,
        " ".join("%.0f" % c for c in ceilings)))
    for alg in ("ES256", "RS256", "ES256 rotating"):
        r = rf_rows[alg]
        P("   refresh %-23s %9.1f req/s  p50 %.2f ms  p99 %.2f ms"
            "  %s  non-2xx %d  responder cpu/req %.3f ms" % (alg,
            r["rps"], r["p50_us"] / 1e3, r["p99_us"] / 1e3,
            "%.2f of ceiling %.0f" % (r["rps"] / row_ceiling(r),
            row_ceiling(r)) if "ceilings" in r else "",
            r["non2xx"], r["cpu_ms"]))
    P("   (non-rotating: the idle-expiry restart is written when it moves"
        " >= 1 % of the idle lifetime, at most 60 s; rotating: one durable"
        " commit per refresh)")
    P("   target: ES256 >= 0.5 of the ceiling measured around its row,"
        " rotating >= 0.25")
    return out


def rss_lines(rss):
    """Section 6's table lines: rss, the responders' memory
    (Lighttpd.rss_kib())."""
    def most(i):
        return max(r[i] for r in rss) if rss else 0
    return [
        "6. responder RSS over %d processes after the runs: VmRSS max %.1f MiB"
        " (VmHWM %.1f): argon2's hash memory (the slots' shared memory,"
        " slots x m KiB for all the responders) mapped %.1f MiB, private"
        " %.1f MiB, shared memory %.1f MiB, BDB region files and libraries"
        " the rest" % (len(rss), most(0) / 1024, most(1) / 1024, most(5) / 1024,
        most(2) / 1024, most(3) / 1024),
        "   hash memory aside: VmRSS %.1f MiB, PSS %.1f MiB (target <= 8 MiB;"
        " PSS divides each shared page among the processes mapping it)"
        % (max(r[0] - r[5] for r in rss) / 1024 if rss else 0,
           max(r[4] - r[6] for r in rss) / 1024 if rss else 0)]


def dpop_lines(pw_rows, dp_pw, rf_rows):
    """Section 8's table lines."""
    c2 = pw_rows[1][1]
    a, d = rf_rows["ES256"], rf_rows["ES256 DPoP"]
    return [
        "8. DPoP (ES256 proofs made before each run, each sent once)",
        "   password c=2   plain %9.1f req/s p50 %.1f ms cpu/req %.2f ms"
        " | DPoP %9.1f req/s p50 %.1f ms cpu/req %.2f ms non-2xx %d"
        % (c2["ok_rps"], c2["p50_us"] / 1e3, c2["cpu_ms"], dp_pw["ok_rps"],
           dp_pw["p50_us"] / 1e3, dp_pw["cpu_ms"], dp_pw["non2xx"]),
        "   refresh c=32   plain %9.1f req/s p50 %.2f ms cpu/req %.3f ms"
        " | DPoP %9.1f req/s p50 %.2f ms cpu/req %.3f ms non-2xx %d"
        % (a["rps"], a["p50_us"] / 1e3, a["cpu_ms"], d["rps"],
           d["p50_us"] / 1e3, d["cpu_ms"], d["non2xx"]),
        "   (%d and %d proofs made; a run that used them all would show"
        " non-2xx replays)" % (dp_pw["proofs"], d["proofs"])]


def full_run(tmp, servers):
    """Every section, in the order that keeps each server's state apart;
    the table's lines, with bench.json written."""
    import ldap_bench
    import pg_bench
    homes = make_homes(tmp)
    # 1. The crypto bound: one verify + the two signatures (access token
    # and ID token, scope openid) of a password response.
    cb = cryptobound(homes["RS256"], 2)
    # 2, 3. Password grant (RS256 tenant), then 8a on the same server.
    srv = Lighttpd(tmp, homes["RS256"], FCGI)
    servers.append(srv)
    pw_rows, cb_after = password_rows(tmp, srv, homes["RS256"], cb)
    dp_pw = dpop_password(tmp, srv, pw_rows)
    # 7. Overload: lighttpd's processes with clients that retry at once
    # (wrk), then a LATCHKEY_CHILDREN supervisor (every request reaches a
    # worker that admits or sheds it; none waits in lighttpd) with such
    # clients and with clients that honour Retry-After.
    rss = srv.rss_kib()
    ov_rows = overload_rows(tmp, srv, homes["RS256"], servers)
    cb_cheap, cheap = cheap_rows(tmp, homes["cheap"], servers)
    rf_rows, es_rss = refresh_rows(tmp, srv, homes, servers)
    rss += es_rss
    for s2 in list(servers):
        s2.stop()
        servers.remove(s2)
    # 5. Plain CGI against FastCGI, one request at a time.
    fc, ci = cgi_section(tmp, homes["ES256"], servers)
    cgi_ms = (ci["p50_us"] - fc["p50_us"]) / 1e3
    # 9. The password grant at an AD/LDAP connection (ldap_bench.py).
    ldap_rows = ldap_bench.run(tmp)

    out = ["latchkey bench: %s, %d cores, %d s per run, lighttpd max-procs %d,"
        " wrk" % (time.strftime("%Y-%m-%d %H:%M"), CORES, SECONDS, PROCS), ""]
    out += bound_lines(cb, float(cb["crypto_ms"]), float(cb["bound_rps"]))
    out += password_lines(pw_rows, cb_after)
    out += outside_lines(pw_rows, cb, cb_cheap, cheap) + [""]
    out += refresh_lines(rf_rows) + [""]
    out += ["5. plain CGI (GET openid-configuration, c=1): FastCGI %.3f ms,"
        " CGI %.3f ms: CGI overhead %.3f ms/request" % (fc["p50_us"] / 1e3,
        ci["p50_us"] / 1e3, cgi_ms), ""]
    out += rss_lines(rss) + [""]
    out += overload_lines(ov_rows, cb) + [""]
    out += dpop_lines(pw_rows, dp_pw, rf_rows) + [""]
    out += ldap_bench.table(ldap_rows) + [""]
    out += mfa_lines(tmp)
    # 11. The store backends (pg_bench.py).
    out += [""] + pg_bench.table(pg_bench.run(tmp))
    figures = bench_figures(cb, pw_rows, ov_rows, outside_figures(cheap[0][1]),
        null_mean(rf_rows)[0], rf_rows, cgi_ms, rss, float(cb["verify_ms"]))
    (B / "bench.json").write_text(json.dumps(figures, indent=1) + "\n")
    return out + ["", "figures: %s" % (B / "bench.json")]


def main():
    only = set(os.environ.get("BENCH_ONLY", "").split(",")) - {""}
    if only == {"mfa-otp"}:
        return mfa_only()
    if only == {"cgi"}:
        return cgi_only()
    if only == {"pg"}:
        import pg_bench
        return pg_bench.main()
    if only and only <= {"password", "overload"}:
        return password_only(only)
    if only:
        raise SystemExit("bench: BENCH_ONLY: mfa-otp, cgi, pg, or password and/or"
            " overload")
    for exe in (FCGI, CTL, CRYPTOBOUND, NULLFCGI):
        if not os.access(exe, os.X_OK):
            raise SystemExit("bench: %s not built" % exe)
    tmp = tempfile.mkdtemp(prefix="latchkey-bench-")
    servers = []
    try:
        out = full_run(tmp, servers)
    finally:
        cleanup(servers, tmp)
    print("\n".join(out))


if __name__ == "__main__":
    main()
