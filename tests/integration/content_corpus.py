"""The hostile corpus of the content tests, generated here (no fixture files).

Each item is what an attacker who knows the checks would try (or a benign file that
looks close): its name below the task, bytes, Content-Type and user metadata, the
verdict it must get ("promoted", "blocked" or "in_review"), and for the others the
check and words its finding must carry. `secrets` lists strings that must never
appear in a manifest, the audit log, a log line or an API answer.
"""

from dataclasses import dataclass, field

# The route under attack: auto review, text, CSV, JSON, PDF and PNG allowed.
ROUTE_CHECKS = {
    "max_bytes": "1MiB",
    "allow_types": ["text/plain", "text/csv", "application/json", "application/pdf", "image/png"],
    "deny_types": ["application/x-executable", "application/x-sharedlib"],
}

CSV = b"id,name,value\n" + b"".join(b"%d,row%d,%d\n" % (i, i, i * 7) for i in range(40))


@dataclass
class Item:
    name: str
    data: bytes
    expect: str
    why: str
    check: str = ""
    detail: list = field(default_factory=list)
    content_type: str = "text/csv"
    metadata: dict = field(default_factory=dict)
    secrets: list = field(default_factory=list)


def key_items():
    def bad(name, why, detail):
        return Item(name, CSV, "blocked", why, "key", [detail])

    return [
        bad("report\u202evsc.exe", "right-to-left override: reads reportexe.csv", "U+202E"),
        bad("next\u0085line.csv", "C1 control NEL", "U+0085"),
        bad("csi\u009b31m.csv", "C1 control CSI", "U+009B"),
        bad("zero\u200bwidth.csv", "zero-width space", "U+200B"),
        bad("joiner\u200d.csv", "zero-width joiner", "U+200D"),
        bad("\ufeffbom.csv", "byte order mark", "U+FEFF"),
        bad("isolate\u2066.csv", "left-to-right isolate", "U+2066"),
        bad("mark\u061c.csv", "Arabic letter mark", "U+061C"),
        bad("%2e%2e/x.csv", "percent-encoded dot segment", "percent-encoded"),
        bad("%252e%252e/y.csv", "double percent-encoded dot segment", "percent-encoded"),
        bad("..%2fz.csv", "percent-encoded separator", "percent-encoded"),
        bad("\uff0e\uff0e\uff0fw.csv", "full-width dots and slash", "look-alike"),
        # what held and keeps holding
        bad("sub/../escape.csv", "dot segment", "\"..\" segment"),
        bad("./here.csv", "dot segment", "\".\" or \"..\" segment"),
        bad("double//slash.csv", "empty segment", "empty segment"),
        bad("tab\there.csv", "control character", "control character"),
        # near misses
        Item("caf\u00e9-na\u00efve.csv", CSV, "promoted", "accents"),
        Item("\u65e5\u672c\u8a9e.csv", CSV, "promoted", "CJK name"),
        Item("100%25.csv", CSV, "promoted", "an escape that decodes to %"),
        Item("a..b.csv", CSV, "promoted", "dots inside a name"),
    ]


def metadata_items():
    return [
        Item("meta64.csv", CSV, "blocked", "64 pairs totalling 2.5 KiB", "metadata", ["64 pairs"],
             metadata={f"k{i:02d}": "v" * 37 for i in range(64)}),
        Item("meta33.csv", CSV, "blocked", "32 one-byte pairs and a 4 KiB 33rd", "metadata", ["33 pairs"],
             metadata={**{f"a{i:02d}": "v" for i in range(32)}, "zz": "w" * 4096}),
        Item("meta-small.csv", CSV, "promoted", "a few small pairs",
             metadata={f"k{i}": "value" for i in range(10)}),
    ]


def build(root):
    """The whole corpus; `root` is the repository (for rules files the items cite)."""
    del root
    return key_items() + metadata_items()
