"""config_keys_read.py GEN_CONFIG_DOC SOURCE_DIR — fails for any configuration key that
no code outside config/ reads: a key the loader accepts must do what it says.

`gen-config-doc --keys` lists every key of the schema tables with the C member it is
stored in and an extended regular expression for code that reads it ("s3 . or ->
max_in_flight"). The sources of mover/ and review/ are searched with comments removed
and string and character literals emptied (so a log message or a comment naming a key
does not count as reading it); a match followed by a single "=" is an assignment (a
designated initializer of some other struct with a member of the same name), not a
read. Each key's first reading place (file:line: match) is printed, so a reviewer can
see where it is used. One pass in one process: the whole tree is read once.
"""
import os
import re
import subprocess
import sys

# A C token stream reduced to what matters here: comments out (a newline kept for each
# one they spanned), string and character literals emptied.
LEXEME = re.compile(r'//[^\n]*|/\*.*?\*/|"(?:[^"\\\n]|\\.)*"|\'(?:[^\'\\\n]|\\.)*\'', re.S)


def strip(text):
    def repl(m):
        s = m.group(0)
        if s.startswith("//"):
            return ""
        if s.startswith("/*"):
            return "\n" * s.count("\n") or " "
        return s[0] * 2
    return LEXEME.sub(repl, text)


def sources(root):
    for top in ("mover", "review"):
        for folder, dirs, files in os.walk(os.path.join(root, top)):
            dirs.sort()
            for name in sorted(files):
                if name.endswith((".c", ".h")):
                    path = os.path.join(folder, name)
                    with open(path, encoding="utf-8", errors="replace") as f:
                        yield os.path.relpath(path, root), strip(f.read()).split("\n")


def python_regex(ere):
    """gen-config-doc writes POSIX extended expressions; the classes it uses, in Python's."""
    return ere.replace("[[:space:]]", r"\s")


def main():
    gen, root = sys.argv[1], sys.argv[2]
    listing = subprocess.run([gen, "--keys"], check=True, capture_output=True, text=True).stdout
    keys = [line.split("\t") for line in listing.splitlines() if line]
    if not keys:
        sys.exit("config_keys_read: gen-config-doc listed no keys")
    files = list(sources(root))
    unread = 0
    for path, member, ere in keys:
        pattern = re.compile("(" + python_regex(ere) + r")\s*(==?)?")
        hit = None
        for rel, lines in files:
            for number, line in enumerate(lines, 1):
                for m in pattern.finditer(line):
                    if m.group(0).endswith("=") and not m.group(0).endswith("=="):
                        continue  # an assignment
                    hit = f"{rel}:{number}:{m.group(1)}"
                    break
                if hit:
                    break
            if hit:
                break
        if hit:
            print(f"{path:<34} {hit}"[:160])
        else:
            print(f"UNREAD {path} (stored in {member}): no code outside config/ reads it", file=sys.stderr)
            unread += 1
    if unread:
        sys.exit(f"config_keys_read: {unread} of {len(keys)} keys are accepted by the loader and read by nothing: "
                 "make them do what docs/configuration.md says, or remove them")
    print(f"config_keys_read: all {len(keys)} keys are read")


if __name__ == "__main__":
    main()
