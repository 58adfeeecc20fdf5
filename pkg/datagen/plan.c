/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The plan: every row to insert as an action with its instants, decided up front so rows can be
 * inserted in global creation order. Conversations get a timeline (turns of user message, tool
 * calls and answers) placed before a chosen last-activity instant; soft deletes, NULL timestamps
 * and orphans are sprinkled on top, with forcing so each case exists even in small databases.
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "datagen/internal.h"

/* Shares of conversations by agent framework (the rest is ADK). */
#define P_LANGGRAPH 0.16
#define P_CREWAI    0.12
#define P_A2A_USER  0.15
#define P_GHOST     0.03 /* conversation whose session row is gone */
#define P_TWIN      0.04 /* session id owned by a second user */
#define P_EMPTY     0.05 /* session row without any turn */
#define P_NULL_TIME 0.002

/* An instant old enough that soft-delete purging (default 7d) applies, and a recent one. */
#define OLD_DEL_BEFORE (8 * NS_PER_DAY)
#define NEW_DEL_AFTER  (5 * NS_PER_DAY)

static const char *const ui_users[] = {
        "admin@kagent.dev",   "admin@kagent.dev",  "admin@kagent.dev", "admin@kagent.dev",
        "alice@example.com",  "alice@example.com", "bob@example.com",  "carol@example.com",
        "sre-oncall@acme.io", "dev@acme.io",
};

#define N_OF(a) (sizeof(a) / sizeof((a)[0]))

static void set_err(struct plan *p, int rc)
{
        if (p->rc == 0)
                p->rc = rc;
}

static int64_t clamp_now(const struct plan *p, int64_t t)
{
        return t < p->now - NS_PER_MS ? t : p->now - NS_PER_MS;
}

static double est_row(enum act_kind kind, uint32_t size, uint16_t step)
{
        switch (kind) {
        case ACT_EVENT:
                return size + 330.0;
        case ACT_TASK:
                return size + 280.0;
        case ACT_CP:
                return size * 4.0 / 3.0 + 1000.0;
        case ACT_CPW:
                return step * (size * 4.0 / 3.0 + 330.0);
        case ACT_MEMORY:
                return size + 7300.0;
        case ACT_PUSH:
                return 600.0;
        default:
                return size + 300.0;
        }
}

static struct act *act_add(struct plan *p, enum act_kind kind, uint32_t sess, int64_t t,
                           uint64_t seed)
{
        struct act *a;

        if (p->rc < 0)
                return NULL;
        if (p->n_acts == p->cap_acts) {
                size_t cap = p->cap_acts ? p->cap_acts * 2 : 4096;
                struct act *n = reallocarray(p->acts, cap, sizeof(*n));

                if (!n) {
                        set_err(p, -ENOMEM);
                        return NULL;
                }
                p->acts = n;
                p->cap_acts = cap;
        }
        a = &p->acts[p->n_acts];
        memset(a, 0, sizeof(*a));
        a->t = clamp_now(p, t);
        a->upd = a->t;
        a->del = TIME_NONE;
        a->aux = TIME_NONE;
        a->seed = seed;
        a->seq = (uint32_t)p->n_acts;
        a->sess = sess;
        a->kind = (uint8_t)kind;
        p->n_acts++;
        return a;
}

/* Account for a finished action in the size estimate. */
static void act_done(struct plan *p, const struct act *a)
{
        p->est_bytes += est_row((enum act_kind)a->kind, a->size, a->step);
}

static int64_t sess_add(struct plan *p)
{
        if (p->n_sess == p->cap_sess) {
                size_t cap = p->cap_sess ? p->cap_sess * 2 : 256;
                struct sess *n = reallocarray(p->sess, cap, sizeof(*n));

                if (!n) {
                        set_err(p, -ENOMEM);
                        return -1;
                }
                p->sess = n;
                p->cap_sess = cap;
        }
        memset(&p->sess[p->n_sess], 0, sizeof(p->sess[0]));
        return (int64_t)p->n_sess++;
}

static struct pt *pt_add(struct plan *p, int64_t rel, unsigned turn, unsigned role, unsigned round)
{
        struct pt *pt;

        if (p->n_pts == p->cap_pts) {
                size_t cap = p->cap_pts ? p->cap_pts * 2 : 256;
                struct pt *n = reallocarray(p->pts, cap, sizeof(*n));

                if (!n) {
                        set_err(p, -ENOMEM);
                        return NULL;
                }
                p->pts = n;
                p->cap_pts = cap;
        }
        pt = &p->pts[p->n_pts++];
        pt->rel = rel;
        pt->turn = (uint16_t)turn;
        pt->role = (uint8_t)role;
        pt->round = (uint8_t)round;
        return pt;
}

/* ---- controller caches ---- */

