/*
 * test_config: the settings table, kiln.ini parsing, and the router.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "server/config.h"
#include "kt.h"
#include "server/router.h"
#include "server/routes.h"

/* The [toolchain.<id>] settings of c: slot i is the toolchain row i. */
static struct config_toolchain *tc(struct kiln_config *c, const char *id)
{
	for (int i = 0; i < TOOLCHAIN_COUNT; i++)
		if (strcmp(config_toolchain_id(i), id) == 0)
			return &c->toolchains[i];
	return &c->toolchains[0];
}

static void defaults_are_the_documented_ones(void)
{
	struct kiln_config c;
	config_defaults(&c);
	CHECK_STR(c.listen, "127.0.0.1:8080");
	/* "./var", made absolute: a relative data_dir once broke deploy's
	 * symlinks, which resolve from their own folder (issue 12). */
	char cwd[1024], want[1100];
	CHECK(getcwd(cwd, sizeof(cwd)) != NULL);
	snprintf(want, sizeof(want), "%s/var", cwd);
	CHECK_STR(c.data_dir, want);
	CHECK_INT(c.workers, 1);
	CHECK_INT(c.max_attempts, 2);
	CHECK_INT(c.max_json_body, 1 << 20);
	CHECK_STR(tc(&c, "tpu-mlir")->engine, "docker");
	CHECK_STR(tc(&c, "tpu-mlir")->image, "localhost/kiln-tpu-mlir:1.7");
}

static void values_are_validated(void)
{
	struct kiln_config c;
	struct kiln_err err;
	config_defaults(&c);
	CHECK(config_set(&c, "server", "max_json_body", "2M", &err) == 0);
	CHECK_INT(c.max_json_body, 2 << 20);
	CHECK(config_set(&c, "server", "max_json_body", "10", &err) == KILN_EINVAL);
	CHECK(config_set(&c, "server", "threads", "-1", &err) == KILN_EINVAL);
	CHECK(config_set(&c, "server", "threads", "8x", &err) == KILN_EINVAL);
	CHECK_STR(err.field, "server.threads");
	CHECK(config_set(&c, "toolchain.pulsar2", "engine", "podman", &err) == 0);
	CHECK_STR(tc(&c, "pulsar2")->engine, "podman");
	CHECK(config_set(&c, "toolchain.pulsar2", "engine", "pod", &err) == KILN_EINVAL);
	CHECK(config_set(&c, "toolchain.x", "engine", "local", &err) == KILN_EINVAL);
	CHECK(config_set(&c, "jobs", "nope", "1", &err) == KILN_EINVAL);
	CHECK(strstr(err.msg, "unknown key 'nope'") != NULL);
	char longv[2000];
	memset(longv, 'a', sizeof(longv) - 1);
	longv[sizeof(longv) - 1] = '\0';
	CHECK(config_set(&c, "server", "data_dir", longv, &err) == KILN_EINVAL);
}

/* A data_dir kilnd could not create is refused when the setting is read,
 * naming the key, before anything is written. */
static void data_dir_is_absolute_and_must_be_creatable(void)
{
	struct kiln_config c;
	struct kiln_err err;
	config_defaults(&c);
	const char *tmp = kt_tmpdir();
	char file[600], dir[700];
	snprintf(file, sizeof(file), "%s/a-file", tmp);
	kt_write_file(file, "x", 1);
	snprintf(dir, sizeof(dir), "%s/data/deeper", file);
	CHECK(config_set(&c, "server", "data_dir", dir, &err) == KILN_EINVAL);
	CHECK_STR(err.field, "server.data_dir");
	CHECKF(strstr(err.msg, "is not a directory") != NULL, "%s", err.msg);
	CHECK(access(dir, F_OK) != 0);
	snprintf(dir, sizeof(dir), "%s/new/data/", tmp);
	CHECKF(config_set(&c, "server", "data_dir", dir, &err) == 0, "%s", err.msg);
	snprintf(dir, sizeof(dir), "%s/new/data", tmp);
	CHECK_STR(c.data_dir, dir);
	CHECK(config_set(&c, "server", "data_dir", "", &err) == KILN_EINVAL);
	char path[600];
	snprintf(path, sizeof(path), "%s/kiln2.ini", tmp);
	char ini[1400];
	snprintf(ini, sizeof(ini), "[server]\nlisten = 127.0.0.1:0\ndata_dir = %s/x\n", file);
	kt_write_file(path, ini, strlen(ini));
	CHECK(config_load(&c, path, &err) == KILN_EINVAL);
	CHECKF(strstr(err.msg, "kiln2.ini:3: server.data_dir") != NULL, "%s", err.msg);
	const char *badport = "[server]\nlisten = 127.0.0.1:99999\n";
	kt_write_file(path, badport, strlen(badport));
	CHECK(config_load(&c, path, &err) == KILN_EINVAL);
	CHECKF(strstr(err.msg, "kiln2.ini:2:") != NULL, "%s", err.msg);
}

