"""Reads a Prometheus text exposition on stdin with the Python client's own parser
(Debian's python3-prometheus-client) and prints what it understood as JSON: every family with its
type, help and samples. Non-finite values are spelled as strings ("NaN", "+Inf", "-Inf")."""
import json
import math
import sys

from prometheus_client.parser import text_string_to_metric_families


def value(v):
    if math.isnan(v):
        return "NaN"
    if math.isinf(v):
        return "+Inf" if v > 0 else "-Inf"
    return v


families = []
for f in text_string_to_metric_families(sys.stdin.read()):
    families.append({
        "name": f.name,
        "type": f.type,
        "help": f.documentation,
        "samples": [{"name": s.name, "labels": s.labels, "value": value(s.value)} for s in f.samples],
    })
json.dump(families, sys.stdout)