static void plan_caches(struct plan *p)
{
        size_t i, j;
        int64_t base = p->win_start - 20 * NS_PER_DAY;

        for (i = 0; i < dg_n_agents; i++) {
                struct act *a;

                if (p->layout == DATAGEN_LAYOUT_V05 && dg_agents[i].kind != SK_ADK)
                        continue;
                a = act_add(p, ACT_AGENT, (uint32_t)i, base + rng_range(&p->rng, 0, 5 * NS_PER_DAY),
                            mix64(p->seed, 0xa0000 + i));
                if (!a)
                        return;
                a->upd = p->now - rng_range(&p->rng, NS_PER_MIN, 6 * NS_PER_H);
                if (dg_agent_is_deleted(i)) {
                        a->del = p->now - rng_range(&p->rng, 9 * NS_PER_DAY, 12 * NS_PER_DAY);
                        a->upd = a->del;
                }
                act_done(p, a);
        }
        for (i = 0; i < dg_toolserver_count(); i++) {
                struct act *s = act_add(p, ACT_TOOLSERVER, (uint32_t)i,
                                        base + rng_range(&p->rng, 0, NS_PER_DAY),
                                        mix64(p->seed, 0xb0000 + i));
                int64_t t0, del;

                if (!s)
                        return;
                s->upd = p->now - rng_range(&p->rng, NS_PER_MIN, NS_PER_H);
                s->aux = p->now - rng_range(&p->rng, 10 * NS_PER_S, 10 * NS_PER_MIN);
                if (dg_toolserver_is_deleted(i)) {
                        s->del = p->now - rng_range(&p->rng, 2 * NS_PER_DAY, 3 * NS_PER_DAY);
                        s->upd = s->del;
                        s->aux = s->del - NS_PER_H;
                }
                act_done(p, s);
                t0 = s->t;
                del = s->del;
                for (j = 0; j < dg_tool_count(i); j++) {
                        struct act *t = act_add(p, ACT_TOOL, (uint32_t)i, t0 + (int64_t)j + 1,
                                                mix64(p->seed, 0xc0000 + i * 100 + j));

                        if (!t)
                                return;
                        t->step = (uint16_t)j;
                        /* Each discovery refresh soft-deletes and re-upserts the tools. */
                        t->upd = p->now - rng_range(&p->rng, NS_PER_MIN, NS_PER_H);
                        t->del = del;
                        if (del == TIME_NONE && rng_chance(&p->rng, 0.1))
                                t->del = p->now - rng_range(&p->rng, NS_PER_H, 20 * NS_PER_DAY);
                        if (t->del != TIME_NONE)
                                t->upd = t->del;
                        act_done(p, t);
                }
        }
}

/* ---- one conversation ---- */

static int64_t pick_last_activity(struct plan *p, struct rng *r, bool hist)
{
        int64_t span = p->now - p->win_start;
        int64_t last;
        double u = rng_unit(r);

        if (hist) {
                /* History for size targets: older conversations first. */
                last = p->win_start + NS_PER_H + (int64_t)((double)span * 0.6 * u * u);
        } else if (u < 0.10) {
                last = p->now - rng_range(r, 10 * NS_PER_S, 25 * NS_PER_MIN); /* active */
        } else if (u < 0.22) {
                last = p->now - rng_range(r, 30 * NS_PER_MIN, NS_PER_DAY);
        } else if (u < 0.50) {
                last = p->now - rng_range(r, NS_PER_DAY, 7 * NS_PER_DAY);
        } else {
                last = p->now - rng_range(r, 7 * NS_PER_DAY, span);
        }
        if (last < p->win_start + NS_PER_MIN)
                last = p->win_start + NS_PER_MIN + rng_range(r, 0, NS_PER_MIN);
        return clamp_now(p, last);
}

static unsigned pick_turns(struct plan *p, struct rng *r, const struct sess *s, bool hist)
{
        double e;

        if (s->kind == SK_LG)
                return (unsigned)rng_range(r, 1, 6);
        if (s->kind == SK_CREW)
                return (unsigned)rng_range(r, 1, 4);
        if (!hist && !(s->flags & (SF_GHOST | SF_TWIN)) && rng_chance(r, P_EMPTY))
                return 0;
        if (hist)
                e = p->events_mean * (2.0 + 2.0 * rng_unit(r));
        else
                e = p->events_mean * (0.2 + 1.6 * rng_unit(r));
        /* About 4.4 events per turn: user, 1.2 call/response pairs, answer. */
        e = e / 4.4 + 0.5;
        if (e < 1)
                return 1;
        return e > 4000 ? 4000u : (unsigned)e;
}

static int64_t log_uniform(struct rng *r, int64_t lo, int64_t hi)
{
        return (int64_t)((double)lo * exp(rng_unit(r) * log((double)hi / (double)lo)));
}

