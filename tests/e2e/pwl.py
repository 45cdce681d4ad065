"""
The tenant of test_ro.py and test_passwordless.py: lk's test tenant plus
legacy /oauth/ro clients, passwordless (sms, email) connections whose
delivery command (deliver_capture.sh) appends each code to a file, and
connections whose delivery fails or hangs.  Served by the real lighttpd
like every e2e tenant.
"""
import itertools
import json
import time
from pathlib import Path

import conftest
import lk

RO_GRANT = "http://auth0.com/oauth/legacy/grant-type/ro"
RO_JWT_GRANT = "http://auth0.com/oauth/legacy/grant-type/ro/jwt-bearer"
OTP_GRANT = "http://auth0.com/oauth/grant-type/passwordless/otp"
JWT_BEARER = "urn:ietf:params:oauth:grant-type:jwt-bearer"

# Clients.
RO_ID = "legacy-ro-app"			# public (native), legacy + otp grants
RO_NOGRANT_ID = "no-legacy-app"		# public, password grants only
PWL_ID, PWL_SECRET = "pwl-app", "pwl-app-secret-Tg5hY8uJ1kL4zX7c"	# confidential
NOOTP_ID = "no-otp-app"			# public, legacy grant but not otp

# Connections.
SMS, EMAIL = "sms", "email"
SMS_SHORT = "sms-short"			# otp_lifetime 2 s
SMS_BROKEN, EMAIL_BROKEN = "sms-broken", "email-broken"
SMS_SLOW = "sms-slow"			# never exits: killed after 1 s
SMS_OFF = "sms-off"			# not enabled for RO_ID

# Users.
BLOCKED_PHONE = "+15550000001"		# an admin-blocked sms user
BLOCKED_ID = "sms|00000000000000000000b10c"
CAPTURE = Path(__file__).resolve().parent / "deliver_capture.sh"


def _tenant(s):
    t = s.tenant
    capture = str(s.tmp / "codes.txt")
    deliver = [str(CAPTURE), capture, "{recipient}", "{code}"]
    # Captures the code (so a test can try it), then fails.
    fail = ["/bin/sh", "-c", '"$0" "$@"; '
        'echo "gateway down for code $LATCHKEY_CODE" >&2; exit 5'] + deliver
    everyone = [RO_ID, PWL_ID, NOOTP_ID]
    t["clients"] += [
        {"name": "Legacy RO App", "client_id": RO_ID, "app_type": "native",
         "token_endpoint_auth_method": "none",
         "grant_types": [RO_GRANT, RO_JWT_GRANT, OTP_GRANT, "refresh_token"]},
        {"name": "No Legacy App", "client_id": RO_NOGRANT_ID, "app_type": "native",
         "token_endpoint_auth_method": "none",
         "grant_types": [lk.GRANT_PASSWORD, lk.GRANT_REALM]},
        {"name": "Passwordless App", "client_id": PWL_ID,
         "client_secret": PWL_SECRET, "app_type": "regular_web",
         "token_endpoint_auth_method": "client_secret_post",
         "grant_types": [OTP_GRANT, "refresh_token"]},
        {"name": "No OTP App", "client_id": NOOTP_ID, "app_type": "native",
         "token_endpoint_auth_method": "none", "grant_types": [RO_GRANT]},
    ]
    for c in t["connections"]:
        if c["name"] == lk.DB1:
            c["enabled_clients"] += [RO_ID, RO_NOGRANT_ID, NOOTP_ID]
    t["connections"] += [
        {"name": SMS, "strategy": "sms", "enabled_clients": everyone,
         "delivery_command": deliver},
        {"name": EMAIL, "strategy": "email", "enabled_clients": everyone,
         "delivery_command": deliver},
        {"name": SMS_SHORT, "strategy": "sms", "enabled_clients": everyone,
         "delivery_command": deliver, "otp_lifetime": 2},
        {"name": SMS_BROKEN, "strategy": "sms", "enabled_clients": everyone,
         "delivery_command": fail},
        {"name": EMAIL_BROKEN, "strategy": "email", "enabled_clients": everyone,
         "delivery_command": fail},
        {"name": SMS_SLOW, "strategy": "sms", "enabled_clients": everyone,
         "delivery_command": ["/bin/sleep", "30"], "delivery_timeout": 1},
        {"name": SMS_OFF, "strategy": "sms", "enabled_clients": [lk.POST_ID],
         "delivery_command": deliver},
    ]
    for u in t["users"]:
        if u.get("email") == lk.ALICE:
            u["user_metadata"] = {"favorite_color": "blue"}
            u["app_metadata"] = {"plan": "gold"}
    t["users"].append({"connection": SMS, "user_id": BLOCKED_ID,
        "phone_number": BLOCKED_PHONE,
        "blocked": True})
    s.tenant_file.write_text(json.dumps(t, indent=1))
    s.capture = Path(capture)


