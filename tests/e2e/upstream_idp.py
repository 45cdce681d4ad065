"""
A stand-in for Microsoft Entra ID and AD FS, for test_waad.py: their
resource owner password grant token endpoints and their JWKS, served over
TLS on 127.0.0.1 with a throw-away CA made here (keys and certificates by
`cryptography`).  What it answers is set per test through attributes:
users and passwords, the answer mode (a good token, a bad signature,
another issuer, audience or tenant, an expired token, MFA required, a 500,
garbage, a slow answer), and its signing keys, which rotate.
"""
import base64
import datetime
import http.server
import json
import ssl
import threading
import time
import urllib.parse
import uuid

import jwt
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID
import ipaddress

TENANT_ID = "9188040d-6c67-4c5b-b112-36a304b66dad"
CLIENT_ID = "6731de76-14a6-49ae-97bc-6eba6914391e"
CLIENT_SECRET = "upstream-secret-Qm7pL2vX9kR4wT8z"
ADFS_CLIENT_ID = "adfs-client-7d1f"
ADFS_RESOURCE = "urn:latchkey:test"
WAAD_PATH = "/%s/oauth2/v2.0/token" % TENANT_ID
ADFS_PATH = "/adfs/oauth2/token"
JWKS_PATH = "/%s/discovery/v2.0/keys" % TENANT_ID
ADFS_JWKS_PATH = "/adfs/discovery/keys"


def _b64(n):
    b = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return base64.urlsafe_b64encode(b).rstrip(b"=").decode()


def _rsa():
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def make_ca(tmp):
    """A CA and a server certificate for 127.0.0.1; returns the paths
    (ca.pem, cert.pem, key.pem)."""
    now = datetime.datetime.utcnow()
    ca_key = _rsa()
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "latchkey test CA")])
    ca = (x509.CertificateBuilder().subject_name(ca_name).issuer_name(ca_name)
        .public_key(ca_key.public_key()).serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=2))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(ca_key, hashes.SHA256()))
    key = _rsa()
    cert = (x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")]))
        .issuer_name(ca_name).public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=2))
        .add_extension(x509.SubjectAlternativeName([
            x509.IPAddress(ipaddress.ip_address("127.0.0.1")),
            x509.DNSName("localhost")]), critical=False)
        .sign(ca_key, hashes.SHA256()))
    paths = tmp / "ca.pem", tmp / "cert.pem", tmp / "key.pem"
    paths[0].write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    paths[1].write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    paths[2].write_bytes(key.private_bytes(serialization.Encoding.PEM,
        serialization.PrivateFormat.TraditionalOpenSSL,
        serialization.NoEncryption()))
    return paths