static void listen_addresses_parse(void)
{
	char host[128];
	int port;
	struct kiln_err err;
	CHECK(config_split_listen("127.0.0.1:8080", host, sizeof(host), &port, &err) == 0);
	CHECK_STR(host, "127.0.0.1");
	CHECK_INT(port, 8080);
	CHECK(config_split_listen("[::1]:0", host, sizeof(host), &port, &err) == 0);
	CHECK_STR(host, "::1");
	CHECK_INT(port, 0);
	CHECK(config_split_listen("8080", host, sizeof(host), &port, &err) != 0);
	CHECK(config_split_listen(":8080", host, sizeof(host), &port, &err) != 0);
	CHECK(config_split_listen("h:65536", host, sizeof(host), &port, &err) != 0);
	CHECK(config_split_listen("[::1:80", host, sizeof(host), &port, &err) != 0);
}

static void ini_file_overrides_and_names_the_bad_line(void)
{
	char path[600];
	snprintf(path, sizeof(path), "%s/kiln.ini", kt_tmpdir());
	const char *ok = "; comment\n[server]\nlisten = 0.0.0.0:9000\n\n[jobs]\nworkers = 3\n"
			 "[toolchain.voyager]\nengine = local\npath = tests/toolchain-double/bin\n";
	kt_write_file(path, ok, strlen(ok));
	struct kiln_config c;
	struct kiln_err err;
	config_defaults(&c);
	CHECKF(config_load(&c, path, &err) == 0, "%s", err.msg);
	CHECK_STR(c.listen, "0.0.0.0:9000");
	CHECK_INT(c.workers, 3);
	CHECK_STR(tc(&c, "voyager")->path, "tests/toolchain-double/bin");
	CHECK_STR(tc(&c, "pulsar")->engine, "docker");
	const char *bad = "[server]\nlisten = 0.0.0.0:9000\n[jobs]\nworkerz = 3\n";
	kt_write_file(path, bad, strlen(bad));
	CHECK(config_load(&c, path, &err) == KILN_EINVAL);
	CHECKF(strstr(err.msg, "kiln.ini:4: unknown key 'workerz' in section [jobs]") != NULL,
	       "%s", err.msg);
}

static const struct http_route R[] = {
	{"GET", "/api/v1/tokens", "a", ROLE_ADMIN, BODY_NONE, NULL, NULL, ANSWER_FRESH},
	{"POST", "/api/v1/tokens", "b", ROLE_ADMIN, BODY_JSON, NULL, NULL, ANSWER_FRESH},
	{"GET", "/api/v1/tokens/{id}", "c", ROLE_ADMIN, BODY_NONE, NULL, NULL, ANSWER_FRESH},
	{"DELETE", "/api/v1/tokens/{id}", "d", ROLE_ADMIN, BODY_NONE, NULL, NULL, ANSWER_FRESH},
	{"GET", "/api/v1/models/{id}/files/{name}", "e", ROLE_USER, BODY_NONE, NULL, NULL, ANSWER_FRESH},
};

static void router_matches_params_and_reports_allowed_methods(void)
{
	struct router_params p;
	char allow[64];
	size_t n = sizeof(R) / sizeof(R[0]);
	CHECK_INT(router_match(R, n, "GET", "/api/v1/tokens", &p, allow, sizeof(allow)), 0);
	CHECK_INT(router_match(R, n, "HEAD", "/api/v1/tokens", &p, allow, sizeof(allow)), 0);
	CHECK_INT(router_match(R, n, "DELETE", "/api/v1/tokens/42", &p, allow, sizeof(allow)), 3);
	CHECK_INT(p.n, 1);
	CHECK_STR(p.p[0].value, "42");
	CHECK_INT(router_match(R, n, "GET", "/api/v1/models/7/files/a.mud", &p, allow,
			       sizeof(allow)), 4);
	CHECK_STR(p.p[1].name, "name");
	CHECK_STR(p.p[1].value, "a.mud");
	CHECK_INT(router_match(R, n, "PUT", "/api/v1/tokens/42", &p, allow, sizeof(allow)),
		  ROUTER_NO_METHOD);
	CHECK_STR(allow, "GET, HEAD, DELETE");
	CHECK_INT(router_match(R, n, "GET", "/api/v1/tokens/", &p, allow, sizeof(allow)),
		  ROUTER_NOT_FOUND);
	CHECK_INT(router_match(R, n, "GET", "/api/v1/tokens/1/2", &p, allow, sizeof(allow)),
		  ROUTER_NOT_FOUND);
	CHECK_INT(router_match(R, n, "GET", "/api/v1/tokensX", &p, allow, sizeof(allow)),
		  ROUTER_NOT_FOUND);
	char longp[600] = "/api/v1/tokens/";
	memset(longp + 15, '9', 400);
	longp[415] = '\0';
	CHECK_INT(router_match(R, n, "GET", longp, &p, allow, sizeof(allow)), ROUTER_NOT_FOUND);
}

