"""
latchkeyctl import-auth0: users of an Auth0 export (NDJSON or a JSON
array) land in a database connection with their password hashes kept as
they are, log in through the real lighttpd with their old passwords, and
are rehashed to argon2id at that first login (`user show` tells the
algorithm as password_hash_alg, never the hash).  Importing the same file
again changes nothing and does not bring the old hash back; a file with a
user latchkey cannot take writes nothing.
"""
import json
import statistics
import subprocess
import time

import pytest

import conftest
import lk

CONN = lk.DB1
MIG_ID = "auth0|5f7c8ec7c33c6c004bbafe82"
MIG, MIG_PW = "migrant@example.com", "old Auth0 password: Kq9#vT2m"
ARR_ID = "legacy42"
ARR, ARR_USER, ARR_PW = "arr@example.com", "arrival", "arr-pw-Xc7vB0nM3q"


def bcrypt(pw):
    """A bcrypt hash as Auth0 exports them ($2b$; $2y$ from htpasswd when
    Python's crypt module is gone: the same algorithm)."""
    h = lk.legacy_hash(pw, "bcrypt")
    if h is None:
        p = subprocess.run(["htpasswd", "-nbBC", "4", "u", pw],
            capture_output=True, text=True, check=True)
        h = p.stdout.strip().split(":", 1)[1]
    assert h.startswith("$2"), h
    return h


@pytest.fixture(scope="module")
def a0():
    s = lk.Server("auth0")
    yield conftest._start(s)
    conftest._finish(s)


@pytest.fixture(scope="module")
def export(a0):
    """The NDJSON export, as an Auth0 bulk user export job writes it."""
    users = [
        {"user_id": MIG_ID, "email": MIG, "email_verified": True,
         "name": "Mig Rant", "given_name": "Mig", "family_name": "Rant",
         "nickname": "mig", "picture": "https://example.com/mig.png",
         "app_metadata": {"plan": "gold"}, "user_metadata": {"theme": "dark"},
         "identities": [{"provider": "auth0", "user_id": MIG_ID[6:],
                         "connection": CONN, "isSocial": False}],
         "created_at": "2019-04-01T10:00:00.000Z", "logins_count": 12,
         "password_hash": bcrypt(MIG_PW)},
    ]
    f = a0.tmp / "export.ndjson"
    f.write_text("".join(json.dumps(u) + "\n" for u in users))
    return f


def import_auth0(s, path, check=True):
    return lk.ctl(s.home, "import-auth0", "--connection", CONN, str(path),
        check=check)


def import_auth0_into(s, connection, path):
    return lk.ctl(s.home, "import-auth0", "--connection", connection,
        str(path))


def show(s, user_id):
    return json.loads(lk.ctl(s.home, "user", "show", user_id).stdout)


def login(s, username, password, **kw):
    return s.token(lk.password_form(username=username, password=password,
        audience=lk.API, **kw))


def test_imported_bcrypt_user_logs_in_and_is_rehashed(a0, export):
    out = json.loads(import_auth0(a0, export).stdout)
    assert out["users"]["created"] == [MIG_ID]
    u = show(a0, MIG_ID)
    assert u["password_hash_alg"] == "bcrypt"
    assert "password_hash" not in u
    assert u["email"] == MIG and u["email_verified"] is True
    assert u["app_metadata"] == {"plan": "gold"}
    assert "identities" not in u and "logins_count" not in u

    r = login(a0, MIG, MIG_PW, scope="openid profile email")
    assert r.status_code == 200, r.text
    body = r.json()
    assert a0.decode(body["access_token"], audience=lk.API)["sub"] == MIG_ID
    idt = a0.decode(body["id_token"], audience=lk.POST_ID)
    assert idt["sub"] == MIG_ID and idt["name"] == "Mig Rant"
    assert idt["email"] == MIG and idt["email_verified"] is True

    # Rehashed to the tenant's policy at that login.
    assert show(a0, MIG_ID)["password_hash_alg"] == "argon2id"
    assert login(a0, MIG, MIG_PW).status_code == 200
    r = login(a0, MIG, MIG_PW + "x")
    assert r.status_code == 403 and r.json()["error"] == "invalid_grant"


def test_reimport_changes_nothing_and_keeps_the_rehash(a0, export):
    assert login(a0, MIG, MIG_PW).status_code == 200
    assert show(a0, MIG_ID)["password_hash_alg"] == "argon2id"
    out = json.loads(import_auth0(a0, export).stdout)
    assert out["users"] == {"created": [], "updated": [],
        "unchanged": [MIG_ID]}
    assert show(a0, MIG_ID)["password_hash_alg"] == "argon2id"
    assert login(a0, MIG, MIG_PW).status_code == 200


