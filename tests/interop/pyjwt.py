"""Speaks for Python's PyJWT in tests/interop.rs: one JSON request on stdin, one JSON
answer on stdout. Secrets come in on stdin, never on the command line.

  {"op":"sign","claims":{...},"kid":"key_...","secret":"sk_..."} -> {"token":"..."}
  {"op":"verify","token":"...","secret":"sk_..."}                -> {"header":{...},"payload":{...}}
  {"op":"verify_application","token":"...","jwk":{...}}          -> {"header":{...},"payload":{...}}

EdDSA needs the `cryptography` package next to PyJWT.
"""

import json
import sys

import jwt

request = json.load(sys.stdin)
if request["op"] == "sign":
    # PyJWT's usual call; it adds "typ": "JWT" to the header by default.
    token = jwt.encode(request["claims"], request["secret"], algorithm="HS256", headers={"kid": request["kid"]})
    answer = {"token": token}
elif request["op"] == "verify":
    payload = jwt.decode(request["token"], request["secret"], algorithms=["HS256"])
    answer = {"header": jwt.get_unverified_header(request["token"]), "payload": payload}
elif request["op"] == "verify_application":
    key = jwt.PyJWK(request["jwk"])
    payload = jwt.decode(request["token"], key, algorithms=["EdDSA"], issuer="sourcehealth")
    answer = {"header": jwt.get_unverified_header(request["token"]), "payload": payload}
else:
    raise SystemExit(f"unknown op: {request['op']}")
json.dump(answer, sys.stdout)