/* Build the timeline into p->pts: per turn PT_START, user, (call, response)*, answer. */
static void build_timeline(struct plan *p, struct rng *r, unsigned turns, bool resumed)
{
        int64_t cur = 0;
        unsigned t, k;

        p->n_pts = 0;
        for (t = 0; t < turns && p->rc == 0; t++) {
                unsigned rounds;
                double u = rng_unit(r);

                rounds = u < 0.30 ? 0 : u < 0.65 ? 1 : u < 0.85 ? 2 : 3;
                (void)pt_add(p, cur, t, PT_START, 0);
                cur += rng_range(r, 200 * NS_PER_MS, 1500 * NS_PER_MS);
                (void)pt_add(p, cur, t, EV_USER, 0);
                for (k = 0; k < rounds; k++) {
                        cur += rng_range(r, NS_PER_S, 8 * NS_PER_S);
                        (void)pt_add(p, cur, t, EV_CALL, k);
                        cur += rng_range(r, 300 * NS_PER_MS, 20 * NS_PER_S);
                        (void)pt_add(p, cur, t, EV_RESP, k);
                }
                cur += rng_range(r, 2 * NS_PER_S, 25 * NS_PER_S);
                (void)pt_add(p, cur, t, EV_TEXT, rounds);
                if (resumed && (rng_chance(r, 0.3) || t == turns / 2))
                        cur += log_uniform(r, NS_PER_H, 12 * NS_PER_DAY);
                else
                        cur += log_uniform(r, 20 * NS_PER_S, 15 * NS_PER_MIN);
        }
}

struct tl {
        int64_t last; /* absolute instant of the last point */
        int64_t span; /* rel of the last point */
        double scale; /* squeeze into the window */
        unsigned turns;
        uint32_t si;
        bool ghost;
};

static int64_t abs_time(const struct tl *tl, int64_t rel)
{
        return tl->last - (int64_t)((double)(tl->span - rel) * tl->scale);
}

static uint8_t pick_state(struct plan *p, struct rng *r, bool last_turn, int64_t last)
{
        double u = rng_unit(r);

        if (last_turn) {
                bool active = last > p->now - 30 * NS_PER_MIN;
                double w = active ? 4.0 : 1.0;

                if (u < 0.04 * w)
                        return TS_WORKING;
                if (u < 0.07 * w)
                        return TS_INPUT_REQUIRED;
                if (u < 0.08 * w)
                        return TS_AUTH_REQUIRED;
                if (u < 0.09 * w)
                        return TS_SUBMITTED;
                if (u < 0.09 * w + 0.01)
                        return TS_V1_WORKING;
                u = rng_unit(r);
        }
        if (u < 0.05)
                return TS_FAILED;
        if (u < 0.08)
                return TS_CANCELED;
        if (u < 0.09)
                return TS_REJECTED;
        if (u < 0.095)
                return TS_UNKNOWN;
        if (u < 0.125)
                return TS_V1_COMPLETED;
        if (u < 0.13)
                return TS_V1_FAILED;
        return TS_COMPLETED;
}

static uint32_t event_size(struct rng *r, unsigned role, bool v05)
{
        double u = rng_unit(r);

        switch (role) {
        case EV_USER:
                return (uint32_t)rng_range(r, 600, 1300);
        case EV_CALL:
                return (uint32_t)rng_range(r, v05 ? 500 : 1100, v05 ? 900 : 1500);
        case EV_RESP:
                return (uint32_t)(1500 + 6500 * pow(u, 1.5));
        default:
                return (uint32_t)rng_range(r, 900, 4500);
        }
}

static void plan_task(struct plan *p, struct rng *r, const struct tl *tl, unsigned turn,
                      int64_t start, int64_t end)
{
        const struct sess *s = &p->sess[tl->si];
        uint64_t tseed = mix64(s->seed, 0x7a500000u + turn);
        int64_t t = start + rng_range(r, 20 * NS_PER_MS, 80 * NS_PER_MS);
        bool push = rng_chance(r, 0.08);
        bool ghost_task = false;
        struct act *a;

        if (push && (rng_chance(r, 0.1) || !p->have_orphan_push)) {
                ghost_task = true; /* hard-deleted task, its push notification remains */
                p->have_orphan_push = true;
        }
        if (!ghost_task) {
                a = act_add(p, ACT_TASK, tl->si, t, tseed);
                if (!a)
                        return;
                a->upd = clamp_now(p, end + rng_range(r, 50 * NS_PER_MS, 400 * NS_PER_MS));
                a->turn = (uint16_t)turn;
                a->role = pick_state(p, r, turn + 1 == tl->turns, tl->last);
                a->size = (uint32_t)rng_range(r, 1200, 6000);
                a->flags = tl->ghost ? AF_ORPHAN : 0;
                act_done(p, a);
        }
        if (!push)
                return;
        a = act_add(p, ACT_PUSH, tl->si, t + rng_range(r, 3 * NS_PER_MS, 40 * NS_PER_MS),
                    mix64(tseed, 0x9054));
        if (!a)
                return;
        a->aux = (int64_t)tseed;
        a->turn = (uint16_t)turn;
        a->flags = ghost_task ? AF_ORPHAN : 0;
        act_done(p, a);
}

