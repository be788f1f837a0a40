#!/usr/bin/python3
"""schema/job.schema.json and the C validator (conversion/spec.c, through
build/tools/kiln_recipe_cli) must agree: every example in the schema is
accepted by both, every counter-example in schema/job.counterexamples.json is
refused by both and the C error names the field the file says.  The
schema's per-target rules (quantize modes, option names) must equal the
targets table the C code serves at GET /api/v1/targets, so the two cannot
drift apart.  Same for schema/manifest.schema.json's example.

Run with Debian's /usr/bin/python3 (python3-jsonschema); prints PASS/FAIL/SKIP.
"""
import json
import os
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BUILD = os.path.join(ROOT, os.environ.get("KILN_BUILD", "build"))
CLI = os.path.join(BUILD, "tools", "kiln_recipe_cli")


def c_check(spec):
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as f:
        json.dump(spec, f)
    try:
        p = subprocess.run([CLI, "spec", f.name], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    finally:
        os.unlink(f.name)
    if p.returncode not in (0, 3):
        raise AssertionError("kiln_recipe_cli spec: status %d: %s" % (p.returncode, p.stderr))
    return json.loads(p.stdout)


def load(name):
    with open(os.path.join(ROOT, "schema", name), encoding="utf-8") as f:
        return json.load(f)


def test_examples_accepted_by_both():
    import jsonschema
    schema = load("job.schema.json")
    jsonschema.Draft202012Validator.check_schema(schema)
    v = jsonschema.Draft202012Validator(schema)
    bad = []
    for i, ex in enumerate(schema["examples"]):
        errs = [e.message for e in v.iter_errors(ex)]
        if errs:
            bad.append("example %d: schema says %s" % (i, errs[0]))
        r = c_check(ex)
        if not r["ok"]:
            bad.append("example %d: C says %s: %s" % (i, r["error"]["field"], r["error"]["message"]))
        else:
            # the canonical form (all defaults filled in) is itself valid
            errs = [e.message for e in v.iter_errors(r["canonical"])]
            if errs:
                bad.append("example %d: canonical form fails the schema: %s" % (i, errs[0]))
    assert not bad, "\n".join(bad)


def test_counterexamples_refused_by_both():
    import jsonschema
    v = jsonschema.Draft202012Validator(load("job.schema.json"))
    bad = []
    for c in load("job.counterexamples.json")["counterexamples"]:
        if not list(v.iter_errors(c["spec"])):
            bad.append("%s: the schema accepts it" % c["why"])
        r = c_check(c["spec"])
        if r["ok"]:
            bad.append("%s: the C validator accepts it" % c["why"])
        elif r["error"]["field"] != c["field"]:
            bad.append("%s: C names field %r, want %r (%s)" % (c["why"], r["error"]["field"], c["field"],
                                                             r["error"]["message"]))
    assert not bad, "\n".join(bad)


def test_schema_per_target_rules_equal_the_targets_table():
    schema = load("job.schema.json")
    p = subprocess.run([CLI, "targets"], stdout=subprocess.PIPE, text=True, check=True)
    table = {t["id"]: t for t in json.loads(p.stdout)["targets"]}
    assert sorted(schema["properties"]["target"]["enum"]) == sorted(table), "target ids differ"
    rules = {}
    for rule in schema["allOf"]:
        tid = rule["if"]["properties"]["target"]["const"]
        rules[tid] = rule["then"]["properties"]
    bad = []
    for tid, t in table.items():
        r = rules.get(tid)
        if r is None:
            bad.append("%s: no per-target rule in the schema" % tid)
            continue
        if sorted(r["quantize"]["enum"]) != sorted(t["quantize"]["allowed"]):
            bad.append("%s: quantize %s vs table %s" % (tid, r["quantize"]["enum"], t["quantize"]["allowed"]))
        opts = sorted(o["key"] for o in t["options"])
        if sorted(r["target_options"]["propertyNames"]["enum"]) != opts:
            bad.append("%s: option names %s vs table %s" % (tid, r["target_options"]["propertyNames"]["enum"], opts))
        methods = t["calibration"]["methods"]
        if not methods and "calibration" not in r:
            bad.append("%s: the schema allows calibration.method, the table has none" % tid)
        if methods and sorted(methods) != sorted(schema["properties"]["calibration"]["properties"]["method"]["enum"]):
            bad.append("%s: calibration methods differ" % tid)
    assert not bad, "\n".join(bad)


def test_manifest_schema_example_is_valid():
    import jsonschema
    s = load("manifest.schema.json")
    jsonschema.Draft202012Validator.check_schema(s)
    for ex in s["examples"]:
        jsonschema.validate(ex, s)


def main():
    missing = []
    if not os.path.exists(CLI):
        missing.append(CLI + " (make tests-build)")
    try:
        import jsonschema  # noqa: F401
    except ImportError:
        missing.append("python3-jsonschema")
    tests = [(n, f) for n, f in sorted(globals().items()) if n.startswith("test_") and callable(f)]
    only = sys.argv[1] if len(sys.argv) > 1 else ""
    failed = 0
    for name, fn in tests:
        label = "job_schema__" + name[5:]
        if only and only not in label:
            continue
        if missing:
            print("SKIP %s: missing %s" % (label, ", ".join(missing)))
            continue
        try:
            fn()
            print("PASS %s" % label)
        except Exception as e:  # noqa: BLE001
            failed += 1
            print("FAIL %s: %s" % (label, str(e).replace("\n", "\n  ")))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