def test_json_array_with_custom_password_hash(a0):
    f = a0.tmp / "export.json"
    f.write_text(json.dumps([{"user_id": ARR_ID, "email": ARR,
        "username": ARR_USER, "custom_password_hash": {"algorithm": "bcrypt",
        "hash": {"value": bcrypt(ARR_PW), "encoding": "utf8"}}}]))
    out = json.loads(import_auth0(a0, f).stdout)
    assert out["users"]["created"] == ["auth0|" + ARR_ID]
    assert show(a0, "auth0|" + ARR_ID)["password_hash_alg"] == "bcrypt"
    r = login(a0, ARR_USER, ARR_PW)
    assert r.status_code == 200, r.text
    assert a0.decode(r.json()["access_token"], audience=lk.API)["sub"] \
        == "auth0|" + ARR_ID
    assert show(a0, "auth0|" + ARR_ID)["password_hash_alg"] == "argon2id"


def test_unverifiable_hash_refuses_the_whole_file(a0):
    good = {"email": "good@example.com", "password_hash": bcrypt("good pw 123")}
    md5 = {"email": "md5@example.com", "custom_password_hash": {
        "algorithm": "md5", "hash": {"value": "5f4dcc3b5aa765d61d8327deb882cf99",
        "encoding": "hex"}}}
    social = {"user_id": "google-oauth2|1234", "email": "social@example.com"}
    f = a0.tmp / "mixed.ndjson"
    f.write_text("\n".join(json.dumps(u) for u in (good, md5, social)))
    p = import_auth0(a0, f, check=False)
    assert p.returncode == 2, p.stdout + p.stderr
    assert 'user 2 (md5@example.com): custom_password_hash algorithm "md5"' \
        in p.stderr
    assert "user 3 (social@example.com): user_id google-oauth2|1234" in p.stderr
    assert "2 user(s) cannot be imported; nothing was written" in p.stderr
    assert "user 1" not in p.stderr
    p = lk.ctl(a0.home, "user", "find", "--connection", CONN,
        "good@example.com", check=False)
    assert p.returncode != 0


def test_unknown_connection_refused(a0, export):
    p = lk.ctl(a0.home, "import-auth0", "--connection", "no-such-db",
        str(export), check=False)
    assert p.returncode == 1
    assert "no such connection: no-such-db" in p.stderr


# --- the cost of an unknown user follows the connection's hash mix ---------
#
# An unknown user is verified against a hash drawn from the connection's
# own users (lib/crypto/hash.c "hash mix"), not against a dummy of the tenant's
# argon2id policy: in a connection whose users all still have Auth0's
# bcrypt cost-10 hashes, a wrong password and an unknown user cost the
# same bcrypt verify.  (The old dummy made an unknown user answer in the
# policy's time, here about 1 ms, against ~50 ms for a bcrypt user.)

LEGACY = "Legacy-Import"


def bcrypt10(pw):
    """A bcrypt hash at Auth0's cost 10."""
    p = subprocess.run(["htpasswd", "-nbBC", "10", "u", pw],
        capture_output=True, text=True, check=True)
    return p.stdout.strip().split(":", 1)[1]


def _timed_failure(s, username, password):
    t0 = time.perf_counter()
    r = s.token(lk.realm_form(realm=LEGACY, username=username,
        password=password))
    took = time.perf_counter() - t0
    assert r.status_code == 403, r.text
    assert r.json()["error"] == "invalid_grant"
    return took


def test_unknown_user_costs_a_bcrypt_verify_in_a_bcrypt_connection(a0):
    lk.ctl(a0.home, "connection", "add", LEGACY, "--strategy", "auth0",
        "--clients", lk.POST_ID)
    users = [{"user_id": "auth0|%024x" % (0xb0 + i),
        "email": "legacy%d@example.com" % i,
        "password_hash": bcrypt10("legacy pw %d" % i)} for i in range(6)]
    f = a0.tmp / "legacy.ndjson"
    f.write_text("".join(json.dumps(u) + "\n" for u in users))
    import_auth0_into(a0, LEGACY, f)
    known, unknown = [], []
    for i in range(12):		# at most 2 failures a user: no brute-force block
        known.append(_timed_failure(a0, users[i % 6]["email"], "wrong %d" % i))
        unknown.append(_timed_failure(a0, "ghost%d@example.com" % i,
            "wrong %d" % i))
    k, u = statistics.median(known), statistics.median(unknown)
    print("\nwrong password of a bcrypt-10 user %.1f ms, unknown user %.1f ms"
        % (k * 1000, u * 1000))
    assert 0.75 <= u / k <= 1.33, (k, u)
    # The users still log in (and are rehashed) as before.
    r = a0.token(lk.realm_form(realm=LEGACY, username=users[0]["email"],
        password="legacy pw 0"))
    assert r.status_code == 200, r.text