/* README's settings table is written by hand; this keeps it true to the
 * table kilnd --help prints from. */
static void readme_lists_every_setting_with_its_default(void)
{
	char *help = NULL;
	size_t hlen = 0;
	FILE *f = open_memstream(&help, &hlen);
	config_print_help(f);
	fclose(f);
	char *readme = kt_read_file("README.md", NULL);
	if (!CHECK(readme != NULL))
		return;
	int rows = 0;
	for (char *line = strtok(help, "\n"); line; line = strtok(NULL, "\n")) {
		char section[64], key[64], def[128];
		if (sscanf(line, "  [%63[^]]] %63s = %127s", section, key, def) != 3)
			continue;
		char want[300];
		if (strcmp(def, "(empty)") == 0 || strcmp(key, "image") == 0)
			snprintf(want, sizeof(want), "| `[%s] %s` |", section, key);
		else
			snprintf(want, sizeof(want), "| `[%s] %s` | `%s` |", section, key, def);
		CHECKF(strstr(readme, want) != NULL, "README lacks the row %s", want);
		rows++;
	}
	CHECK(rows >= 16);
	free(readme);
	free(help);
}

/* More {params} than ROUTER_MAX_PARAMS can never match (issue 14 item 7):
 * deep paths take one tail parameter, {name*}, which holds the rest. */
static void router_tail_param_takes_the_rest_of_the_path(void)
{
	static const struct http_route T[] = {
		{"GET", "/api/v1/bundles/{id}/files/{name*}", "f", ROLE_USER, BODY_NONE, NULL, NULL, ANSWER_FRESH},
	};
	struct router_params p;
	char allow[64];
	CHECK_INT(router_match(T, 1, "GET", "/api/v1/bundles/3/files/build/m/m/1/model.json", &p,
			       allow, sizeof(allow)), 0);
	CHECK_INT(p.n, 2);
	CHECK_STR(p.p[1].name, "name");
	CHECK_STR(p.p[1].value, "build/m/m/1/model.json");
	CHECK_INT(router_match(T, 1, "GET", "/api/v1/bundles/3/files/a", &p, allow, sizeof(allow)),
		  0);
	CHECK_STR(p.p[1].value, "a");
	/* The tail needs at least one segment, and no empty ones. */
	CHECK_INT(router_match(T, 1, "GET", "/api/v1/bundles/3/files/", &p, allow, sizeof(allow)),
		  ROUTER_NOT_FOUND);
	CHECK_INT(router_match(T, 1, "GET", "/api/v1/bundles/3/files/a//b", &p, allow,
			       sizeof(allow)), ROUTER_NOT_FOUND);
	CHECK_INT(router_match(T, 1, "GET", "/api/v1/bundles/3/files/a/", &p, allow,
			       sizeof(allow)), ROUTER_NOT_FOUND);
}

/* Every route in kilnd's table can match: none has more parameters than
 * the router holds, and a tail parameter only ends a pattern. */
static void every_route_pattern_can_match(void)
{
	for (size_t i = 0; i < routes_count; i++) {
		const char *pat = routes_table[i].pattern;
		int n = 0;
		for (const char *c = pat; (c = strchr(c, '{')) != NULL; c++) {
			n++;
			const char *close = strchr(c, '}');
			if (close && close[-1] == '*')
				CHECKF(close[1] == '\0', "%s: a tail {x*} must end the pattern", pat);
		}
		CHECKF(n <= ROUTER_MAX_PARAMS, "%s has %d parameters; the router holds %d", pat, n,
		       ROUTER_MAX_PARAMS);
	}
}

int main(int argc, char **argv)
{
	static const struct kt_test tests[] = {
		{"defaults_are_the_documented_ones", defaults_are_the_documented_ones},
		{"values_are_validated", values_are_validated},
		{"listen_addresses_parse", listen_addresses_parse},
		{"ini_file_overrides_and_names_the_bad_line", ini_file_overrides_and_names_the_bad_line},
		{"data_dir_is_absolute_and_must_be_creatable", data_dir_is_absolute_and_must_be_creatable},
		{"readme_lists_every_setting_with_its_default",
		 readme_lists_every_setting_with_its_default},
		{"router_matches_params_and_reports_allowed_methods",
		 router_matches_params_and_reports_allowed_methods},
		{"router_tail_param_takes_the_rest_of_the_path",
		 router_tail_param_takes_the_rest_of_the_path},
		{"every_route_pattern_can_match", every_route_pattern_can_match},
	};
	return kt_main("config", tests, sizeof(tests) / sizeof(tests[0]), argc, argv);
}
