"""schemathesis hooks for scripts/schemathesis.sh (loaded through SCHEMATHESIS_HOOKS)."""

import uuid

import schemathesis


@schemathesis.hook
def before_call(context, case, kwargs):
    # An Idempotency-Key promises one reply per request: the same key with another body is
    # refused (422 idempotency_key_reused, as the IETF draft says), which tests/it covers.
    # Generated cases would reuse the few keys the generator likes ("", "0") across
    # different bodies, so each request gets a key of its own.
    for headers in (case.headers, kwargs.get("headers")):
        if headers and str(headers.get("Idempotency-Key", "")).strip():
            headers["Idempotency-Key"] = str(uuid.uuid4())
