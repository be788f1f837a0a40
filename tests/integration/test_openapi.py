"""schema/openapi.json against what kilnd really serves.  (1) Its operations
and the route table in server/routes.c are the same set both ways (method,
path, minimum role as the security requirement), and a real kilnd answers
each documented authenticated operation with 401 when no token is sent
(so the method and path are routed, not 404/405), while an undocumented one
is 404/405.  (2) GET /api/v1/openapi.json, anonymous, serves exactly the
file's bytes.  (3) The document passes @seriousme/openapi-schema-validator
(official OAS 3.1 schemas, every $ref resolved incl. the schema/*.schema.json
files) run through node from node_modules (`npm ci` at the top; missing is a
failure, never a skip).  Run with Debian's /usr/bin/python3.
"""
import json
import os
import re
import shutil
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, "..", ".."))
sys.path.insert(0, os.path.join(HERE, "..", "lib"))
sys.path.insert(0, os.path.join(HERE, "..", "onnx"))

import onnx_fixtures as F  # noqa: E402
from kiln_server import Kilnd  # noqa: E402

R = F.Report("test_openapi")
DOC_PATH = os.environ.get("KILN_OPENAPI", os.path.join(ROOT, "schema", "openapi.json"))
SUBSCHEMAS = [os.path.join(ROOT, "schema", n)
              for n in ("job.schema.json", "dataset.schema.json", "manifest.schema.json")]
ROLE = {"ROLE_ANON": "anon", "ROLE_DEVICE": "device", "ROLE_USER": "user", "ROLE_ADMIN": "admin"}
METHODS = ("get", "put", "post", "delete", "patch", "head", "options")


def table_routes():
    """{(METHOD, path): role} from the rows of routes_table[]; {x*} (a tail
    parameter) is {x} in OpenAPI."""
    with open(os.path.join(ROOT, "server", "routes.c")) as f:
        src = f.read()
    body = src[src.index("routes_table[] = {"):]
    body = body[:body.index("\n};")]
    rows = re.findall(r'\{\s*"([A-Z]+)",\s*"([^"]+)",\s*"[^"]+",\s*(ROLE_[A-Z]+),\s*(BODY_[A-Z]+),',
                      body)
    assert len(rows) == body.count("route_"), "a row the pattern did not read"
    key = lambda m, p: (m, re.sub(r"\{(\w+)\*\}", r"{\1}", p))  # noqa: E731
    BODY.update({key(m, p): b for m, p, _, b in rows})
    return {key(m, p): ROLE[r] for m, p, r, _ in rows}


BODY = {}  # (METHOD, path) -> BODY_NONE / BODY_JSON / BODY_STREAM, filled by table_routes


def doc_operations(doc):
    ops = {}
    for path, item in doc["paths"].items():
        for m, op in item.items():
            if m in METHODS:
                sec = op.get("security", doc.get("security"))
                roles = {s for req in sec for v in req.values() for s in v} if sec else set()
                ops[(m.upper(), path)] = (op, "anon" if not sec else "/".join(sorted(roles)))
    return ops


def concrete(path):
    """A request path for a documented one: ids 1, file names that exist."""
    return (path.replace("{id}", "1").replace("{dir}", "pages").replace("{file}", "x.js")
            .replace("{name}", "manifest.json"))


