"""A Companion envelope signer/verifier in Python, written from docs/protocol.md alone.

It is the "other side" of the cross-language test (test/sync/xlang-signing.test.ts): Ed25519 from
Debian's python3-cryptography, RFC 8785 from jcs.py beside it. Run with Debian's interpreter
(/usr/bin/python3), which has those packages.

Every command reads a JSON array from stdin and writes a JSON array (one output per input) to
stdout. Inputs are JSON texts (strings), so number spellings such as 0.0 or 1e21 reach the parser
exactly as written.

  canonical                       JSON text            -> hex of its canonical bytes
  sign --seed HEX [--naive] [--wire compact|ascii|pretty]
                                  unsigned envelope    -> signed envelope, as JSON text for the wire
  verify --public-key B64         signed envelope      -> true / false
  keys --seed HEX                 (no input)           -> {publicKey, privateKeyPem}
  numbers                         IEEE 754 bits in hex -> the number's canonical form
  canonicaljson                   JSON text            -> hex of canonicaljson's bytes ALONE (shows
                                                          why jcs.py adds key order and numbers)
"""

import argparse
import base64
import json
import struct
import sys

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

import canonicaljson

from jcs import canonicalize, serialize_number


def signed_bytes(envelope):
    """The bytes a signature covers: the envelope without its sig member, canonicalised."""
    return canonicalize({k: v for k, v in envelope.items() if k != "sig"})


def naive_signed_bytes(envelope):
    """The pitfall: what a signer following the old wording would write. NOT canonical."""
    rest = {k: v for k, v in envelope.items() if k != "sig"}
    return json.dumps(rest, sort_keys=True, separators=(",", ":")).encode("utf-8")


def private_key(seed_hex):
    return Ed25519PrivateKey.from_private_bytes(bytes.fromhex(seed_hex))


def public_key_base64(key):
    raw = key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return base64.b64encode(raw).decode("ascii")


def sign(envelope, key, naive=False):
    data = naive_signed_bytes(envelope) if naive else signed_bytes(envelope)
    signed = dict(envelope)
    signed["sig"] = base64.b64encode(key.sign(data)).decode("ascii")
    return signed


def verify(envelope, public_key_b64):
    sig = envelope.get("sig")
    if not isinstance(sig, str):
        return False
    try:
        sig_bytes = base64.b64decode(sig, validate=True)
        key = Ed25519PublicKey.from_public_bytes(base64.b64decode(public_key_b64, validate=True))
        key.verify(sig_bytes, signed_bytes(envelope))
        return True
    except (InvalidSignature, ValueError):
        return False


def wire(envelope, style):
    """The JSON text put on the wire: deliberately NOT the canonical form (the unit must not care)."""
    if style == "ascii":  # non-ASCII as \\u escapes, Python's key order, Python's spacing
        return json.dumps(envelope)
    if style == "pretty":  # members in reverse order, indented
        return json.dumps(dict(reversed(list(envelope.items()))), ensure_ascii=False, indent=2)
    return json.dumps(envelope, ensure_ascii=False, separators=(",", ":"))


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("command", choices=["canonical", "sign", "verify", "keys", "numbers", "canonicaljson"])
    parser.add_argument("--seed")
    parser.add_argument("--public-key")
    parser.add_argument("--naive", action="store_true")
    parser.add_argument("--wire", choices=["compact", "ascii", "pretty"], default="compact")
    args = parser.parse_args()

    if args.command == "keys":
        key = private_key(args.seed)
        pem = key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        out = {"publicKey": public_key_base64(key), "privateKeyPem": pem.decode("ascii")}
        json.dump(out, sys.stdout)
        return

    inputs = json.load(sys.stdin)
    if args.command == "canonical":
        out = [canonicalize(json.loads(text)).hex() for text in inputs]
    elif args.command == "canonicaljson":
        out = [canonicaljson.encode_canonical_json(json.loads(text)).hex() for text in inputs]
    elif args.command == "sign":
        key = private_key(args.seed)
        out = [wire(sign(json.loads(text), key, args.naive), args.wire) for text in inputs]
    elif args.command == "verify":
        out = [verify(json.loads(text), args.public_key) for text in inputs]
    else:
        out = [serialize_number(struct.unpack(">d", bytes.fromhex(h))[0]) for h in inputs]
    json.dump(out, sys.stdout)


if __name__ == "__main__":
    main()
