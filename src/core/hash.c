/* FNV-1a (Fowler, Noll, Vo): a tiny non-cryptographic hash, enough for hash tables and for
 * fingerprints that detect a changed input (not an adversary). */
#include "core/core.h"

uint64_t lb_fnv1a(uint64_t h, const void *data, size_t n)
{
    const uint8_t *p = data;
    for (size_t i = 0; i < n; i++) h = (h ^ p[i]) * 0x100000001b3ULL;
    return h;
}
