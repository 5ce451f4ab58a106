#!/usr/bin/env python3
"""promparse.py FILE -- reads a Prometheus text page (exposition format
0.0.4) with the parser of prometheus_client (Debian: python3-prometheus-client)
and prints one sample a line, as

    NAME{LABEL="VALUE",...} NUMBER

with the labels sorted, so that a test can look a sample up by its exact
text.  Exits 1, saying why on stderr, when the page does not parse, or a
family has no HELP or TYPE, or a name lacks the vigil_ prefix, or a counter
sample does not end in _total, or a sample comes twice, or a histogram's
buckets are not cumulative up to +Inf == _count.
"""
import math
import sys

from prometheus_client.parser import text_string_to_metric_families


def fail(why):
    print("promparse: " + why, file=sys.stderr)
    sys.exit(1)


def number(v):
    if math.isinf(v):
        return "+Inf" if v > 0 else "-Inf"
    if v == int(v):
        return str(int(v))
    return repr(v)


def check_histogram(fam):
    groups = {}
    for s in fam.samples:
        rest = {k: v for k, v in s.labels.items() if k != "le"}
        key = tuple(sorted(rest.items()))
        g = groups.setdefault(key, {"buckets": [], "count": None})
        if s.name.endswith("_bucket"):
            g["buckets"].append((float(s.labels["le"]), s.value))
        elif s.name.endswith("_count"):
            g["count"] = s.value
    for key, g in groups.items():
        b = sorted(g["buckets"])
        if not b or not math.isinf(b[-1][0]):
            fail("%s: no +Inf bucket" % fam.name)
        for (le0, v0), (le1, v1) in zip(b, b[1:]):
            if v1 < v0:
                fail("%s: bucket le=%s (%s) below le=%s (%s)" % (fam.name, le1, v1, le0, v0))
        if g["count"] != b[-1][1]:
            fail("%s: _count %s is not the +Inf bucket %s" % (fam.name, g["count"], b[-1][1]))


def main():
    if len(sys.argv) != 2:
        fail("usage: promparse.py FILE")
    with open(sys.argv[1], encoding="utf-8") as f:
        text = f.read()
    seen = set()
    try:
        families = list(text_string_to_metric_families(text))
    except Exception as e:  # the parser raises ValueError and others
        fail("does not parse: %s" % e)
    if not families:
        fail("no metrics")
    for fam in families:
        if not fam.name.startswith("vigil_"):
            fail("%s: not a vigil_ name" % fam.name)
        if fam.type not in ("counter", "gauge", "histogram"):
            fail("%s: type %s (no TYPE line?)" % (fam.name, fam.type))
        if not fam.documentation:
            fail("%s: no HELP text" % fam.name)
        if fam.type == "histogram":
            check_histogram(fam)
        for s in fam.samples:
            if fam.type == "counter" and not s.name.endswith("_total"):
                # prometheus_client also reports a _created sample for
                # counters of its own; a page of ours has none.
                fail("%s: counter sample without _total" % s.name)
            labels = ",".join('%s="%s"' % (k, v) for k, v in sorted(s.labels.items()))
            key = s.name + ("{" + labels + "}" if labels else "")
            if key in seen:
                fail("%s: given twice" % key)
            seen.add(key)
            print("%s %s" % (key, number(s.value)))


if __name__ == "__main__":
    main()
