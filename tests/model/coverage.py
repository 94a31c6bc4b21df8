#!/usr/bin/env python3
"""coverage.py — the model covers the table: every row of protocol_table.pml was run by at
least one configuration's exhaustive search, and every (row, outcome) entry was taken,
except the entries listed in unreachable.txt with the reason no run of the executor can
take them. An entry listed there that a search did take is an error too (the list is
stale).

    coverage.py WORKDIR protocol_table.pml unreachable.txt

WORKDIR holds NAME.cover from each configuration (check.sh): lines `COVER row R` and
`COVER pair R O`, printed by the model the first time its search runs them.
"""
import glob
import os
import re
import sys


def main():
    if len(sys.argv) != 4:
        print(__doc__, file=sys.stderr)
        return 2
    work, table_path, allow_path = sys.argv[1:]
    table = open(table_path).read()
    rows = {int(v): n for n, v in re.findall(r"#define R_(\w+) (\d+)", table) if n not in ("DONE", "LEAVE", "DROP", "RETRY")}
    outcomes = {int(v): n for n, v in re.findall(r"#define O_(\w+) (\d+)", table)}
    by_name_row = {n: v for v, n in rows.items()}
    by_name_outcome = {n: v for v, n in outcomes.items()}
    pairs = {(by_name_row[r], by_name_outcome[o]) for r, o in re.findall(r":: row == R_(\w+) && outcome == O_(\w+) ->", table)}

    covers = sorted(glob.glob(os.path.join(work, "*.cover")))
    if not covers:
        print(f"coverage: no *.cover in {work}: run the model configurations first (ctest -L model)")
        return 1
    seen_rows, seen_pairs = set(), set()
    for path in covers:
        for line in open(path):
            parts = line.split()
            if parts[:2] == ["COVER", "row"]:
                seen_rows.add(int(parts[2]))
            elif parts[:2] == ["COVER", "pair"]:
                seen_pairs.add((int(parts[2]), int(parts[3])))

    allowed = {}
    for number, line in enumerate(open(allow_path), 1):
        text = line.split("#", 1)[0].strip()
        if not text:
            continue
        row, outcome = text.split()[:2]
        if row not in by_name_row or outcome not in by_name_outcome:
            print(f"coverage: {allow_path}:{number}: no such row or outcome: {row} {outcome}")
            return 1
        allowed[(by_name_row[row], by_name_outcome[outcome])] = line.split("#", 1)[1].strip() if "#" in line else ""

    errors = 0
    for r in sorted(rows):
        if r not in seen_rows:
            print(f"coverage: row {rows[r]} was never run by any configuration")
            errors += 1
    for r, o in sorted(pairs - seen_pairs):
        if (r, o) not in allowed:
            print(f"coverage: the table's entry {rows[r]}/{outcomes[o]} was never taken (and unreachable.txt does not say why)")
            errors += 1
    for r, o in sorted(allowed):
        if (r, o) in seen_pairs:
            print(f"coverage: {rows[r]}/{outcomes[o]} is listed as unreachable but a search took it: remove it from unreachable.txt")
            errors += 1
        elif (r, o) not in pairs:
            print(f"coverage: {rows[r]}/{outcomes[o]} is listed as unreachable but the table has no such entry")
            errors += 1
    extra = seen_pairs - pairs
    for r, o in sorted(extra):
        print(f"coverage: the model took {rows.get(r, r)}/{outcomes.get(o, o)}, which the table does not list")
        errors += 1
    taken = len(pairs & seen_pairs)
    print(f"coverage: {len(seen_rows & set(rows))} of {len(rows)} rows, {taken} of {len(pairs)} entries taken "
          f"({len(allowed)} unreachable by design) over {len(covers)} configurations")
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
