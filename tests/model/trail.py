#!/usr/bin/env python3
"""trail.py — reads `spin -t` output of protocol.pml on stdin and prints its TRACE lines
with the table's names for rows, outcomes and states (from protocol_table.pml beside it).

    spin -t -DMOVERS=2 protocol.pml | python3 trail.py
"""
import os
import re
import sys

table = open(os.path.join(os.path.dirname(os.path.abspath(__file__)), "protocol_table.pml")).read()
names = {}
for kind, name, value in re.findall(r"#define ([ROA])_(\w+) (-?\d+)", table):
    names.setdefault(kind, {})[int(value)] = name
faults = {0: "", 1: " [indefinite, before]", 2: " [indefinite, AFTER it took effect]", 3: " [refused]",
          4: " [took effect, then the mover crashed]"}
contents = {0: "good", 1: "bad", 2: "one admission rejects"}


def row(n):
    return names["R"].get(n, str(n))


for line in sys.stdin:
    if "TRACE" not in line:
        continue
    text = line.split("TRACE", 1)[1].strip()
    m = re.match(r"mover (\d+) v(\d+) row (-?\d+) fault (\d+) outcome (-?\d+) -> (-?\d+) \(state (-?\d+) verdict (-?\d+)\)", text)
    if m:
        mover, v, r, f, o, n, st, verdict = map(int, m.groups())
        v_text = "" if verdict < 0 else f", verdict {names['A'].get(verdict)}"
        print(f"  mover {mover}: v{v} {row(r)} -> {names['O'].get(o, o)}{faults.get(f, '')} -> {row(n)}"
              f"   (state {names['A'].get(st, st)}{v_text})")
        continue
    m = re.match(r"mover (\d+) v(\d+) row (-?\d+) fault (\d+): CRASH", text)
    if m:
        mover, v, r, f = map(int, m.groups())
        print(f"  mover {mover}: v{v} {row(r)}: the request took effect, then mover {mover} CRASHED")
        continue
    m = re.match(r"upload v(\d+) content (\d+)", text)
    if m:
        print(f"world: upload v{m.group(1)} ({contents[int(m.group(2))]})")
        continue
    print(("world: " if text.startswith(("review", "calm", "decision", "operator")) else "  ") + text)
