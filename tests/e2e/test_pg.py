"""
What only the PostgreSQL store has (docs/postgresql.md), under
LATCHKEY_TEST_BACKEND=pg (make e2e-pg): two web servers, each with its
own responders, on one database (two "machines"); the responder role's
rights; a database server that crashes under a running responder; the
schema's versions.
"""
import os
import subprocess
import sys
import threading
import time

import pytest

import lk
import lk_refresh as R

pytestmark = pytest.mark.skipif(not lk.PG,
    reason="PostgreSQL store only (make e2e-pg)")

INVALID = {"error": "invalid_grant",
           "error_description": "Unknown or invalid refresh token."}


@pytest.fixture(scope="module")
def machines():
    """Two lighttpd servers with two responders each, one database."""
    with R.serving("pg-a") as a:
        b = lk.Server("pg-b")
        lk.pg_share(b.home, a.home)
        try:
            b.serve()
            yield a, b
        finally:
            b.stop()
            b.cleanup()


def test_two_machines_redeeming_one_token_at_once_succeed_once(machines):
    """Each round one refresh token reaches both machines at the same
    instant: exactly one rotation wins, the other request is reuse
    (docs/COMPAT.md 6), and the whole family ends revoked."""
    a, b = machines
    uid = R.user_id(a, "rosa")
    rounds = 10
    for i in range(rounds):
        t = R.login(a if i % 2 else b, user="rosa")["refresh_token"]
        go = threading.Barrier(2)
        out = [None, None]

        def one(k):
            go.wait()
            out[k] = R.refresh((a, b)[k], t)
        th = [threading.Thread(target=one, args=(k,)) for k in range(2)]
        for x in th:
            x.start()
        for x in th:
            x.join()
        codes = sorted(r.status_code for r in out)
        assert codes == [200, 403], [r.text for r in out]
        loser = [r for r in out if r.status_code == 403][0]
        assert lk.error_body(loser) == INVALID
        winner = [r for r in out if r.status_code == 200][0].json()
        # The family is revoked: on either machine.
        assert R.refresh(a, winner["refresh_token"]).status_code == 403
        assert R.refresh(b, winner["refresh_token"]).status_code == 403
    fams = R.ctl_json(a, "token", "list", "--user", uid)
    assert len(fams) == rounds
    assert all(f["status"] == "revoked" and f["reason"] == "reuse"
        for f in fams)


def test_a_rotation_on_one_machine_is_seen_on_the_other(machines):
    a, b = machines
    t0 = R.login(a, user="quin")["refresh_token"]
    r1 = R.refresh(b, t0)
    assert r1.status_code == 200, r1.text
    t1 = r1.json()["refresh_token"]
    r2 = R.refresh(a, t1)
    assert r2.status_code == 200, r2.text
    claims = a.decode(r2.json()["access_token"], audience=R.OFFLINE_API)
    assert claims["sub"] == R.user_id(a, "quin")


def test_responder_role_cannot_change_the_schema(machines):
    """migrate grants latchkey_responder the four record rights only;
    a login role in it serves, and cannot alter, drop or create."""
    a, _ = machines
    c = lk.pg_cluster()
    if not c.psql("SELECT 1 FROM pg_roles WHERE rolname = "
            "'latchkey_responder'").strip():
        c.createrole("latchkey_responder", login=False)
    if not c.psql("SELECT 1 FROM pg_roles WHERE rolname = 'lk_web'").strip():
        c.createrole("lk_web", member_of="latchkey_responder")
    owner = lk.pg_database(a.home)
    db = owner.split("dbname=")[1].split()[0]
    p = subprocess.run([str(lk.CTL), "-D", owner, "migrate"],
        capture_output=True, text=True, timeout=60)
    assert p.returncode == 0, p.stderr
    for sql in ("ALTER TABLE record ADD COLUMN x integer",
            "DROP TABLE record", "DROP TABLE meta_schema",
            "CREATE TABLE evil (a integer)",
            "UPDATE meta_schema SET version = 0",
            "TRUNCATE record"):
        r = c.psql(sql, db=db, user="lk_web", check=False)
        assert r.returncode != 0, sql
        assert "permission denied" in r.stderr or "must be owner" in \
            r.stderr, (sql, r.stderr)
    assert int(c.psql("SELECT count(*) FROM record", db=db,
        user="lk_web")) > 0
    # A web server whose responders connect as lk_web serves.
    w = lk.Server("pg-role")
    lk.pg_share(w.home, a.home, user="lk_web")
    try:
        w.serve()
        b = R.login(w, user="paul")
        assert R.refresh(w, b["refresh_token"]).status_code == 200
    finally:
        w.stop()
        w.cleanup()


