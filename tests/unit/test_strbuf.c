/*
 * test_strbuf: the growing text buffer the recipes write their files and
 * scripts with (runtime/strbuf.c).
 */
#include <stdlib.h>
#include <string.h>

#include "kt.h"
#include "runtime/strbuf.h"

static void strbuf__grows_past_its_first_kilobyte_and_keeps_every_byte(void)
{
	struct strbuf b = {0};
	for (int i = 0; i < 1000; i++)
		strbuf_puts(&b, "abc");
	strbuf_add(&b, "x\0y", 3);  /* a NUL inside is kept, length says so */
	CHECK_INT((long long)b.len, 3003);
	CHECK(memcmp(b.s + 3000, "x\0y", 3) == 0);
	char *s = strbuf_take(&b);
	CHECK(s != NULL && strncmp(s, "abcabc", 6) == 0);
	CHECK(b.s == NULL && b.len == 0);
	free(s);
}

static void strbuf__printf_takes_any_length(void)
{
	/* The Metis writer's own printf once gave up past 512 bytes. */
	char big[3000];
	memset(big, 'q', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	struct strbuf b = {0};
	strbuf_printf(&b, "%d:%s:%s", 42, big, "end");
	CHECK_INT((long long)b.len, 3 + 2999 + 4);
	CHECK(strcmp(b.s + b.len - 4, ":end") == 0);
	strbuf_free(&b);
}

static void strbuf__take_of_nothing_is_an_empty_string(void)
{
	struct strbuf b = {0};
	char *s = strbuf_take(&b);
	CHECK(s != NULL && s[0] == '\0');
	free(s);
}

int main(int argc, char **argv)
{
	static const struct kt_test tests[] = {
		{"strbuf__grows_past_its_first_kilobyte_and_keeps_every_byte",
		 strbuf__grows_past_its_first_kilobyte_and_keeps_every_byte},
		{"strbuf__printf_takes_any_length", strbuf__printf_takes_any_length},
		{"strbuf__take_of_nothing_is_an_empty_string", strbuf__take_of_nothing_is_an_empty_string},
	};
	return kt_main("strbuf", tests, sizeof(tests) / sizeof(tests[0]), argc, argv);
}
