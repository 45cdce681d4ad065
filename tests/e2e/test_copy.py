"""
latchkeyctl copy: a whole tenant from Berkeley DB to PostgreSQL and back
(latchkeyctl(8), docs/deployment-postgresql.md).  A tenant is used
through the real server first (logins, a rotating refresh token, a
client assertion, a wrong password), then copied home -> database ->
second home: the two homes' records are equal kind for kind, key for key
(db5.3_dump), and the tokens issued before the copy work against each
copy served by lighttpd, checked with PyJWT against the copy's JWKS.
"""
import json
import subprocess
import sys

import pytest

import lk
import lk_refresh as lr

sys.path.insert(0, str(lk.ROOT / "tests" / "pg"))
import pgcluster	# noqa: E402

# Its own stores on each side: the plain suite runs it (the database is
# one of the session's cluster, lk.pg_cluster()).
pytestmark = [pytest.mark.skipif(not pgcluster.available(),
    reason="no PostgreSQL server installed"),
    pytest.mark.bdb_only("the copy's source and target are the test's own")]

# Every kind the command reports, in its own words.
KINDS = {"meta", "clients", "connections", "users", "user_indexes", "apis",
    "keys", "spent_jtis", "refresh_tokens", "access_tokens",
    "passwordless_codes", "attack_protection", "audit", "refresh_indexes",
    "spent_dpop_jtis", "mfa"}
# The kinds the use below leaves records of.
USED = {"meta", "clients", "connections", "users", "user_indexes", "apis",
    "keys", "spent_jtis", "refresh_tokens", "attack_protection", "audit",
    "refresh_indexes"}


@pytest.fixture(scope="module")
def cluster():
    return lk.pg_cluster()


class CopyServer(lk.Server):
    """lk.Server whose responders may serve a PostgreSQL database."""

    database = None

    def env(self):
        e = super().env()
        e.pop("LATCHKEY_DATABASE", None)
        if self.database:
            e["LATCHKEY_DATABASE"] = self.database
        return e


def ctl(*args):
    return subprocess.run([str(lk.CTL), *args], capture_output=True,
        text=True, timeout=120)


def unescape(s):
    """db_dump -p's printable form back to bytes."""
    out, i = bytearray(), 0
    while i < len(s):
        if s[i] == "\\":
            if s[i + 1] == "\\":
                out.append(0x5c)
                i += 2
                continue
            out.append(int(s[i + 1:i + 3], 16))
            i += 3
            continue
        out += s[i].encode()
        i += 1
    return bytes(out)


def dump(home):
    """{file: {key: value}} of every database of a home (values parsed),
    but the store's generation: each store's own, which the copy's writes
    of the tenant and clients change (lib/store/store_gen.c)."""
    out = {}
    for db in sorted(home.glob("*.db")):
        p = subprocess.run(["db5.3_dump", "-p", "-h", str(home), db.name],
            capture_output=True, text=True, check=True)
        body = p.stdout.split("HEADER=END\n", 1)[1].split("DATA=END", 1)[0]
        lines = [ln[1:] for ln in body.splitlines()]
        out[db.name] = {unescape(k): json.loads(unescape(v))
            for k, v in zip(lines[::2], lines[1::2])}
    out.get("meta.db", {}).pop(b"generation", None)
    return out


def use(s):
    """Leave records of many kinds; returns what the client kept."""
    first = lr.login(s)
    kept = {"access": first["access_token"], "refresh": first["refresh_token"]}
    # A rotated token: its successor is the one to keep.
    r = lr.refresh(s, kept["refresh"])
    assert r.status_code == 200, r.text
    kept["spent"], kept["refresh"] = kept["refresh"], r.json()["refresh_token"]
    # A client assertion: its jti is spent (RFC 7523 3).
    kept["assertion"] = s.assertion()
    r = s.token(lk.password_form(client_id=lk.PK_ID, secret=None,
        client_assertion_type=lk.ASSERTION_TYPE,
        client_assertion=kept["assertion"]))
    assert r.status_code == 200, r.text
    # A wrong password: a brute-force counter and an audit record.
    r = s.token(lk.password_form(password="not alice's password"))
    assert r.status_code == 403, r.text
    return kept


def check_copy(s, kept):
    """The tokens issued before the copy, against the copy s serves."""
    claims = s.decode(kept["access"], lr.OFFLINE_API)
    r = lr.refresh(s, kept["refresh"])
    assert r.status_code == 200, r.text
    assert s.decode(r.json()["access_token"], lr.OFFLINE_API)["sub"] == \
        claims["sub"]
    # The spent jti is still spent.
    r = s.token(lk.password_form(client_id=lk.PK_ID, secret=None,
        client_assertion_type=lk.ASSERTION_TYPE,
        client_assertion=kept["assertion"]))
    assert r.status_code == 401, r.text


def test_copy_round_trip(cluster, tmp_path):
    s = CopyServer("copy")
    lr.customise(s)
    s.tenant_file.write_text(json.dumps(s.tenant))
    try:
        s.start()
        kept = use(s)
        s.stop()
        db = cluster.createdb("copy_rt")
        conninfo = cluster.conninfo(db)
        # Berkeley DB -> PostgreSQL.
        p = ctl("-d", str(s.home), "copy", "--to-database", conninfo)
        assert p.returncode == 0, p.stderr
        there = json.loads(p.stdout)
        assert set(there["copied"]) == KINDS
        assert all(there["copied"][k] > 0 for k in USED), there
        assert there["records"] == sum(there["copied"].values())
        # PostgreSQL -> a second Berkeley DB home.
        home2 = tmp_path / "home2"
        p = ctl("-D", conninfo, "copy", "--to-home", str(home2))
        assert p.returncode == 0, p.stderr
        assert json.loads(p.stdout) == there
        assert dump(s.home) == dump(home2)
        # The copies serve the tokens issued before them.
        s.database = conninfo
        s.serve()
        check_copy(s, kept)
        s.stop()
        s.database, s.home = None, home2
        s.serve()
        check_copy(s, kept)
    finally:
        s.stop()
        s.cleanup()


def test_copy_refuses_a_target_with_records(cluster, tmp_path):
    s = CopyServer("copy-refuse")
    try:
        lk.ctl(s.home, "import", str(s.tenant_file))
        conninfo = cluster.conninfo(cluster.createdb("copy_refuse"))
        assert ctl("-d", str(s.home), "copy", "--to-database",
            conninfo).returncode == 0
        p = ctl("-d", str(s.home), "copy", "--to-database", conninfo)
        assert p.returncode == 1
        assert "give --force" in p.stderr
        p = ctl("-d", str(s.home), "copy", "--to-database", conninfo,
            "--force")
        assert p.returncode == 0, p.stderr
        # One target, exactly.
        p = ctl("-d", str(s.home), "copy")
        assert p.returncode == 2
        p = ctl("-d", str(s.home), "copy", "--to-database", conninfo,
            "--to-home", str(tmp_path / "h"))
        assert p.returncode == 2
        assert not (tmp_path / "h").exists()
    finally:
        s.cleanup()