def test_schema_versions(tmp_path):
    c = lk.pg_cluster()
    name = c.createdb("lk_bare")
    info = c.conninfo(name)

    def ctl(*args):
        return subprocess.run([str(lk.CTL), "-d", str(tmp_path / "h"),
            "-D", info, *args], capture_output=True, text=True, timeout=60)
    p = ctl("tenant", "show")
    assert p.returncode != 0 and "run latchkeyctl init" in p.stderr
    assert ctl("migrate").returncode == 0
    assert ctl("migrate").returncode == 0		# idempotent
    assert c.psql("SELECT version FROM meta_schema", db=name).strip() == "1"
    p = ctl("tenant", "show")
    assert p.returncode != 0 and "no tenant" in p.stderr
    c.psql("UPDATE meta_schema SET version = 99", db=name)
    for args in (("tenant", "show"), ("migrate",)):
        p = ctl(*args)
        assert p.returncode != 0 and "newer than this release" in p.stderr


def test_a_crashed_database_server_is_a_503_then_served_again():
    """The database server is SIGKILLed under a running web server: a
    request then gets a JSON 503 with Retry-After within the connect and
    TCP bounds, never a hang; once the server is back every responder
    reconnects on its next request."""
    sys.path.insert(0, str(lk.ROOT / "tests" / "pg"))
    import pgcluster
    c = pgcluster.PgCluster().start()
    s = None
    try:
        c.createdb("lk_crash")
        s = lk.Server("pg-crash")
        lk.pg_use(s.home, c.conninfo("lk_crash"))
        s.start()
        form = lk.password_form(audience=lk.API)
        assert s.token(form).status_code == 200
        c.kill()
        t0 = time.time()
        r = s.token(form)
        took = time.time() - t0
        assert r.status_code == 503, r.text
        assert r.headers.get("Retry-After")
        assert r.json()["error"] == "temporarily_unavailable"
        assert took < 15, took
        c.start()
        codes = [s.token(form).status_code for _ in range(6)]
        assert codes == [200] * 6, codes
    finally:
        if s is not None:
            s.stop()
            s.cleanup()
        c.cleanup()


def _ca_and_server_cert(d):
    """A throw-away CA and a server certificate for localhost and
    127.0.0.1 signed by it, in d; returns (ca.pem, server.crt, server.key)."""
    import datetime
    import ipaddress
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    def name(cn):
        return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])
    now = datetime.datetime.now(datetime.timezone.utc)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca = (x509.CertificateBuilder().subject_name(name("lk test CA"))
        .issuer_name(name("lk test CA")).public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), True)
        .sign(ca_key, hashes.SHA256()))
    key = ec.generate_private_key(ec.SECP256R1())
    crt = (x509.CertificateBuilder().subject_name(name("localhost"))
        .issuer_name(ca.subject).public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost"),
            x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), False)
        .sign(ca_key, hashes.SHA256()))
    pem = serialization.Encoding.PEM
    paths = [os.path.join(d, n) for n in ("ca.pem", "server.crt", "server.key")]
    with open(paths[0], "wb") as f:
        f.write(ca.public_bytes(pem))
    with open(paths[1], "wb") as f:
        f.write(crt.public_bytes(pem))
    with open(paths[2], "wb") as f:
        f.write(key.private_bytes(pem, serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption()))
    return paths