static void plan_events(struct plan *p, struct rng *r, const struct tl *tl, size_t lo, size_t hi)
{
        size_t i;

        for (i = lo; i < hi; i++) {
                const struct pt *pt = &p->pts[i];
                struct act *a;

                if (pt->role == PT_START)
                        continue;
                a = act_add(p, ACT_EVENT, tl->si, abs_time(tl, pt->rel),
                            mix64(p->sess[tl->si].seed, 0xe0000000u + i));
                if (!a)
                        return;
                a->turn = pt->turn;
                a->step = pt->round;
                a->role = pt->role;
                a->size = event_size(r, pt->role, p->layout == DATAGEN_LAYOUT_V05);
                a->flags = tl->ghost ? AF_ORPHAN : 0;
                act_done(p, a);
        }
}

struct chain {
        int64_t prev_t; /* TIME_NONE: next checkpoint has no parent */
        unsigned prev_step1;
        unsigned step1;
        uint8_t flags;
};

static void plan_checkpoint(struct plan *p, struct rng *r, const struct tl *tl, struct chain *ch,
                            unsigned turn, int64_t t, bool writes)
{
        uint64_t seed = mix64(p->sess[tl->si].seed, 0xc9000000u + p->n_acts);
        bool ghost_cp = false;
        struct act *a;

        t = clamp_now(p, t);
        if (writes && (rng_chance(r, 0.02) || !p->have_orphan_cpw)) {
                ghost_cp = true; /* checkpoint gone, its writes remain */
                p->have_orphan_cpw = true;
        }
        if (!ghost_cp) {
                a = act_add(p, ACT_CP, tl->si, t, seed);
                if (!a)
                        return;
                a->aux = ch->prev_t;
                a->aux2 = (uint16_t)ch->prev_step1;
                a->step = (uint16_t)ch->step1;
                a->turn = (uint16_t)turn;
                a->size = (uint32_t)(700 + 900 * (turn < 14 ? turn : 14) + rng_range(r, 0, 800));
                a->flags = (uint8_t)(ch->flags | (tl->ghost ? AF_ORPHAN : 0));
                act_done(p, a);
        }
        if (writes) {
                a = act_add(p, ACT_CPW, tl->si, t + rng_range(r, 2 * NS_PER_MS, 40 * NS_PER_MS),
                            mix64(seed, 0x3717e));
                if (!a)
                        return;
                a->aux = t;
                a->aux2 = (uint16_t)ch->step1;
                a->step = (uint16_t)rng_range(r, 1, 4);
                a->turn = (uint16_t)turn;
                a->size = (uint32_t)rng_range(r, 80, 1200);
                a->flags = (uint8_t)(ch->flags | (ghost_cp ? AF_ORPHAN : 0));
                act_done(p, a);
        }
        ch->prev_t = t;
        ch->prev_step1 = ch->step1;
        ch->step1 = (ch->step1 + 1) & 0x3fff;
}

static void plan_subgraph(struct plan *p, struct rng *r, const struct tl *tl, unsigned turn,
                          int64_t lo, int64_t hi)
{
        struct chain sub = { TIME_NONE, 0, 0, AF_SUBNS };
        unsigned n = (unsigned)rng_range(r, 2, 3);
        unsigned k;

        for (k = 0; k < n; k++) {
                int64_t t = lo + (hi - lo) * (int64_t)(k + 1) / (int64_t)(n + 1);

                plan_checkpoint(p, r, tl, &sub, turn, t, k + 1 < n);
        }
}

static void plan_checkpoints(struct plan *p, struct rng *r, const struct tl *tl)
{
        struct chain root = { TIME_NONE, 0, 0, 0 };
        size_t i;

        for (i = 0; i < p->n_pts && p->rc == 0; i++) {
                const struct pt *pt = &p->pts[i];
                bool last_of_turn = i + 1 == p->n_pts || p->pts[i + 1].role == PT_START;

                if (pt->role == PT_START) {
                        /* A subgraph run inside this turn, in its own namespace. */
                        size_t j = i + 1;

                        while (j + 1 < p->n_pts && p->pts[j + 1].role != PT_START)
                                j++;
                        if (j > i + 2 && (rng_chance(r, 0.25) || !p->have_subns)) {
                                p->have_subns = true;
                                plan_subgraph(p, r, tl, pt->turn, abs_time(tl, p->pts[i + 1].rel),
                                              abs_time(tl, p->pts[j].rel));
                        }
                        continue;
                }
                plan_checkpoint(p, r, tl, &root, pt->turn, abs_time(tl, pt->rel), !last_of_turn);
        }
}

