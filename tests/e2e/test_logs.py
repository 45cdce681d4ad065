"""
The responder's log (lighttpd's error log): one line per request, never a
password, client secret, assertion, token or Authorization value.
"""
import re
import uuid

import lk
from lk import API, basic, password_form


def test_logs_never_contain_secrets_or_tokens(server):
    marker_pw = "log-probe-password-" + uuid.uuid4().hex
    marker_secret = "log-probe-secret-" + uuid.uuid4().hex
    before = len(server.log())
    issued = []
    sent = [marker_pw, marker_secret]
    requests_made = 0
    # Successes (tokens issued), wrong password, unknown user, bad secret,
    # Basic and assertion credentials, a JSON body.
    for f, h in [
        (password_form(audience=API, scope="openid"), None),
        (password_form(password=marker_pw, audience=API), None),
        (password_form(username="nobody-" + marker_pw + "@example.com",
            password=marker_pw, audience=API), None),
        (password_form(secret=marker_secret, audience=API), None),
        (password_form(client_id=None, secret=None, audience=API),
            {"Authorization": basic(lk.BASIC_ID, lk.BASIC_SECRET)}),
        (password_form(client_id=None, secret=None, audience=API),
            {"Authorization": basic(lk.BASIC_ID, marker_secret)}),
    ]:
        r = server.token(f, headers=h)
        requests_made += 1
        if h:
            sent.append(h["Authorization"].split()[1])
        if r.status_code == 200:
            issued += [v for k, v in r.json().items() if k.endswith("_token")]
    a = server.assertion()
    f = password_form(client_id=lk.PK_ID, secret=None, audience=API)
    f.update(client_assertion=a, client_assertion_type=lk.ASSERTION_TYPE)
    r = server.token(f)
    issued += [v for k, v in r.json().items() if k.endswith("_token")]
    sent.append(a)
    r = server.token(json_body=password_form(audience=API))
    requests_made += 2
    issued += [v for k, v in r.json().items() if k.endswith("_token")]
    assert issued, "no token was issued"

    log = server.log()
    new = log[before:]
    # The access line of latchkey.fcgi(8) DIAGNOSTICS.
    lines = [l for l in new.splitlines() if re.search(r"latchkey: \w+: request: id=", l)]
    assert len(lines) == requests_made, "expected one line per request:\n" + new
    for s in sent + issued + lk.ALL_SECRETS:
        assert s not in log, "secret or token in the log: %r" % s[:24]
    # Token pieces (a header and payload are JWT-public, the signature is not).
    for t in issued:
        assert t.rsplit(".", 1)[-1] not in log
