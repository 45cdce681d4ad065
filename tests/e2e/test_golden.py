"""
The golden corpus of malformed requests: golden/malformed.json holds each
request and the exact status and JSON body latchkey must answer.
"""
import json
from pathlib import Path

import pytest
import requests

GOLDEN = Path(__file__).parent / "golden" / "malformed.json"
CASES = json.loads(GOLDEN.read_text())["cases"]


def build_body(case):
    if "json" in case:
        body = json.dumps(case["json"]).encode()
    else:
        body = case["body"].encode()
    if "pad_to" in case:
        suffix = case.get("pad_suffix", "").encode()
        body += b"a" * (case["pad_to"] - len(body) - len(suffix)) + suffix
        assert len(body) == case["pad_to"]
    return body


@pytest.mark.parametrize("case", CASES, ids=[c["name"] for c in CASES])
def test_malformed_request_gets_exact_error(server, case):
    headers = {}
    if case.get("content_type"):
        headers["Content-Type"] = case["content_type"]
    headers.update(case.get("request_headers", {}))
    body = build_body(case)
    r = requests.request(case["method"], server.url(case["path"]),
        data=body if body or case["method"] == "POST" else None,
        headers=headers, timeout=60)
    assert r.status_code == case["status"], r.text
    assert r.headers.get("Content-Type", "").startswith("application/json"), r.headers
    assert r.json() == case["expect"]
    for name, text in case.get("headers_contain", {}).items():
        assert text in r.headers.get(name, ""), (name, r.headers)