static void plan_crewai(struct plan *p, struct rng *r, const struct tl *tl)
{
        int64_t first_start = abs_time(tl, p->pts[1].rel); /* turn 0's user message */
        int64_t first_end = first_start;
        int64_t end = abs_time(tl, tl->span);
        unsigned methods = (unsigned)rng_range(r, 2, 4);
        unsigned m;
        size_t i;
        struct act *a;

        for (i = 0; i < p->n_pts && p->pts[i].turn == 0; i++)
                first_end = abs_time(tl, p->pts[i].rel);
        a = act_add(p, ACT_CREW_MEM, tl->si, first_end + 100 * NS_PER_MS,
                    mix64(p->sess[tl->si].seed, 0xc7e30000u));
        if (!a)
                return;
        a->upd = clamp_now(p, end + 150 * NS_PER_MS);
        a->size = (uint32_t)rng_range(r, 400, 3000);
        a->flags = tl->ghost ? AF_ORPHAN : 0;
        act_done(p, a);
        for (m = 0; m < methods; m++) {
                /* Flow methods run one after the other during the first turn. */
                a = act_add(p, ACT_CREW_FLOW, tl->si,
                            first_start + (first_end - first_start) * (int64_t)(m + 1) /
                                                  (int64_t)(methods + 1),
                            mix64(p->sess[tl->si].seed, 0xf1030000u + m));
                if (!a)
                        return;
                a->upd = clamp_now(p, end + (int64_t)m * NS_PER_MS);
                a->step = (uint16_t)m;
                a->size = (uint32_t)rng_range(r, 300, 4000);
                a->flags = tl->ghost ? AF_ORPHAN : 0;
                act_done(p, a);
        }
}

static void plan_feedback(struct plan *p, struct rng *r, const struct tl *tl)
{
        unsigned n = (unsigned)rng_range(r, 1, 2);
        unsigned k;

        for (k = 0; k < n; k++) {
                const struct pt *pt = &p->pts[rng_below(r, p->n_pts)];
                struct act *a;

                a = act_add(p, ACT_FEEDBACK, tl->si,
                            abs_time(tl, pt->rel) + rng_range(r, 3 * NS_PER_S, 300 * NS_PER_S),
                            mix64(p->sess[tl->si].seed, 0xfeed0000u + k));
                if (!a)
                        return;
                a->upd = clamp_now(p, a->t + rng_range(r, 0, 5 * NS_PER_MS));
                /* is_positive; the first two rows cover both answers */
                a->role = p->n_feedback < 2 ? (uint8_t)(p->n_feedback & 1)
                                            : (uint8_t)rng_chance(r, 0.65);
                p->n_feedback++;
                act_done(p, a);
        }
}

static bool wants_del(const struct plan *p, enum act_kind k, int64_t base);

/* Feedback is rare; make sure a few rows exist, old and recent, to cover every rule. */
static bool wants_feedback(const struct plan *p, const struct tl *tl)
{
        if (p->n_feedback < 4 || !p->have_null[ACT_FEEDBACK])
                return true;
        return wants_del(p, ACT_FEEDBACK, tl->last);
}

static void plan_turns(struct plan *p, struct rng *r, const struct tl *tl)
{
        const struct sess *s = &p->sess[tl->si];
        size_t i = 0;

        while (i < p->n_pts && p->rc == 0) {
                size_t j = i + 1;

                while (j < p->n_pts && p->pts[j].role != PT_START)
                        j++;
                plan_task(p, r, tl, p->pts[i].turn, abs_time(tl, p->pts[i].rel),
                          abs_time(tl, p->pts[j - 1].rel));
                if (s->kind == SK_ADK)
                        plan_events(p, r, tl, i, j);
                i = j;
        }
        if (s->kind == SK_LG)
                plan_checkpoints(p, r, tl);
        else if (s->kind == SK_CREW)
                plan_crewai(p, r, tl);
        else if (p->n_pts > 0 && (rng_chance(r, 0.12) || wants_feedback(p, tl)))
                plan_feedback(p, r, tl);
}

/* ---- soft deletes and NULL timestamps ---- */

/* A deleted_at after 'base', or TIME_NONE when 'force' finds nothing to cover. */
static int64_t pick_del(struct plan *p, struct rng *r, enum act_kind k, int64_t base, bool force)
{
        int64_t hi = p->now - NS_PER_MIN;
        int64_t old = p->now - OLD_DEL_BEFORE;
        int64_t del;

        if (base >= hi)
                return TIME_NONE;
        if (!p->have_old_del[k] && base < old) {
                del = rng_range(r, base, old);
        } else if (!p->have_new_del[k]) {
                del = rng_range(r, base > p->now - NEW_DEL_AFTER ? base : p->now - NEW_DEL_AFTER,
                                hi);
        } else {
                if (force)
                        return TIME_NONE;
                del = rng_range(r, base, hi);
        }
        if (del < old)
                p->have_old_del[k] = true;
        if (del > p->now - NEW_DEL_AFTER)
                p->have_new_del[k] = true;
        return del;
}

