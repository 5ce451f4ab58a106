#include "daemon/admission.h"

enum admission admission_decide(const struct admission_view *v)
{
	if (v->authenticated >= v->max_connections)
		return REFUSE_CONNECTIONS;
	if (v->address_handshakes >= v->max_per_address)
		return v->address_handshakes > 0 && v->address_oldest_age_ms >= v->protect_ms
			       ? ADMIT_EVICT_ADDRESS
			       : REFUSE_ADDRESS;
	if (v->handshakes >= v->max_handshakes)
		return v->handshakes > 0 && v->oldest_age_ms >= v->protect_ms ? ADMIT_EVICT_OLDEST
									      : REFUSE_POOL;
	return ADMIT;
}

uint64_t admission_protect_ms(uint64_t handshake_timeout_ms)
{
	uint64_t p = handshake_timeout_ms / 10;
	return p > 1000 ? 1000 : p;
}

const char *admission_name(enum admission a)
{
	switch (a) {
	case ADMIT:
		return "admitted";
	case ADMIT_EVICT_ADDRESS:
		return "admitted; the address's oldest unauthenticated connection closed";
	case ADMIT_EVICT_OLDEST:
		return "admitted; the oldest unauthenticated connection closed";
	case REFUSE_CONNECTIONS:
		return "connection cap reached";
	case REFUSE_ADDRESS:
		return "handshake slots of this address full";
	case REFUSE_POOL:
		return "handshake pool full";
	}
	return "?";
}