def serve(name, users=()):
    """Start the tenant, with users added to its file (the caller's fixture
    yields it and calls finish)."""
    s = lk.Server(name)
    _tenant(s)
    if users:
        t = json.loads(s.tenant_file.read_text())
        t["users"].extend(users)
        s.tenant_file.write_text(json.dumps(t, indent=1))
    return conftest._start(s)


def finish(s):
    conftest._finish(s)


START_EP = "/passwordless/start"
OUTCOMES = ("cs", "fn", "f")	# delivered, failed or skipped, blocked user


def audit(s, type=None):
    """The audit log (latchkeyctl audit list), oldest first."""
    args = ["audit", "list"] + (["--type", type] if type else [])
    return json.loads(lk.ctl(s.home, *args).stdout)


def audit_since(s, since):
    return json.loads(lk.ctl(s.home, "audit", "list", "--since",
        str(int(since))).stdout)


def pending(s, since=0):
    """Codes /passwordless/start accepted ("cls") since then whose delivery
    has no outcome in the audit log yet: the courier delivers after the
    answer."""
    evs = [a for a in (audit_since(s, since) if since else audit(s))
        if a.get("endpoint") == START_EP]
    return (sum(a["type"] == "cls" for a in evs) -
        sum(a["type"] in OUTCOMES for a in evs))


def settle(s, timeout=15, since=0):
    """Wait until every accepted code's delivery has its outcome."""
    deadline = time.time() + timeout
    while pending(s, since) > 0 and time.time() < deadline:
        time.sleep(0.01)


def outcome(s, recipient, timeout=15):
    """The audit record of the latest delivery outcome for recipient."""
    deadline = time.time() + timeout
    while True:
        evs = [a for a in audit(s) if a.get("endpoint") == START_EP and
            a.get("user_name") == recipient]
        sent = [i for i, a in enumerate(evs) if a["type"] == "cls"]
        done = [a for a in evs[sent[-1]:] if a["type"] in OUTCOMES] \
            if sent else []
        if done or time.time() > deadline:
            assert done, "no delivery outcome for %s: %s" % (recipient, evs)
            return done[0]
        time.sleep(0.02)


def codes(s):
    """Every delivery so far: (recipient, code, env code, connection, send),
    once the deliveries in flight are over."""
    settle(s)
    try:
        lines = s.capture.read_text().splitlines()
    except FileNotFoundError:
        return []
    return [tuple(l.split(" ")) for l in lines if l]


def last_code(s, recipient):
    """The latest code sent to recipient; the argument and environment
    forms must agree."""
    mine = [c for c in codes(s) if c[0] == recipient]
    assert mine, "no code delivered to %s" % recipient
    rcpt, code, envcode, _conn, send = mine[-1]
    assert code == envcode and send == "code", mine[-1]
    assert len(code) == 6 and code.isdigit(), code
    return code


def start(s, connection, client_id=RO_ID, form=False, wait=True, **fields):
    """POST /passwordless/start; with wait, a 200 returns once the
    background delivery of its code is over (its outcome audited)."""
    body = {"client_id": client_id, "connection": connection, "send": "code"}
    body.update(fields)
    body = {k: v for k, v in body.items() if v is not None}
    if form:
        r = s.token(form=body, path="passwordless/start")
    else:
        r = s.token(json_body=body, path="passwordless/start")
    if wait and r.status_code == 200:
        settle(s)
    return r


def ro(s, form=False, headers=None, **fields):
    body = {"client_id": RO_ID, "grant_type": "password"}
    body.update(fields)
    body = {k: v for k, v in body.items() if v is not None}
    if form:
        return s.token(form=body, path="oauth/ro", headers=headers)
    return s.token(json_body=body, path="oauth/ro", headers=headers)


def otp(s, realm, username, code, client_id=PWL_ID, secret=PWL_SECRET, **extra):
    f = {"grant_type": OTP_GRANT, "client_id": client_id,
         "client_secret": secret, "realm": realm, "username": username,
         "otp": code}
    f.update(extra)
    return s.token({k: v for k, v in f.items() if v is not None})


_serial = itertools.count(1000)


def unique_phone():
    """A fresh +1 555 number per call (tests must not share codes)."""
    return "+1555%07d" % next(_serial)


def unique_email(tag="user"):
    return "%s%d@example.org" % (tag, next(_serial))