static bool wants_del(const struct plan *p, enum act_kind k, int64_t base)
{
        if (!p->have_old_del[k] && base < p->now - OLD_DEL_BEFORE)
                return true;
        return !p->have_new_del[k] && base < p->now - NS_PER_H;
}

static double del_chance(enum act_kind k)
{
        switch (k) {
        case ACT_SESSION:
                return 0.07;
        case ACT_EVENT:
                return 0.015;
        case ACT_TASK:
                return 0.03;
        case ACT_PUSH:
        case ACT_FEEDBACK:
                return 0.10;
        case ACT_CREW_MEM:
                return 0.15;
        case ACT_CREW_FLOW:
                return 0.10;
        default:
                return 0.01;
        }
}

static void mark_null(struct plan *p, struct rng *r, struct act *a)
{
        enum act_kind k = (enum act_kind)a->kind;

        if (!(rng_chance(r, P_NULL_TIME) || !p->have_null[k]))
                return;
        p->have_null[k] = true;
        if ((k == ACT_SESSION || k == ACT_TASK || k == ACT_CREW_MEM || k == ACT_CREW_FLOW) &&
            rng_chance(r, 0.5))
                a->flags |= AF_NULL_UPDATED;
        else
                a->flags |= AF_NULL_CREATED | AF_NULL_UPDATED;
}

struct dels {
        int64_t session; /* session row deleted (UI delete: soft, children stay) */
        int64_t thread;  /* LangGraph thread deleted: all checkpoints and writes */
        int64_t last;    /* last activity */
        unsigned turns;
        bool adk;
};

static void mark_act(struct plan *p, struct rng *r, struct act *a, const struct dels *d)
{
        enum act_kind k = (enum act_kind)a->kind;
        int64_t base = (a->upd > a->t ? a->upd : a->t) + NS_PER_S;

        if (k == ACT_SESSION) {
                a->del = d->session;
        } else if ((k == ACT_CP || k == ACT_CPW) && d->thread != TIME_NONE) {
                a->del = d->thread;
                if (a->del < p->now - OLD_DEL_BEFORE)
                        p->have_old_del[k] = true;
                else if (a->del > p->now - NEW_DEL_AFTER)
                        p->have_new_del[k] = true;
        } else if (rng_chance(r, del_chance(k))) {
                a->del = pick_del(p, r, k, base, false);
        } else if (wants_del(p, k, base)) {
                a->del = pick_del(p, r, k, base, true);
        }
        mark_null(p, r, a);
}

static void mark_session(struct plan *p, struct rng *r, size_t first, struct dels *d)
{
        bool has_row = false;
        bool has_cp = false;
        size_t i;

        d->session = TIME_NONE;
        d->thread = TIME_NONE;
        for (i = first; i < p->n_acts; i++) {
                has_row |= p->acts[i].kind == ACT_SESSION;
                has_cp |= p->acts[i].kind == ACT_CP;
        }
        /* Forced session deletes go to ADK conversations, so deleted sessions keep events. */
        if (has_row && d->turns > 0 &&
            (rng_chance(r, del_chance(ACT_SESSION)) ||
             (d->adk && wants_del(p, ACT_SESSION, d->last + NS_PER_MIN))))
                d->session = pick_del(p, r, ACT_SESSION, d->last + NS_PER_MIN, false);
        if (has_cp && rng_chance(r, 0.10))
                d->thread = pick_del(p, r, ACT_CP, d->last + NS_PER_MIN, false);
        for (i = first; i < p->n_acts; i++)
                mark_act(p, r, &p->acts[i], d);
}

/* ---- conversations ---- */

static void plan_session_row(struct plan *p, struct rng *r, const struct tl *tl, int64_t first)
{
        struct act *a;

        if (tl->ghost)
                return;
        a = act_add(p, ACT_SESSION, tl->si, first - rng_range(r, 5 * NS_PER_MS, 800 * NS_PER_MS),
                    mix64(p->sess[tl->si].seed, 0x5e55));
        if (!a)
                return;
        if (rng_chance(r, 0.78))
                a->upd = a->t + rng_range(r, NS_PER_MS, 40 * NS_PER_MS);
        else /* renamed or re-saved later */
                a->upd = rng_range(r, a->t, tl->last > a->t ? tl->last : a->t);
        act_done(p, a);
}

/*
 * LangGraph and CrewAI conversations are few: place them in the past, then in the last days,
 * until their tables hold rows that can be soft-deleted both beyond and within the default
 * purge age.
 */
