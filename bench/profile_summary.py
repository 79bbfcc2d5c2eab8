"""Sums a Chrome trace (bench/bench_step --profile) by op name: self time is not separated, so
nested ops (e.g. aten::linear around aten::addmm) both count; read the leaves (mm, addmm, copy_,
fill_, ...). Usage: python3 bench/profile_summary.py trace.json [top]"""
import collections
import json
import sys

events = json.load(open(sys.argv[1]))
events = events["traceEvents"] if isinstance(events, dict) else events
total = collections.Counter()
calls = collections.Counter()
for e in events:
    if e.get("ph") == "X":
        total[e["name"]] += e.get("dur", 0)
        calls[e["name"]] += 1
top = int(sys.argv[2]) if len(sys.argv) > 2 else 25
for name, us in total.most_common(top):
    print(f"{us / 1e3:10.1f} ms {calls[name]:6d}  {name}")
