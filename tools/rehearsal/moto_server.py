"""moto_server, with two fixes (run with .local/moto-venv's python): its
signature check, and DynamoDB requests served one at a time.

moto re-computes each request's SigV4 signature to authenticate it. For a
form-encoded body (the query protocol: SNS, IAM, EC2, ...) werkzeug has
already consumed the body for the form, so moto re-encodes the parsed form
with Python's urlencode (space -> "+"), while the AWS SDK for Rust encodes a
space as "%20": the payload hash differs and every such request that carries
a space (e.g. sns:Publish of an order with an address) is refused with
SignatureDoesNotMatch. Here the raw body is kept per request and given to
the signature check; nothing else changes (the check itself still runs).

DynamoDB applies each write to an item atomically, its condition included;
moto serves requests on threads and evaluates a conditional UpdateItem as
read, check, write without a lock, so two workers adding to the same item's
string set at the same moment can lose one addition. DynamoDB requests
(X-Amz-Target DynamoDB_*) are therefore served one at a time here.

Usage: python moto_server.py -H 127.0.0.1 -p PORT   (moto_server's arguments)
"""

from __future__ import annotations

import io
import sys
import threading

from moto import server
from moto.iam import access_control
from moto.moto_server import werkzeug_app

_request = threading.local()
_dynamodb = threading.Lock()

_dispatch = werkzeug_app.DomainDispatcherApplication.__call__


def _call(self, environ, start_response):
    _request.body = None
    length = environ.get("CONTENT_LENGTH")
    if length and length.isdigit():
        body = environ["wsgi.input"].read(int(length))
        environ["wsgi.input"] = io.BytesIO(body)
        _request.body = body
    if environ.get("HTTP_X_AMZ_TARGET", "").startswith("DynamoDB_"):
        with _dynamodb:
            return _dispatch(self, environ, start_response)
    return _dispatch(self, environ, start_response)


werkzeug_app.DomainDispatcherApplication.__call__ = _call

_create_aws_request = access_control.IAMRequestBase._create_aws_request


def _create_aws_request_with_raw_body(self):
    request = _create_aws_request(self)
    raw = getattr(_request, "body", None)
    if not self._body and raw:
        request.data = raw
    return request


access_control.IAMRequestBase._create_aws_request = _create_aws_request_with_raw_body

if __name__ == "__main__":
    server.main(sys.argv[1:])