static int64_t coverage_last(const struct plan *p, struct rng *r, const struct sess *s,
                             int64_t last)
{
        enum act_kind a = s->kind == SK_CREW ? ACT_CREW_MEM : ACT_CP;
        enum act_kind b = s->kind == SK_CREW ? ACT_CREW_FLOW : ACT_CPW;

        if (s->kind == SK_ADK && !(s->flags & SF_GHOST) && !p->have_active && p->n_sess > 3) {
                /* Make sure some conversation is active right now. */
                return p->now - rng_range(r, 10 * NS_PER_S, 20 * NS_PER_MIN);
        }
        if (s->kind == SK_ADK)
                return last;
        if ((!p->have_old_del[a] || !p->have_old_del[b]) &&
            p->now - p->win_start >= 10 * NS_PER_DAY)
                return p->now - rng_range(r, 9 * NS_PER_DAY, p->now - p->win_start);
        if ((!p->have_new_del[a] || !p->have_new_del[b]) && p->now - p->win_start >= 5 * NS_PER_DAY)
                return p->now - rng_range(r, 2 * NS_PER_H, 4 * NS_PER_DAY);
        return last;
}

static void plan_timeline(struct plan *p, uint32_t si, bool hist)
{
        struct sess *s = &p->sess[si];
        struct rng r;
        struct tl tl;
        struct dels d;
        size_t first = p->n_acts;
        int64_t start;

        rng_seed(&r, s->seed);
        tl.si = si;
        tl.ghost = (s->flags & SF_GHOST) != 0;
        tl.turns = pick_turns(p, &r, s, hist);
        tl.last = pick_last_activity(p, &r, hist);
        tl.last = coverage_last(p, &r, s, tl.last);
        if (s->kind == SK_ADK && !(s->flags & SF_GHOST) && tl.last > p->now - 30 * NS_PER_MIN)
                p->have_active = true;
        build_timeline(p, &r, tl.turns, rng_chance(&r, 0.3));
        tl.span = p->n_pts > 0 ? p->pts[p->n_pts - 1].rel : 0;
        tl.scale = 1.0;
        start = tl.last - tl.span;
        if (tl.span > 0 && start < p->win_start + NS_PER_MIN)
                tl.scale = (double)(tl.last - p->win_start - NS_PER_MIN) / (double)tl.span;
        plan_session_row(p, &r, &tl, abs_time(&tl, 0));
        plan_turns(p, &r, &tl);
        d.last = tl.last;
        d.turns = tl.turns;
        d.adk = s->kind == SK_ADK;
        mark_session(p, &r, first, &d);
}

static void pick_identity(struct plan *p, struct sess *s, bool hist)
{
        double u = rng_unit(&p->rng);
        size_t i;

        s->kind = SK_ADK;
        if (p->layout != DATAGEN_LAYOUT_V05 && !hist)
                s->kind = u < P_LANGGRAPH ? SK_LG : u < P_LANGGRAPH + P_CREWAI ? SK_CREW : SK_ADK;
        /* The first conversations take turns, so every framework shows up even in tiny files. */
        if (p->layout != DATAGEN_LAYOUT_V05 && !hist && p->n_sess <= 9)
                s->kind = (uint8_t)((p->n_sess - 1) % 3);
        do {
                i = rng_below(&p->rng, dg_n_agents);
        } while (dg_agents[i].kind != s->kind);
        s->agent = (uint16_t)i;
        rng_uuid4(&p->rng, s->id);
        s->seed = rng_next(&p->rng);
        if (rng_chance(&p->rng, P_A2A_USER)) {
                s->flags |= SF_A2A;
                (void)snprintf(s->user, sizeof(s->user), "A2A_USER_%s", s->id);
        } else {
                (void)snprintf(s->user, sizeof(s->user), "%s",
                               ui_users[rng_below(&p->rng, N_OF(ui_users))]);
        }
        if (rng_chance(&p->rng, 0.08))
                s->flags |= SF_NONAME;
        if (rng_chance(&p->rng, 0.03))
                s->flags |= SF_NOAGENT;
        if (hist)
                s->flags |= SF_HISTORY;
}

/* True when a session in [base, end) (base and its twins) belongs to 'user'. */
static bool owner_exists(const struct plan *p, uint32_t base, uint32_t end, const char *user)
{
        uint32_t i;

        for (i = base; i < end; i++) {
                if (strcmp(p->sess[i].user, user) == 0)
                        return true;
        }
        return false;
}

/* Another owner of session 'base' (same id, different user, own timeline). */
static void plan_twin(struct plan *p, uint32_t base)
{
        int64_t ti = sess_add(p);
        struct sess *s;
        const char *user;

        if (ti < 0)
                return;
        s = &p->sess[ti];
        *s = p->sess[base];
        s->flags = SF_TWIN;
        s->seed = rng_next(&p->rng);
        do {
                user = ui_users[rng_below(&p->rng, N_OF(ui_users))];
        } while (owner_exists(p, base, (uint32_t)ti, user));
        (void)snprintf(s->user, sizeof(s->user), "%s", user);
        plan_timeline(p, (uint32_t)ti, false);
}

