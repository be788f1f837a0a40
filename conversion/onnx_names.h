/*
 * onnx_names: the class names an Ultralytics export keeps in its ONNX
 * metadata_props, as labels a job can take without anyone typing them.
 *
 * Ultralytics' exporter writes metadata "names" as str() of a Python dict
 * (ultralytics/engine/exporter.py: `self.metadata = {..., "names":
 * model.names}` and, for ONNX, `meta.key, meta.value = k, str(v)` into
 * model_onnx.metadata_props), e.g. "{0: 'person', 1: 'bicycle'}", with
 * repr's quoting (a name holding ' is written in "").  Some exports carry
 * the keys as strings, "{'0': 'person', '1': 'bicycle'}" (names read back
 * from YAML or JSON) or JSON's {"0": "person"}: quoted keys read the same.
 *
 * Names are decoded from repr's and JSON's escapes (\', \xNN, \u00e9,
 * \ud83d\ude00, \U0001f600) to UTF-8; onnx_names.c says which and why.
 *
 * API
 *   onnx_names_labels(text, err)  new cJSON array of the names in key
 *                             order (caller frees with cJSON_Delete), or
 *                             NULL when text is not such a dict with keys
 *                             0..n-1, bare or quoted (n <= ONNX_NAMES_MAX),
 *                             with err (may be NULL) saying where and why.
 * Pure.  Called by the inspection (onnx_json.c: "suggested_labels").
 */
#ifndef KILN_ONNX_NAMES_H
#define KILN_ONNX_NAMES_H

#include <cjson/cJSON.h>

#include "runtime/kiln_err.h"

#define ONNX_NAMES_MAX 4096

cJSON *onnx_names_labels(const char *text, struct kiln_err *err);

#endif
