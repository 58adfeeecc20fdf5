/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The generator's own PRNG (xoshiro256** seeded with splitmix64), so output depends on nothing
 * but the seed, and the UUID texts derived from it.
 */
#include "datagen/internal.h"

static uint64_t splitmix64(uint64_t *x)
{
        uint64_t z;

        *x += UINT64_C(0x9e3779b97f4a7c15);
        z = *x;
        z = (z ^ (z >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
        z = (z ^ (z >> 27)) * UINT64_C(0x94d049bb133111eb);
        return z ^ (z >> 31);
}

static uint64_t rotl(uint64_t x, int k)
{
        return (x << k) | (x >> (64 - k));
}

void rng_seed(struct rng *r, uint64_t seed)
{
        uint64_t x = seed;
        int i;

        for (i = 0; i < 4; i++)
                r->s[i] = splitmix64(&x);
}

uint64_t rng_next(struct rng *r)
{
        uint64_t *s = r->s;
        uint64_t result = rotl(s[1] * 5, 7) * 9;
        uint64_t t = s[1] << 17;

        s[2] ^= s[0];
        s[3] ^= s[1];
        s[1] ^= s[2];
        s[0] ^= s[3];
        s[2] ^= t;
        s[3] = rotl(s[3], 45);
        return result;
}

uint64_t rng_below(struct rng *r, uint64_t n)
{
        /* Modulo bias is below 2^-32 for the ranges used here: irrelevant for test data. */
        return rng_next(r) % n;
}

int64_t rng_range(struct rng *r, int64_t lo, int64_t hi)
{
        if (hi <= lo)
                return lo;
        return lo + (int64_t)rng_below(r, (uint64_t)(hi - lo) + 1);
}

double rng_unit(struct rng *r)
{
        return (double)(rng_next(r) >> 11) * 0x1.0p-53;
}

bool rng_chance(struct rng *r, double p)
{
        return rng_unit(r) < p;
}

uint64_t mix64(uint64_t a, uint64_t b)
{
        uint64_t x = a ^ (b * UINT64_C(0xd6e8feb86659fd93));

        (void)splitmix64(&x);
        return splitmix64(&x);
}

static void uuid_text(const unsigned char b[16], char out[37])
{
        static const char hex[] = "0123456789abcdef";
        int i;
        int o = 0;

        for (i = 0; i < 16; i++) {
                if (i == 4 || i == 6 || i == 8 || i == 10)
                        out[o++] = '-';
                out[o++] = hex[b[i] >> 4];
                out[o++] = hex[b[i] & 15];
        }
        out[o] = '\0';
}

static void uuid4_from(uint64_t hi, uint64_t lo, char out[37])
{
        unsigned char b[16];
        int i;

        for (i = 0; i < 8; i++) {
                b[i] = (unsigned char)(hi >> (56 - 8 * i));
                b[8 + i] = (unsigned char)(lo >> (56 - 8 * i));
        }
        b[6] = (unsigned char)((b[6] & 0x0f) | 0x40);
        b[8] = (unsigned char)((b[8] & 0x3f) | 0x80);
        uuid_text(b, out);
}

void rng_uuid4(struct rng *r, char out[37])
{
        uint64_t hi = rng_next(r);
        uint64_t lo = rng_next(r);

        uuid4_from(hi, lo, out);
}

void seed_uuid4(uint64_t seed, char out[37])
{
        uuid4_from(mix64(seed, 1), mix64(seed, 2), out);
}

void uuid6_format(int64_t t_ns, unsigned clock_seq, uint64_t node, char out[37])
{
        /* 100 ns intervals since 1582-10-15, the RFC 4122 epoch. */
        uint64_t ts = (uint64_t)(t_ns / 100) + UINT64_C(0x01b21dd213814000);
        uint64_t time_high = (ts >> 28) & 0xffffffffu;
        uint64_t time_mid = (ts >> 12) & 0xffffu;
        uint64_t time_low = ts & 0xfffu;
        unsigned char b[16];
        int i;

        b[0] = (unsigned char)(time_high >> 24);
        b[1] = (unsigned char)(time_high >> 16);
        b[2] = (unsigned char)(time_high >> 8);
        b[3] = (unsigned char)time_high;
        b[4] = (unsigned char)(time_mid >> 8);
        b[5] = (unsigned char)time_mid;
        b[6] = (unsigned char)(0x60 | (time_low >> 8));
        b[7] = (unsigned char)time_low;
        b[8] = (unsigned char)(0x80 | ((clock_seq >> 8) & 0x3f));
        b[9] = (unsigned char)clock_seq;
        for (i = 0; i < 6; i++)
                b[10 + i] = (unsigned char)(node >> (40 - 8 * i));
        uuid_text(b, out);
}