static unsigned plan_conversation(struct plan *p, uint32_t index, bool hist)
{
        int64_t si = sess_add(p);
        struct sess *s;
        unsigned used = 1;

        if (si < 0)
                return 1;
        s = &p->sess[si];
        pick_identity(p, s, hist);
        if (!hist && index >= 2 && (rng_chance(&p->rng, P_GHOST) || !p->have_ghost[s->kind])) {
                s->flags |= SF_GHOST;
                p->have_ghost[s->kind] = true;
        }
        plan_timeline(p, (uint32_t)si, hist);
        s = &p->sess[si];
        if (hist || s->kind != SK_ADK || (s->flags & (SF_GHOST | SF_A2A)))
                return used;
        if (rng_chance(&p->rng, P_TWIN) || (!p->have_twin && index >= 1)) {
                p->have_twin = true;
                p->shared_ids++;
                plan_twin(p, (uint32_t)si);
                used++;
                if (rng_chance(&p->rng, 0.25)) {
                        plan_twin(p, (uint32_t)si);
                        used++;
                }
        }
        return used;
}

static void plan_memories(struct plan *p, uint32_t sessions)
{
        uint32_t n = sessions / 8 > 3 ? sessions / 8 : 3;
        uint32_t k;

        if (p->n_sess == 0)
                return;
        for (k = 0; k < n; k++) {
                uint32_t si = (uint32_t)rng_below(&p->rng, p->n_sess);
                struct act *a = act_add(p, ACT_MEMORY, si,
                                        rng_range(&p->rng, p->win_start, p->now - NS_PER_MIN),
                                        mix64(p->seed, 0x3e3000u + k));

                if (!a)
                        return;
                a->aux = a->t + 15 * NS_PER_DAY;
                a->role = (uint8_t)rng_range(&p->rng, 0, 14); /* access_count */
                a->size = (uint32_t)rng_range(&p->rng, 200, 900);
                act_done(p, a);
        }
}

/* Make sure every task state appears: restate some completed tasks (stale runs). */
static void cover_states(struct plan *p)
{
        bool have[TS_COUNT] = { false };
        size_t i, n_done = 0;
        unsigned st;

        for (i = 0; i < p->n_acts; i++) {
                if (p->acts[i].kind != ACT_TASK)
                        continue;
                have[p->acts[i].role] = true;
                n_done += p->acts[i].role == TS_COMPLETED;
        }
        for (st = 0; st < TS_COUNT; st++) {
                /* Spread the picks; each pick removes one completed task. */
                size_t skip = n_done > 0 ? ((size_t)st * 7919) % n_done : 0;

                if (have[st])
                        continue;
                for (i = 0; i < p->n_acts; i++) {
                        struct act *a = &p->acts[i];

                        if (a->kind != ACT_TASK || a->role != TS_COMPLETED)
                                continue;
                        if (skip > 0) {
                                skip--;
                                continue;
                        }
                        a->role = (uint8_t)st;
                        n_done--;
                        break;
                }
        }
}

static int act_cmp(const void *a, const void *b)
{
        const struct act *x = a;
        const struct act *y = b;

        if (x->t != y->t)
                return x->t < y->t ? -1 : 1;
        return x->seq < y->seq ? -1 : x->seq > y->seq;
}

int plan_build(struct plan *p, const struct datagen_opts *o, int64_t now_ns, double factor)
{
        uint32_t i = 0;

        memset(p, 0, sizeof(*p));
        p->layout = o->layout;
        p->seed = o->seed;
        p->now = now_ns;
        p->win_start = now_ns - (int64_t)o->days * NS_PER_DAY;
        p->events_mean = o->events_per_session;
        rng_seed(&p->rng, o->seed);
        plan_caches(p);
        while (i < o->sessions && p->rc == 0)
                i += plan_conversation(p, i, false);
        if (p->layout == DATAGEN_LAYOUT_TURSO)
                plan_memories(p, o->sessions);
        while (o->size_target_bytes > 0 && p->est_bytes * factor < (double)o->size_target_bytes &&
               p->rc == 0) {
                (void)plan_conversation(p, i++, true);
                p->n_history++;
        }
        if (p->rc < 0)
                return p->rc;
        cover_states(p);
        qsort(p->acts, p->n_acts, sizeof(p->acts[0]), act_cmp);
        return 0;
}

void plan_cleanup(struct plan *p)
{
        free(p->acts);
        free(p->sess);
        free(p->pts);
        p->acts = NULL;
        p->sess = NULL;
        p->pts = NULL;
}
