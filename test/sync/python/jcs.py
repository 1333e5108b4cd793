"""RFC 8785 JSON Canonicalization Scheme (JCS) in Python: the bytes a Companion signature covers.

Written from RFC 8785 alone (not from the unit's TypeScript). Strings and integers are written by
Debian's python3-canonicaljson (PyPI: canonicaljson), which already writes strings the RFC's way
(UTF-8, only '"', '\\' and U+0000..U+001F escaped). Two things it does NOT do the RFC's way, so
they are here: object members are sorted by their UTF-16 code units (canonicaljson sorts by code
point, which differs for keys above U+FFFF against keys in U+E000..U+FFFF), and non-integer numbers
are written as ECMAScript writes them (canonicaljson writes Python's repr: 0.0, 1.5e-07).
"""

import math

import canonicaljson

MAX_SAFE_INTEGER = 2**53 - 1


def canonicalize(value):
    """The canonical UTF-8 bytes of a parsed JSON value (what json.loads returns)."""
    return _serialize(value).encode("utf-8")


def _serialize(value):
    if value is None or value is True or value is False:
        return canonicaljson.encode_canonical_json(value).decode("utf-8")
    if isinstance(value, str):
        # Raises UnicodeEncodeError on a lone surrogate: such a string has no canonical form.
        return canonicaljson.encode_canonical_json(value).decode("utf-8")
    if isinstance(value, int):
        # JSON numbers are IEEE 754 doubles (RFC 8785 3.2.2.3). Integers a double holds exactly
        # print as themselves; larger ones are first rounded to the double a JSON parser makes.
        if abs(value) <= MAX_SAFE_INTEGER:
            return canonicaljson.encode_canonical_json(value).decode("utf-8")
        return serialize_number(float(value))
    if isinstance(value, float):
        return serialize_number(value)
    if isinstance(value, (list, tuple)):
        return "[" + ",".join(_serialize(v) for v in value) + "]"
    if isinstance(value, dict):
        keys = sorted(value, key=lambda k: k.encode("utf-16-be"))  # UTF-16 code unit order
        members = (_serialize(k) + ":" + _serialize(value[k]) for k in keys)
        return "{" + ",".join(members) + "}"
    raise TypeError(f"not a JSON value: {type(value).__name__}")


def serialize_number(x):
    """RFC 8785 3.2.2.3 (ECMAScript Number::toString) for a finite double."""
    if math.isnan(x) or math.isinf(x):
        raise ValueError("NaN and Infinity have no JSON form")
    if x == 0:
        return "0"  # also -0
    if x < 0:
        return "-" + serialize_number(-x)
    # repr() gives the shortest digit string that reads back as x (the closest one when there are
    # several), which is exactly the s and k of ECMAScript's definition.
    mantissa, _, exp = repr(x).partition("e")
    whole, _, frac = mantissa.partition(".")
    digits = (whole + frac).lstrip("0")
    # x = 0.digits * 10**n: n counts the digits before the decimal point.
    n = len(whole.lstrip("0")) if whole.strip("0") else -(len(frac) - len(frac.lstrip("0")))
    n += int(exp or 0)
    digits = digits.rstrip("0")
    k = len(digits)
    if k <= n <= 21:
        return digits + "0" * (n - k)
    if 0 < n <= 21:
        return digits[:n] + "." + digits[n:]
    if -6 < n <= 0:
        return "0." + "0" * -n + digits
    e = n - 1
    sign = "+" if e >= 0 else "-"
    head = digits[0] + ("." + digits[1:] if k > 1 else "")
    return head + "e" + sign + str(abs(e))
