#include "daemon/ticketkeys.h"

#include <string.h>

static void key_make(struct ticketkey *key, int64_t now_ms,
		     const uint8_t material[TICKETKEYS_MATERIAL])
{
	memcpy(key->name, material, TICKETKEYS_NAME_LEN);
	memcpy(key->aes, material + TICKETKEYS_NAME_LEN, TICKETKEYS_AES_LEN);
	memcpy(key->hmac, material + TICKETKEYS_NAME_LEN + TICKETKEYS_AES_LEN,
	       TICKETKEYS_HMAC_LEN);
	key->created_ms = now_ms;
	key->retired_ms = 0;
}

void ticketkeys_init(struct ticketkeys *k, int64_t now_ms,
		     const uint8_t material[TICKETKEYS_MATERIAL])
{
	memset(k, 0, sizeof(*k));
	key_make(&k->keys[0], now_ms, material);
	k->n = 1;
}

/* When the current key stops sealing, and when a retired one is dropped. */
static int64_t retire_at(const struct ticketkey *key, uint64_t lifetime_ms)
{
	return key->created_ms + (int64_t)(lifetime_ms / 2);
}

static int64_t drop_at(const struct ticketkey *key, uint64_t lifetime_ms)
{
	return key->retired_ms + (int64_t)lifetime_ms;
}

int ticketkeys_due(const struct ticketkeys *k, int64_t now_ms, uint64_t lifetime_ms)
{
	return ticketkeys_next_ms(k, now_ms, lifetime_ms) == 0;
}

uint64_t ticketkeys_next_ms(const struct ticketkeys *k, int64_t now_ms, uint64_t lifetime_ms)
{
	if (k->n == 0)
		return 0;
	int64_t next = retire_at(&k->keys[0], lifetime_ms);
	for (size_t i = 1; i < k->n; i++) {
		int64_t d = drop_at(&k->keys[i], lifetime_ms);
		if (d < next)
			next = d;
	}
	return next <= now_ms ? 0 : (uint64_t)(next - now_ms);
}

static void drop(struct ticketkeys *k, size_t i)
{
	explicit_bzero(&k->keys[i], sizeof(k->keys[i]));
	memmove(&k->keys[i], &k->keys[i + 1], (k->n - i - 1) * sizeof(k->keys[0]));
	k->n--;
	explicit_bzero(&k->keys[k->n], sizeof(k->keys[0]));
}

int ticketkeys_rotate(struct ticketkeys *k, int64_t now_ms, uint64_t lifetime_ms,
		      const uint8_t *material)
{
	for (size_t i = k->n; i-- > 1;)
		if (drop_at(&k->keys[i], lifetime_ms) <= now_ms)
			drop(k, i);
	if (k->n > 0 && retire_at(&k->keys[0], lifetime_ms) > now_ms)
		return 0;
	if (!material)
		return 0;
	/* The oldest retired key makes room if it must: its tickets are then
	 * refused a little early, which costs a full handshake, no more. */
	if (k->n == TICKETKEYS_MAX)
		drop(k, k->n - 1);
	if (k->n > 0)
		k->keys[0].retired_ms = now_ms;
	memmove(&k->keys[1], &k->keys[0], k->n * sizeof(k->keys[0]));
	key_make(&k->keys[0], now_ms, material);
	k->n++;
	return 1;
}

const struct ticketkey *ticketkeys_find(const struct ticketkeys *k,
					const uint8_t name[TICKETKEYS_NAME_LEN], int64_t now_ms,
					uint64_t lifetime_ms)
{
	for (size_t i = 0; i < k->n; i++) {
		const struct ticketkey *key = &k->keys[i];
		if (memcmp(key->name, name, TICKETKEYS_NAME_LEN) != 0)
			continue;
		if (i > 0 && drop_at(key, lifetime_ms) <= now_ms)
			return NULL;
		return key;
	}
	return NULL;
}

int ticketkeys_age_ok(int64_t issued_ms, int64_t now_ms, uint64_t lifetime_ms)
{
	if (issued_ms > now_ms + TICKETKEYS_SKEW_MS)
		return 0;
	return now_ms - issued_ms <= (int64_t)lifetime_ms;
}

void ticketkeys_wipe(struct ticketkeys *k)
{
	explicit_bzero(k, sizeof(*k));
}
