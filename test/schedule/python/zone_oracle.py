"""An independent reading of the same zone files the agent reads: Python's zoneinfo (PEP 615,
RFC 8536 TZif + the POSIX TZ footer), given the agent's zone directory as its only search path.

stdin: {"tzdir": str, "fromLocal": [[zone, localMs]], "toLocal": [[zone, epochMs]],
        "around": {"zones": [zone], "fromMs": int, "transitions": int, "stepsMin": [int]}}
stdout: {"fromLocal": [[epochMs, inGap]], "toLocal": [localMs],
         "around": [[zone, localMs, epochMs]]}

"local ms" is a wall time written as if it were UTC (Date.UTC of the wall fields), as the agent's
ZoneRules takes it. A wall time in a gap or a repeat resolves as Temporal's "compatible" does:
fold=0 (PEP 495) uses the offset in force before the transition, so a gap moves forward by its
length and a repeated hour takes its first occurrence.
"""
import calendar
import json
import sys
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo, reset_tzpath

UTC = timezone.utc


def wall_fields(local_ms):
    return datetime(1970, 1, 1) + timedelta(milliseconds=local_ms)


def local_ms_of(dt):
    naive = dt.replace(tzinfo=None)
    return calendar.timegm(naive.timetuple()) * 1000 + naive.microsecond // 1000


def from_local(zone, local_ms):
    wall = wall_fields(local_ms).replace(tzinfo=ZoneInfo(zone), fold=0)
    epoch_ms = round(wall.timestamp() * 1000)
    back = datetime.fromtimestamp(epoch_ms / 1000, tz=ZoneInfo(zone))
    return [epoch_ms, local_ms_of(back) != local_ms]


def to_local(zone, epoch_ms):
    return local_ms_of(datetime.fromtimestamp(epoch_ms / 1000, tz=ZoneInfo(zone)))


def offset(tz, epoch_s):
    return datetime.fromtimestamp(epoch_s, tz=tz).utcoffset()


def next_transition(tz, after_s):
    """The first instant (whole second) after after_s at which the UTC offset changes."""
    lo, step = after_s, 6 * 3600
    while offset(tz, lo + step) == offset(tz, lo):
        lo += step
        if lo - after_s > 400 * 86400 * 10:
            return None
    hi = lo + step
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if offset(tz, mid) == offset(tz, lo):
            lo = mid
        else:
            hi = mid
    return hi


def around(spec):
    out = []
    for zone in spec["zones"]:
        tz = ZoneInfo(zone)
        t = spec["fromMs"] // 1000
        for _ in range(spec["transitions"]):
            t = next_transition(tz, t)
            if t is None:
                break
            wall_after = local_ms_of(datetime.fromtimestamp(t, tz=tz))
            for dm in spec["stepsMin"]:
                lms = wall_after + dm * 60_000
                out.append([zone, lms, from_local(zone, lms)[0]])
    return out


def main():
    req = json.load(sys.stdin)
    reset_tzpath([req["tzdir"]])
    res = {
        "fromLocal": [from_local(z, ms) for z, ms in req.get("fromLocal", [])],
        "toLocal": [to_local(z, ms) for z, ms in req.get("toLocal", [])],
        "around": around(req["around"]) if "around" in req else [],
    }
    json.dump(res, sys.stdout)


main()
