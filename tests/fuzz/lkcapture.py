"""
A pytest plugin for tests/fuzz/seeds.py: records every HTTP request the
end-to-end tests send (method, path, the headers latchkey reads, body) as
one JSON line each in the file LK_FUZZ_CAPTURE.  Loaded with
`-p lkcapture` and tests/fuzz on PYTHONPATH.
"""
import base64
import json
import os
import urllib.parse

import requests.adapters

HEADERS = ("content-type", "authorization", "dpop", "auth0-forwarded-for")
_send = requests.adapters.HTTPAdapter.send


def _record(req):
    body = req.body or b""
    if isinstance(body, str):
        body = body.encode()
    if not isinstance(body, bytes):
        return
    path = urllib.parse.urlsplit(req.url).path
    hdr = {k: req.headers[k] for k in req.headers if k.lower() in HEADERS}
    line = {"method": req.method, "path": path,
        "headers": {k.lower(): v for k, v in hdr.items()},
        "body": base64.b64encode(body).decode()}
    with open(os.environ["LK_FUZZ_CAPTURE"], "a") as f:
        f.write(json.dumps(line) + "\n")


def send(self, request, *args, **kw):
    try:
        _record(request)
    except Exception:	# a request the tests build oddly: not a seed
        pass
    return _send(self, request, *args, **kw)


requests.adapters.HTTPAdapter.send = send