def test_tls_verify_full_and_a_password_file(tmp_path):
    """sslmode=verify-full against a throw-away CA, the password from
    PGPASSFILE: the server takes TLS with a password only, latchkeyctl
    and a web server's responders connect, a wrong CA is refused, and
    the password is in no command line and no log."""
    sys.path.insert(0, str(lk.ROOT / "tests" / "pg"))
    import pgcluster
    c = pgcluster.PgCluster()
    s = None
    try:
        ca, crt, key = _ca_and_server_cert(c.tmp)
        if c.user is not None:
            for p in (crt, key):
                os.chown(p, c.user.pw_uid, c.user.pw_gid)
        os.chmod(key, 0o600)
        c.extra_conf("ssl = on\nssl_cert_file = '%s'\nssl_key_file = '%s'\n"
            "password_encryption = 'scram-sha-256'" % (crt, key))
        c.hba("hostssl all lk_tls 127.0.0.1/32 scram-sha-256\n"
            "host all lk_tls 127.0.0.1/32 reject")
        c.start()
        pw = "tls-pw-Xr4Tq8Lm2Wz6"
        c.psql("CREATE ROLE lk_tls LOGIN PASSWORD '%s'" % pw)
        c.createdb("lk_tls", owner="lk_tls")
        passfile = tmp_path / "pgpass"
        passfile.write_text("localhost:%d:lk_tls:lk_tls:%s\n" % (c.port, pw))
        passfile.chmod(0o600)
        info = ("host=localhost hostaddr=127.0.0.1 port=%d dbname=lk_tls "
            "user=lk_tls sslmode=verify-full sslrootcert=%s" % (c.port, ca))
        env = dict(os.environ, PGPASSFILE=str(passfile))
        env.pop("LATCHKEY_DATABASE", None)

        def ctl(conninfo, *args, **kw):
            return subprocess.run([str(lk.CTL), "-d", str(tmp_path / "h"),
                "-D", conninfo, *args], capture_output=True, text=True,
                timeout=60, env=kw.get("env", env))
        p = ctl(info, "migrate")
        assert p.returncode == 0, p.stderr
        # Without the password file, and with another CA: refused.
        p = ctl(info, "migrate", env=dict(env, PGPASSFILE=str(tmp_path / "x")))
        assert p.returncode != 0 and "password" in p.stderr, p.stderr
        other, _, _ = _ca_and_server_cert(str(tmp_path))
        p = ctl(info.replace(ca, other), "migrate")
        assert p.returncode != 0 and "SSL" in p.stderr, p.stderr
        p = ctl(info.replace("verify-full", "disable"), "migrate")
        assert p.returncode != 0 and "rejects connection" in p.stderr
        # A web server whose responders connect the same way.
        s = lk.Server("pg-tls")
        lk.pg_use(s.home, info)
        s.env = (lambda base: lambda: dict(base(),
            PGPASSFILE=str(passfile)))(s.env)
        p = subprocess.run([str(lk.CTL), "-d", str(s.home), "-D", info,
            "import", str(s.tenant_file)], capture_output=True, text=True,
            timeout=120, env=env)
        assert p.returncode == 0, p.stderr
        s.serve()
        r = s.token(lk.password_form(audience=lk.API))
        assert r.status_code == 200, r.text
        ssl = c.psql("SELECT count(*) FROM pg_stat_ssl JOIN pg_stat_activity "
            "USING (pid) WHERE ssl AND usename = 'lk_tls' AND "
            "application_name = 'latchkey'")
        assert int(ssl) >= 1
        assert pw not in s.log()
    finally:
        if s is not None:
            s.stop()
            s.cleanup()
        c.cleanup()
