/*
 * fuzz_ini: kiln.ini through config_load (inih plus the settings table's
 * parsers: sizes, ints, enums, listen addresses, directories).  A bad file
 * must end in a kiln_err naming the line, never a crash.  config_load reads
 * a path, so each input is written to one temporary file first.
 *
 * fuzz-sources: server/config.c conversion/[a-z]*.c runtime/[a-z]*.c build/gen/onnx.pb-c.c build/gen/migrations.c
 * fuzz-seeds: tests/fuzz/ini_seeds.py
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "server/config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static char path[512];
	if (path[0] == '\0') {
		const char *tmp = getenv("TMPDIR");
		snprintf(path, sizeof(path), "%s/fuzz_ini.ini", tmp ? tmp : "/tmp");
	}
	FILE *f = fopen(path, "wb");
	if (f == NULL)
		abort();
	fwrite(data, 1, size, f);
	fclose(f);
	struct kiln_config cfg;
	struct kiln_err e;
	config_defaults(&cfg);
	config_load(&cfg, path, &e);
	return 0;
}
