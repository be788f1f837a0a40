/*
 * fuzz_spec: a job spec as a user sends it, through everything that reads
 * or writes it before a tool runs: spec_parse (with a YOLO model's
 * inspection, so outputs "suggested", labels against the head and the
 * per-target options are reached), the canonical form, the MUD, and the
 * target's recipe, whose writers quote user strings into YAML (Metis),
 * prototxt (AXera-Pi), JSON (Pulsar2), INI (the MUD) and argv; the plan is
 * also rendered as a shell script.  Nothing is written to disk.
 *
 * fuzz-sources: conversion/[a-z]*.c runtime/[a-z]*.c build/gen/onnx.pb-c.c build/gen/migrations.c
 * fuzz-seeds: tests/fuzz/spec_seeds.py
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include <cjson/cJSON.h>

#include "conversion/mud.h"
#include "conversion/recipe.h"
#include "conversion/spec.h"
#include "runtime/plan_sh.h"

static cJSON *inspection;

/* The seed script writes inspection.json next to the corpus (the fuzzer
 * runs in that folder); without it the spec is parsed with none. */
static void load_inspection(void)
{
	static int tried;
	if (tried)
		return;
	tried = 1;
	FILE *f = fopen("inspection.json", "rb");
	if (f == NULL)
		return;
	static char buf[1 << 22];
	size_t n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = '\0';
	inspection = cJSON_Parse(buf);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	load_inspection();
	struct job_spec *s = NULL;
	struct kiln_err e;
	if (spec_parse_text((const char *)data, size, inspection, &s, &e) != 0)
		return 0;
	free(spec_canonical(s));
	cJSON_Delete(spec_to_json(s));
	struct mud *m = NULL;
	if (mud_for_spec(s, "model.cvimodel", "model_npu.axmodel", "model_vnpu.axmodel", &m, &e) == 0)
		mud_free(m);
	struct recipe_paths p;
	recipe_paths_default(&p);
	p.test_image = "test.jpg";
	struct recipe_out *r = NULL;
	if (recipe_plan(s, inspection, &p, &r, &e) == 0) {
		free(plan_sh(r->plan, &(struct plan_sh_opts){.title = "fuzz"}));
		recipe_out_free(r);
	}
	spec_free(s);
	return 0;
}