def main():
    with open(DOC_PATH, "rb") as f:
        raw = f.read()
    doc = json.loads(raw)
    table = table_routes()
    ops = doc_operations(doc)

    def every_route_is_documented_with_its_role():
        missing = sorted(set(table) - set(ops))
        assert not missing, f"routes in server/routes.c missing from openapi.json: {missing}"
        wrong = {k: (table[k], ops[k][1]) for k in table if table[k] != ops[k][1]}
        assert not wrong, f"role in table vs security in doc: {wrong}"
        xrole = {k: ops[k][0].get("x-kiln-role") for k in table if ops[k][0].get("x-kiln-role") != table[k]}
        assert not xrole, f"x-kiln-role differs from the table: {xrole}"

    def nothing_documented_that_does_not_exist():
        extra = sorted(set(ops) - set(table))
        assert not extra, f"documented but not in server/routes.c: {extra}"

    def path_parameters_match_the_path():
        for (m, p), (op, _) in ops.items():
            want = set(re.findall(r"\{(\w+)\}", p))
            got = {x["name"] for x in op.get("parameters", []) if x.get("in") == "path"}
            assert want == got, (m, p, want, got)

    def every_operation_documents_the_error_shape():
        err = doc["components"]["schemas"]["Error"]["properties"]["error"]
        assert set(err["properties"]) == {"code", "message", "field"}, err
        for (m, p), (op, role) in ops.items():
            if role != "anon":
                assert "401" in op["responses"], (m, p, "no 401")
            for st, r in op["responses"].items():
                if st.startswith(("4", "5")):
                    assert r.get("$ref", "").startswith("#/components/responses/E"), (m, p, st)

    def request_bodies_match_the_body_kind():
        for k, kind in BODY.items():
            rb = ops[k][0].get("requestBody") if k in ops else None
            types = set((rb or {}).get("content", {}))
            if kind == "BODY_NONE":
                assert rb is None, (k, "documents a body the router refuses")
            elif kind == "BODY_JSON":
                assert types == {"application/json"}, (k, types)
            else:
                assert rb and "application/json" not in types, (k, types)

    def the_json_schemas_are_referenced_where_they_apply():
        ids = {}
        for f in SUBSCHEMAS:
            with open(f) as fh:
                ids[json.load(fh)["$id"]] = os.path.basename(f)
        refs = set(re.findall(r'"\$ref":\s*"(https?://[^"#]+)', raw.decode()))
        assert refs <= set(ids), f"$ref to no schema/ file: {refs - set(ids)}"
        def ref_of(m, p, *where):
            """The $ref targets (by schema file name) under that part."""
            o = ops[(m, p)][0]
            for w in where:
                o = o[w]
            return {ids[u] for u in re.findall(r'"\$ref": "([^"#]+)"', json.dumps(o)) if u in ids}
        for want, m, p, where in (
                ("job.schema.json", "POST", "/api/v1/jobs", ("requestBody",)),
                ("dataset.schema.json", "GET", "/api/v1/datasets/{id}", ("responses", "200")),
                ("dataset.schema.json", "POST", "/api/v1/datasets", ("responses", "202")),
                ("manifest.schema.json", "GET", "/api/v1/bundles/{id}/files/{name}",
                 ("responses", "200"))):
            assert want in ref_of(m, p, *where), f"{m} {p} {'/'.join(where)} does not $ref {want}"

    for name in ("request_bodies_match_the_body_kind",
                 "the_json_schemas_are_referenced_where_they_apply",
                 "every_route_is_documented_with_its_role", "nothing_documented_that_does_not_exist",
                 "path_parameters_match_the_path", "every_operation_documents_the_error_shape"):
        R.check(name, locals()[name])

    def a_real_openapi_validator_accepts_it():
        node = shutil.which("node")
        assert node, "node is missing (Debian package nodejs)"
        assert os.path.isdir(os.path.join(ROOT, "node_modules", "@seriousme",
                                          "openapi-schema-validator")), \
            "@seriousme/openapi-schema-validator missing: run `npm ci` at the top"
        p = subprocess.run([node, os.path.join(HERE, "openapi_validate.mjs"), DOC_PATH] + SUBSCHEMAS,
                           cwd=ROOT, capture_output=True, text=True, timeout=120)
        out = p.stdout.strip().splitlines()
        res = json.loads(out[-1]) if out else {}
        assert p.returncode == 0 and res.get("valid") is True and res.get("version") == "3.1", \
            (p.returncode, p.stdout[-1500:], p.stderr[-500:])

    R.check("a_real_openapi_validator_accepts_it", a_real_openapi_validator_accepts_it)

    k = Kilnd()
    try:
        def served_anonymously_and_equal_to_the_file():
            with open(os.path.join(ROOT, "schema", "openapi.json"), "rb") as f:
                want = f.read()
            st, hdrs, body = k.request("GET", "/api/v1/openapi.json", token=None)
            assert st == 200, (st, body[:200])
            assert hdrs.get("Content-Type", "").startswith("application/json"), hdrs
            assert body == want, "served bytes differ from schema/openapi.json (rebuild kilnd?)"
            st2, _, _ = k.request("GET", "/api/v1/openapi.json", token=None,
                                  headers={"If-None-Match": hdrs["ETag"]})
            assert st2 == 304, st2

        def kilnd_routes_every_documented_operation():
            # Without a token an authenticated route answers 401 before its
            # handler runs; an unrouted method/path would be 404 or 405.
            bad = {}
            for (m, p), (_, role) in sorted(ops.items()):
                if role == "anon":
                    continue
                st, _, body = k.request(m, concrete(p), b"" if m in ("POST", "PUT") else None,
                                        "application/json" if m in ("POST", "PUT") else None,
                                        token=None)
                if st != 401:
                    bad[f"{m} {p}"] = (st, body[:120])
            assert not bad, bad

        def an_undocumented_operation_is_not_routed():
            st, _, _ = k.request("PATCH", "/api/v1/models/1", b"{}", "application/json", token=None)
            assert st in (404, 405), st
            st, _, _ = k.request("GET", "/api/v1/nosuch", token=None)
            assert st == 404, st

        R.check("served_anonymously_and_equal_to_the_file", served_anonymously_and_equal_to_the_file)
        R.check("kilnd_routes_every_documented_operation", kilnd_routes_every_documented_operation)
        R.check("an_undocumented_operation_is_not_routed", an_undocumented_operation_is_not_routed)
    finally:
        rc = k.stop()
        if rc != 0:
            R.fail("kilnd_exits_cleanly", f"exit status {rc}")
    R.done()


if __name__ == "__main__":
    main()
