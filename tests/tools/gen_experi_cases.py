#!/usr/bin/env python3
"""Builds tests/experi/: every experiment file and YAML snippet of experi's own repository
(examples/, test/data/, the YAML of test/range_test.py and of docs/*.rst), each with the tasks
experi's code expands it to. The CLI test tests/cli/test_cli_experi_corpus.cpp runs them all
through xrun.

experi is MIT licensed, copyright 2018 Malcolm Ramsay (github.com/malramsay64/experi); the
copied files keep that notice in tests/experi/LICENSE.experi.

Usage: python3 tests/tools/gen_experi_cases.py PATH/TO/experi   (needs python3-yaml, python3-numpy)

The expected tasks are experi's, with xrun's documented rules applied where they differ on
purpose (docs/experiment-file.md, "Differences from experi"): `arange` follows numpy (experi
drops `step` when `start` is 0 or absent, against its own docs); a top-level `command:` list is one
stage whose tasks run the commands in order (experi makes one job per command), and a file
without `variables:` has one combination (experi raises KeyError). Task order is
compared as a set by the test, since xrun nests keys in document order. A snippet that is not a
whole experiment gets a `command:` that echoes every variable set in all combinations. Where
experi raises, the case expects an input error (exit 2)."""
import json, pathlib, re, shutil, sys, textwrap

root = pathlib.Path(sys.argv[1]).resolve()
sys.path.insert(0, str(root / "src"))
import yaml  # noqa: E402
import numpy as np  # noqa: E402
import experi.run  # noqa: E402
from experi.run import process_jobs, variable_matrix  # noqa: E402


def numpy_arange(start=None, stop=None, step=None, dtype=None):
    """experi ignores `step` when `start` is absent or 0 (`if stop and not start`); its docs
    (input_file.rst: `stop: 500, step: 5` for "hundreds of values") and xrun follow numpy."""
    return np.arange(0 if start is None else start, stop, 1 if step is None else step, dtype=dtype)


experi.run.arange = numpy_arange

out_dir = pathlib.Path(__file__).resolve().parents[1] / "experi"


def expand(structure):
    """experi's process_structure, minus the scheduler, with xrun's one-stage command list."""
    # xrun: a file without `variables:` has one combination (experi raises KeyError).
    variables = list(variable_matrix(structure.get("variables") or {}))
    assert variables
    jobs = structure.get("jobs")
    if jobs is None:
        jobs = [{"command": structure.get("command")}]
    stages = []
    for job in process_jobs(jobs, variables):
        # Whitespace at the ends of each command does not change what runs; xrun drops a
        # template's trailing newlines, experi strips the joined string.
        stages.append([" && ".join(part.strip() for part in c.cmd) for c in job])
    return stages


def complete(structure):
    """A snippet made into a whole experiment: a command echoing the variables."""
    if not isinstance(structure, dict) or ("command" in structure or "jobs" in structure):
        return structure
    if "variables" not in structure:
        structure = {"variables": structure}
    combos = list(variable_matrix(yaml.safe_load(yaml.safe_dump(structure["variables"]))))
    names = sorted(set.intersection(*(set(c) for c in combos))) if combos else []
    structure = dict(structure)
    structure["command"] = "echo" + "".join(f" {n}={{{n}}}" for n in names)
    return structure


def write_case(name, text):
    case = out_dir / name
    case.mkdir(parents=True, exist_ok=True)
    try:
        expected = {"stages": expand(yaml.safe_load(text))}
    except Exception as e:  # experi refuses the file
        expected = {"error": f"{type(e).__name__}: {e}"}
    (case / "experiment.yml").write_text(text, encoding="utf-8")
    (case / "expected.json").write_text(json.dumps(expected, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")


if out_dir.exists():
    shutil.rmtree(out_dir)
out_dir.mkdir(parents=True)
shutil.copy(root / "LICENSE", out_dir / "LICENSE.experi")
n = 0
for f in sorted((root / "examples").glob("*.yml")):
    write_case(f"examples-{f.stem}", f.read_text(encoding="utf-8"))
    n += 1
for f in sorted((root / "test" / "data").rglob("*.yml")):
    rel = f.relative_to(root / "test" / "data").with_suffix("")
    write_case("test-" + "-".join(rel.parts), f.read_text(encoding="utf-8"))
    n += 1
# YAML strings of test/range_test.py: values of a variable named `test`.
src = (root / "test" / "range_test.py").read_text(encoding="utf-8")
for k, block in enumerate(re.findall(r'"""\n(.*?)"""', src, re.S)):
    snippet = textwrap.dedent(block)
    if "arange" not in snippet:
        continue
    text = "command: echo {test}\nvariables:\n  test:\n" + textwrap.indent(snippet, "    ")
    write_case(f"test-range_test-{k}", text)
    n += 1
# `.. code:: yaml` blocks of the docs.
for f in sorted((root / "docs").glob("*.rst")):
    lines = f.read_text(encoding="utf-8").split("\n")
    k = 0
    for i, line in enumerate(lines):
        if line.strip() not in (".. code:: yaml", ".. code-block:: yaml"):
            continue
        body = []
        for nxt in lines[i + 1:]:
            if nxt.strip() and not nxt.startswith((" ", "\t")):
                break
            body.append(nxt)
        snippet = textwrap.dedent("\n".join(body)).strip("\n") + "\n"
        k += 1
        try:
            parsed = yaml.safe_load(snippet)
        except Exception:
            continue  # not YAML on its own (a fragment with `...`)
        if not isinstance(parsed, dict):
            continue
        whole = complete(parsed)
        text = snippet if whole is parsed else yaml.safe_dump(whole, sort_keys=False)
        write_case(f"docs-{f.stem}-{k}", text)
        n += 1
print(f"{n} cases -> {out_dir}")