class Upstream:
    """The stand-in.  mode: "ok", "bad_signature", "wrong_issuer",
    "wrong_audience", "wrong_tenant", "expired", "mfa", "status500",
    "garbage", "no_id_token", "slow", "invalid_client"."""

    def __init__(self, tmp):
        self.ca, cert, key = make_ca(tmp)
        self.mode = "ok"
        self.slow_seconds = 6
        self.jwks_slow = False	# the JWKS answers after slow_seconds
        self.users = {}		# username -> (password, claims)
        self.requests = []	# forms received at the token endpoints
        self.jwks_fetches = 0
        self.keys = {}		# kid -> private key
        self.kid = None
        self.rotate()
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            wbufsize = 1 << 16	# headers and body in one write (no Nagle wait)

            def log_message(self, *a):
                pass

            def _send(self, status, body, ctype="application/json"):
                data = body.encode() if isinstance(body, str) else body
                self.send_response(status)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self):
                if self.path in (JWKS_PATH, ADFS_JWKS_PATH):
                    outer.jwks_fetches += 1
                    if outer.jwks_slow:
                        time.sleep(outer.slow_seconds)
                    return self._send(200, json.dumps(outer.jwks()))
                self._send(404, "{}")

            def do_POST(self):
                n = int(self.headers.get("Content-Length", "0"))
                form = dict(urllib.parse.parse_qsl(self.rfile.read(n).decode()))
                outer.requests.append(dict(form, _path=self.path))
                if self.path not in (WAAD_PATH, ADFS_PATH):
                    return self._send(404, "{}")
                status, body, ctype = outer.answer(self.path == ADFS_PATH, form)
                self._send(status, body, ctype)

        class Quiet(http.server.ThreadingHTTPServer):
            def handle_error(self, request, client_address):
                pass	# latchkey hung up on a slow answer, as it should

        self.httpd = Quiet(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(str(cert), str(key))
        self.httpd.socket = ctx.wrap_socket(self.httpd.socket, server_side=True)
        self.port = self.httpd.server_address[1]
        self.base = "https://127.0.0.1:%d" % self.port
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def stop(self):
        self.httpd.shutdown()
        self.httpd.server_close()

    # --- keys -----------------------------------------------------------

    def rotate(self):
        """A new signing key; the JWKS then publishes only it."""
        self.kid = "kid-" + uuid.uuid4().hex[:12]
        self.keys = {self.kid: _rsa()}

    def jwks(self):
        keys = []
        for kid, k in self.keys.items():
            pub = k.public_key().public_numbers()
            keys.append({"kty": "RSA", "use": "sig", "kid": kid,
                "n": _b64(pub.n), "e": _b64(pub.e)})
        # A key of another kind is skipped, not an error.
        keys.append({"kty": "EC", "use": "sig", "kid": "ec-1", "crv": "P-256",
            "x": "f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU",
            "y": "x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0"})
        return {"keys": keys}

    # --- the token endpoint ----------------------------------------------

    def issuer(self, adfs):
        return self.base + "/adfs" if adfs else \
            "https://login.microsoftonline.com/%s/v2.0" % TENANT_ID

    def id_token(self, adfs, claims):
        now = int(time.time())
        c = {"iss": self.issuer(adfs), "aud": ADFS_CLIENT_ID if adfs else CLIENT_ID,
             "iat": now, "nbf": now, "exp": now + 3600}
        if not adfs:
            c["tid"] = TENANT_ID
        c.update(claims)
        key, kid = self.keys[self.kid], self.kid
        m = self.mode
        if m == "wrong_issuer":
            c["iss"] = "https://login.microsoftonline.com/other/v2.0"
        elif m == "wrong_audience":
            c["aud"] = "another-client"
        elif m == "wrong_tenant":
            c["tid"] = "00000000-0000-0000-0000-000000000000"
        elif m == "expired":
            c["iat"], c["nbf"], c["exp"] = now - 7200, now - 7200, now - 3600
        elif m == "bad_signature":
            key = _rsa()		# not the published key of that kid
        return jwt.encode(c, key, algorithm="RS256", headers={"kid": kid})

    def answer(self, adfs, form):
        m = self.mode
        if m == "slow":
            time.sleep(self.slow_seconds)
        if m == "status500":
            return 500, "<html><script>alert('upstream')</script></html>", "text/html"
        if m == "garbage":
            return 200, "<<not json \x1b[31m>>", "text/plain"
        if m == "invalid_client":
            return 401, json.dumps({"error": "invalid_client",
                "error_description": "AADSTS7000215: Invalid client secret <b>x</b>",
                "error_codes": [7000215]}), "application/json"
        user = self.users.get(form.get("username"))
        if user is None or user[0] != form.get("password"):
            code = 50034 if user is None else 50126
            desc = ("MSIS9659: Invalid 'username' or 'password'." if adfs else
                "AADSTS%d: Error validating credentials <script>x</script>" % code)
            return 400, json.dumps({"error": "invalid_grant",
                "error_description": desc, "error_codes": [] if adfs else [code]}), \
                "application/json"
        if m == "mfa":
            return 400, json.dumps({"error": "invalid_grant",
                "error_description": "AADSTS50076: Due to a configuration change "
                "made by your administrator, you must use multi-factor "
                "authentication.", "error_codes": [50076],
                "suberror": "basic_action"}), "application/json"
        body = {"token_type": "Bearer", "expires_in": 3599,
            "access_token": "upstream-access-token", "scope": form.get("scope", "")}
        if m != "no_id_token":
            body["id_token"] = self.id_token(adfs, user[1])
        return 200, json.dumps(body), "application/json"
