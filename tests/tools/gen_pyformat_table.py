#!/usr/bin/env python3
"""Generates tests/unit/data/pyformat_table.tsv: what Python's str.format makes of many values
and format specs. The unit test (tests/unit/test_spec_pyformat.cpp) checks xrun's renderer
against every row; rerun this script (any Python 3.8+) to extend the table.

Columns: kind (int, bigint, float, bool, str, none), the value (ints and bigints in decimal,
floats as repr(), strings with \\t \\n \\\\ escaped), the field after the name (e.g. ':.3f' or
'!r'), and Python's result or ERROR when Python raises."""
import math, pathlib

values = [
    ("int", 0), ("int", 7), ("int", -42), ("int", 123456789), ("int", 2**63 - 1),
    ("bigint", 2**70), ("bigint", -(2**65) - 3),
    ("float", 0.0), ("float", -0.0), ("float", 1.0), ("float", 123.4), ("float", 1500.0), ("float", 0.1),
    ("float", 1e16), ("float", 1e-5), ("float", 2.5), ("float", -3.75), ("float", 1e22), ("float", 123456.789),
    ("float", 0.00012345), ("float", float("inf")), ("float", float("-inf")), ("float", float("nan")),
    ("bool", True), ("bool", False),
    ("str", "abc"), ("str", ""), ("str", "héllo"), ("str", "it's"), ("str", 'say "hi"'), ("str", "tab\there"),
    ("str", "line\nbreak"), ("str", "back\\slash"), ("str", "日本"), ("str", "\x07bell"), ("str", "emoji 😀"),
    ("none", None),
]
fields = [
    "", "!s", "!r", "!a", ":", ":s", ":10", ":<10", ":>10", ":^10", ":*^11", ":=+8", ":+", ": ", ":-",
    ":d", ":5d", ":05d", ":+d", ":,d", ":_d", ":x", ":#x", ":X", ":#o", ":b", ":#b", ":c", ":n",
    ":f", ":.0f", ":.1f", ":.2f", ":.3f", ":08.2f", ":+.2f", ":,.2f", ":_.1f", ":e", ":.2e", ":E", ":g",
    ":.3g", ":G", ":.3", ":.4", ":.1", ":.0", ":.10", ":%", ":.0%", ":.1%", ":#.0f", ":#g", ":#.3",
    ":.2s", ":>8.3s", ":10.4", ":z.1f", ":,", ":_", ":.3n", "!r:>10", "!a:^12", "!s:.2",
]

def esc(s):
    return s.replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n")

rows = []
for kind, v in values:
    for f in fields:
        try:
            out = ("{x" + f + "}").format(x=v)
        except Exception:
            out = None
        if kind == "float":
            text = repr(v)
        elif kind == "str":
            text = esc(v)
        else:
            text = str(v)
        rows.append("\t".join([kind, text, f, "ERROR" if out is None else esc(out)]))

out = pathlib.Path(__file__).resolve().parents[1] / "unit" / "data" / "pyformat_table.tsv"
out.write_text("\n".join(rows) + "\n", encoding="utf-8")
print(f"{len(rows)} rows -> {out}")
