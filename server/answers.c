/*
 * answers: GET answers kept per thread (see answers.h).
 */
#include "server/answers.h"

#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

struct slot {
	int used;
	uint64_t hash;
	unsigned long db;        /* db_serial(): a freed db's address may come back */
	int route;
	long long token_id;
	int role;
	char *where;             /* "path\0query": see same_where */
	struct db_stamp stamp;
	long long filled_ms;
	struct answer a;
};

static _Thread_local struct slot slots[ANSWERS_SLOTS];
static unsigned long reused; /* atomic */

/* A thread that kept answers frees them when it ends: the key's destructor
 * runs at thread exit (the HTTP threads end when kilnd stops). */
static pthread_key_t owner_key;
static pthread_once_t owner_once = PTHREAD_ONCE_INIT;

static void clear_slot(struct slot *s);

static void free_slots(void *arg)
{
	struct slot *mine = arg;
	for (int i = 0; i < ANSWERS_SLOTS; i++)
		clear_slot(&mine[i]);
}

static void make_owner_key(void)
{
	pthread_key_create(&owner_key, free_slots);
}

/* FNV-1a over the key's parts; the slot still compares them all. */
static uint64_t key_hash(const struct answers_key *k)
{
	uint64_t h = 1469598103934665603ull;
	const char *parts[] = {k->path, "?", k->query};
	for (size_t i = 0; i < sizeof(parts) / sizeof(parts[0]); i++)
		for (const unsigned char *c = (const unsigned char *)parts[i]; *c; c++)
			h = (h ^ *c) * 1099511628211ull;
	h ^= (uint64_t)k->route * 0x9e3779b97f4a7c15ull;
	h ^= (uint64_t)k->token_id * 0xbf58476d1ce4e5b9ull;
	return h ^ (uint64_t)k->role;
}

/* where is "path\0query": the two compared apart, so a path holding '?'
 * (from %3F) never meets another URL's query. */
static int same_where(const char *where, const struct answers_key *k)
{
	return strcmp(where, k->path) == 0 && strcmp(where + strlen(where) + 1, k->query) == 0;
}

void answers_clear(struct answer *a)
{
	free(a->body);
	for (int i = 0; i < a->n_headers; i++) {
		free(a->headers[i][0]);
		free(a->headers[i][1]);
	}
	memset(a, 0, sizeof(*a));
}

static void clear_slot(struct slot *s)
{
	answers_clear(&s->a);
	free(s->where);
	memset(s, 0, sizeof(*s));
}

const struct answer *answers_find(struct db *db, const struct answers_key *k, long long now_ms)
{
	uint64_t h = key_hash(k);
	struct slot *s = &slots[h % ANSWERS_SLOTS];
	if (!s->used || s->hash != h || s->db != db_serial(db) || s->route != k->route ||
	    s->token_id != k->token_id || s->role != k->role || !same_where(s->where, k))
		return NULL;
	if (now_ms - s->filled_ms >= ANSWERS_MAX_AGE_MS || !db_stamp_current(db, &s->stamp)) {
		clear_slot(s); /* now, so a stale answer holds no memory */
		return NULL;
	}
	return &s->a;
}

void answers_served(void)
{
	__atomic_add_fetch(&reused, 1, __ATOMIC_RELAXED);
}

void answers_keep(struct db *db, const struct answers_key *k, const struct db_stamp *st,
		  long long now_ms, struct answer *a)
{
	if (a->len > ANSWERS_MAX_BODY) {
		answers_clear(a);
		return;
	}
	size_t np = strlen(k->path), nq = strlen(k->query);
	char *where = malloc(np + nq + 2);
	if (where == NULL) {
		answers_clear(a);
		return;
	}
	memcpy(where, k->path, np + 1);
	memcpy(where + np + 1, k->query, nq + 1);
	uint64_t h = key_hash(k);
	struct slot *s = &slots[h % ANSWERS_SLOTS];
	pthread_once(&owner_once, make_owner_key);
	if (pthread_getspecific(owner_key) == NULL)
		pthread_setspecific(owner_key, slots);
	clear_slot(s);
	*s = (struct slot){.used = 1, .hash = h, .db = db_serial(db), .route = k->route,
			   .token_id = k->token_id, .role = k->role, .where = where,
			   .stamp = *st, .filled_ms = now_ms, .a = *a};
	memset(a, 0, sizeof(*a));
}

unsigned long answers_reused(void)
{
	return __atomic_load_n(&reused, __ATOMIC_RELAXED);
}
