"""A strict-enough checker for the Prometheus text exposition format 0.0.4.

check(text) returns the samples as {(name, frozenset(labels.items())): value}
and raises ValueError naming the line for anything a Prometheus server would
reject or that breaks the conventions the tools promise: metric and label
names, # HELP / # TYPE before the samples, one TYPE per family, counters
ending in _total, histograms with cumulative buckets, le="+Inf" equal to
_count, and _sum present.
"""
import math
import re

NAME = r"[a-zA-Z_:][a-zA-Z0-9_:]*"
LABEL = r"[a-zA-Z_][a-zA-Z0-9_]*"
SAMPLE = re.compile(r"^(" + NAME + r")(\{(.*)\})?\s+(\S+)(\s+-?\d+)?$")
LABEL_PAIR = re.compile(r'\s*(' + LABEL + r')="((?:[^"\\\n]|\\.)*)"\s*(,|$)')
TYPES = {"counter", "gauge", "histogram", "summary", "untyped"}


def parse_value(text, where):
    if text in ("+Inf", "-Inf", "NaN"):
        return float(text.replace("Inf", "inf").replace("NaN", "nan"))
    try:
        return float(text)
    except ValueError:
        raise ValueError(f"{where}: bad value {text!r}")


def parse_labels(text, where):
    labels = {}
    pos = 0
    while pos < len(text):
        m = LABEL_PAIR.match(text, pos)
        if not m:
            raise ValueError(f"{where}: bad labels {text!r}")
        if m.group(1) in labels:
            raise ValueError(f"{where}: label {m.group(1)} twice")
        labels[m.group(1)] = m.group(2)
        pos = m.end()
    return labels


def family_of(name, types):
    for suffix in ("_bucket", "_sum", "_count"):
        if name.endswith(suffix) and types.get(name[: -len(suffix)]) == "histogram":
            return name[: -len(suffix)]
    return name


def check(text):
    if not text.endswith("\n"):
        raise ValueError("exposition does not end with a newline")
    types, helps, samples, seen_families = {}, set(), {}, []
    for number, line in enumerate(text.split("\n")[:-1], 1):
        where = f"line {number}"
        if line.startswith("#"):
            parts = line.split(None, 3)
            if len(parts) >= 3 and parts[1] in ("HELP", "TYPE"):
                if not re.fullmatch(NAME, parts[2]):
                    raise ValueError(f"{where}: bad metric name {parts[2]!r}")
                if parts[1] == "TYPE":
                    if len(parts) != 4 or parts[3] not in TYPES:
                        raise ValueError(f"{where}: bad TYPE line")
                    if parts[2] in types:
                        raise ValueError(f"{where}: second TYPE for {parts[2]}")
                    if parts[2] in seen_families:
                        raise ValueError(f"{where}: TYPE after samples of {parts[2]}")
                    types[parts[2]] = parts[3]
                else:
                    if parts[2] in helps:
                        raise ValueError(f"{where}: second HELP for {parts[2]}")
                    helps.add(parts[2])
            continue
        if not line.strip():
            continue
        m = SAMPLE.match(line)
        if not m:
            raise ValueError(f"{where}: not a sample: {line!r}")
        name, labels = m.group(1), parse_labels(m.group(3) or "", where)
        value = parse_value(m.group(4), where)
        family = family_of(name, types)
        if family not in types:
            raise ValueError(f"{where}: {name} has no # TYPE before it")
        if family not in helps:
            raise ValueError(f"{where}: {name} has no # HELP before it")
        if seen_families and seen_families[-1] != family and family in seen_families:
            raise ValueError(f"{where}: samples of {family} are not together")
        if not seen_families or seen_families[-1] != family:
            seen_families.append(family)
        if types[family] == "counter":
            if not name.endswith("_total"):
                raise ValueError(f"{where}: counter {name} does not end in _total")
            if value < 0 or math.isnan(value):
                raise ValueError(f"{where}: counter {name} is {value}")
        key = (name, frozenset(labels.items()))
        if key in samples:
            raise ValueError(f"{where}: {name}{labels} twice")
        samples[key] = value
    for family, kind in types.items():
        if kind != "histogram":
            continue
        buckets = sorted(
            ((parse_value(dict(k[1])["le"], family), v) for k, v in samples.items()
             if k[0] == family + "_bucket"),
        )
        if not buckets or buckets[-1][0] != math.inf:
            raise ValueError(f"{family}: no le=\"+Inf\" bucket")
        for (_, a), (_, b) in zip(buckets, buckets[1:]):
            if b < a:
                raise ValueError(f"{family}: buckets are not cumulative")
        count = samples.get((family + "_count", frozenset()))
        if count is None or (family + "_sum", frozenset()) not in samples:
            raise ValueError(f"{family}: _count or _sum missing")
        if count != buckets[-1][1]:
            raise ValueError(f"{family}: _count {count} != +Inf bucket {buckets[-1][1]}")
    return samples


def value(samples, name, **labels):
    return samples.get((name, frozenset(labels.items())))
