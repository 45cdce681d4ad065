"""
CGI mode: without a FastCGI socket on stdin the responder answers one CGI
request (RFC 3875): body on stdin, meta-variables in the environment,
"Status:" and headers then the body on stdout.
"""
import json
import os
import re
import subprocess
import urllib.parse

import pytest

import lk


def cgi(body, home, ctype="application/x-www-form-urlencoded", uri="/oauth/token",
        method="POST", extra=None):
    status, headers, payload, _ = cgi_run(body, home, ctype, uri, method, extra)
    return status, headers, payload


def cgi_run(body, home, ctype="application/x-www-form-urlencoded",
        uri="/oauth/token", method="POST", extra=None):
    """cgi(), and what the process wrote to stderr."""
    if isinstance(body, str):
        body = body.encode()
    env = {k: v for k, v in os.environ.items()
           if k in ("PATH", "ASAN_OPTIONS", "UBSAN_OPTIONS", "LSAN_OPTIONS",
               "LATCHKEY_USER")}
    env.update(GATEWAY_INTERFACE="CGI/1.1", SERVER_PROTOCOL="HTTP/1.1",
        REQUEST_METHOD=method, REQUEST_URI=uri, SCRIPT_NAME=uri, PATH_INFO="",
        REMOTE_ADDR="127.0.0.1", SERVER_NAME="127.0.0.1", SERVER_PORT="80")
    if method == "POST":
        env.update(CONTENT_TYPE=ctype, CONTENT_LENGTH=str(len(body)))
    if home is not None:
        env["LATCHKEY_HOME"] = str(home)
        env.update(lk.store_env(home))
    env.update(extra or {})
    p = subprocess.run([str(lk.FCGI)], input=body, env=env, capture_output=True,
        timeout=60)
    err = p.stderr.decode(errors="replace")
    assert not [m for m in lk.SANITIZER_MARKERS if m in err], err
    assert p.returncode == 0, "exit %d: %s" % (p.returncode, err)
    head, sep, payload = p.stdout.partition(b"\r\n\r\n")
    if not sep:
        head, sep, payload = p.stdout.partition(b"\n\n")
    assert sep, p.stdout
    headers = {}
    for line in head.decode().splitlines():
        k, _, v = line.partition(":")
        headers[k.strip().lower()] = v.strip()
    assert "status" in headers, head
    return int(headers["status"].split()[0]), headers, payload, err


def loaded_objects(err):
    """The shared objects the dynamic linker loaded (LD_DEBUG=files)."""
    return set(re.findall(r"file=(\S+)", err))


# The libraries loaded on first use (lib/base/dynlib.c).
ON_DEMAND = ("libcurl.so.4", "libldap-2.5.so.0", "liblber-2.5.so.0",
    "libpq.so.5")
# The password hash libraries: loaded by the requests that hash.
HASH_LIBS = {"libargon2.so.1", "libcrypt.so.1"}
# libjwt: loaded by the requests that verify a token (RS256 and ES256
# tokens are signed with OpenSSL).
JWT_LIB = "libjwt.so.0"


def test_cgi_mode_issues_token(server):
    form = urllib.parse.urlencode(lk.password_form(audience=lk.API))
    status, headers, payload = cgi(form, server.home)
    assert status == 200, payload
    assert headers["content-type"].startswith("application/json")
    assert headers.get("cache-control") == "no-store"
    body = json.loads(payload)
    server.decode(body["access_token"], audience=lk.API)


def test_cgi_mode_error_answer(server):
    f = lk.password_form(audience=lk.API)
    del f["username"]
    status, headers, payload = cgi(urllib.parse.urlencode(f), server.home)
    assert status == 400
    assert json.loads(payload) == {"error": "invalid_request",
        "error_description": "Missing required parameter: username"}


def test_cgi_request_without_directory_upstream_or_pg_maps_none_of_their_libraries(
        server):
    # A plain CGI start pays for every library it maps (docs/performance.md):
    # libcurl, libldap and libpq are loaded only by what needs them, and
    # the password hash libraries only by a request that hashes, libjwt
    # only by one that verifies a token.
    for uri in ("/.well-known/openid-configuration", "/.well-known/jwks.json"):
        status, _, _, err = cgi_run(b"", server.home, method="GET", uri=uri,
            extra={"LD_DEBUG": "files"})
        assert status == 200
        objs = loaded_objects(err)
        assert "libcrypto.so.3" in objs, err      # the listing itself works
        assert objs & (HASH_LIBS | {JWT_LIB}) == set(), sorted(objs)
        if lk.PG:
            # libpq itself needs libldap (its LDAP service lookup).
            assert "libpq.so.5" in objs and "libcurl.so.4" not in objs, objs
        else:
            assert objs & set(ON_DEMAND) == set(), sorted(objs)
    # No audience, scope openid: an access token for /userinfo.
    form = urllib.parse.urlencode(lk.password_form(scope="openid"))
    status, _, payload, err = cgi_run(form, server.home,
        extra={"LD_DEBUG": "files"})
    assert status == 200, payload
    objs = loaded_objects(err)
    assert "libcurl.so.4" not in objs and JWT_LIB not in objs, sorted(objs)
    assert HASH_LIBS <= objs, sorted(objs)
    # /userinfo verifies the access token: libjwt is loaded then.
    token = json.loads(payload)["access_token"]
    status, _, payload, err = cgi_run(b"", server.home, method="GET",
        uri="/userinfo", extra={"LD_DEBUG": "files",
        "HTTP_AUTHORIZATION": "Bearer " + token})
    assert status == 200, payload
    assert json.loads(payload)["sub"]
    assert JWT_LIB in loaded_objects(err)


def test_cgi_mode_get_jwks(server):
    status, _, payload = cgi(b"", server.home, method="GET", uri="/.well-known/jwks.json")
    assert status == 200 and json.loads(payload)["keys"]


@pytest.mark.bdb_only("the Berkeley DB home is the store")
@pytest.mark.parametrize("kind", ["missing_dir", "regular_file", "empty_dir", "unset"])
def test_cgi_mode_without_usable_home_is_500_json(tmp_path, kind):
    if kind == "missing_dir":
        home = tmp_path / "does-not-exist"
    elif kind == "regular_file":
        home = tmp_path / "file"
        home.write_text("not a database\n")
    elif kind == "empty_dir":
        home = tmp_path / "empty"
        home.mkdir(mode=0o700)
    else:
        home = None
        if os.path.exists("/var/lib/latchkey"):
            pytest.skip("/var/lib/latchkey (the default home) exists here")
    form = urllib.parse.urlencode(lk.password_form(audience=lk.API))
    status, headers, payload = cgi(form, home)
    assert status == 500, payload
    assert headers["content-type"].startswith("application/json")
    assert json.loads(payload)["error"] == "server_error"
    if kind == "empty_dir":
        # Answering must not have created a database there.
        assert not any(home.iterdir()), list(home.iterdir())
