/* SPDX-License-Identifier: Apache-2.0 */
#ifndef DATAGEN_INTERNAL_H
#define DATAGEN_INTERNAL_H

/*
 * Private declarations shared by the datagen sources: the PRNG, a sticky-error text builder,
 * payload encoders, the plan (one action per row to insert) and the payload generators.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/buf.h"
#include "datagen/datagen.h"

#define TIME_NONE  INT64_MIN /* a NULL timestamp / no deleted_at */
#define NS_PER_MS  INT64_C(1000000)
#define NS_PER_S   INT64_C(1000000000)
#define NS_PER_MIN (60 * NS_PER_S)
#define NS_PER_H   (60 * NS_PER_MIN)
#define NS_PER_DAY (24 * NS_PER_H)

/* Largest payload the generators build; far above the 16 KiB they aim for. */
#define DG_PAYLOAD_MAX ((size_t)1 << 24)

/* ---- PRNG: xoshiro256** seeded through splitmix64 (rng.c) ---- */

struct rng {
        uint64_t s[4];
};

void rng_seed(struct rng *r, uint64_t seed);
uint64_t rng_next(struct rng *r);
/* Uniform in [0, n); n > 0. */
uint64_t rng_below(struct rng *r, uint64_t n);
/* Uniform in [lo, hi]; lo <= hi. */
int64_t rng_range(struct rng *r, int64_t lo, int64_t hi);
/* Uniform in [0, 1). */
double rng_unit(struct rng *r);
bool rng_chance(struct rng *r, double p);
/* A well-mixed function of (a, b): derives independent seeds. */
uint64_t mix64(uint64_t a, uint64_t b);
/* Lower-case UUIDv4 text (36 chars + NUL) from the generator. */
void rng_uuid4(struct rng *r, char out[37]);
/* UUIDv4 text derived from a seed alone. */
void seed_uuid4(uint64_t seed, char out[37]);
/*
 * LangGraph-style checkpoint id: a UUIDv6 (time-ordered: its text sorts by 't_ns') with
 * 'clock_seq' and the 48-bit 'node'.
 */
void uuid6_format(int64_t t_ns, unsigned clock_seq, uint64_t node, char out[37]);

/* ---- sticky text builder (text.c): the first error sticks, checked once at the end ---- */

struct sb {
        struct buf b;
        int rc;
};

void sb_init(struct sb *s);
void sb_cleanup(struct sb *s);
void sb_reset(struct sb *s);
void sb_put(struct sb *s, const char *p, size_t n);
void sb_puts(struct sb *s, const char *str);
void sb_putc(struct sb *s, char c);
void sb_printf(struct sb *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Append 'p' escaped for the inside of a JSON string. */
void sb_json_esc(struct sb *s, const char *p, size_t n);
/* Append '"key":"value"' (value escaped). */
void sb_json_kv(struct sb *s, const char *key, const char *value);
/* Append standard base64 of 'p'. */
void sb_base64(struct sb *s, const unsigned char *p, size_t n);

/* Text styles for text_fill(). */
enum text_style {
        TEXT_PROSE = 0, /* assistant answer: sentences, inline code, lists */
        TEXT_QUESTION,  /* a user's request */
        TEXT_TABLE,     /* kubectl-like table output */
        TEXT_LOG,       /* container log lines */
        TEXT_YAML,      /* a manifest */
};

/* Append about 'n' bytes of plain (unescaped) text of 'style' to 's'. */
void text_fill(struct rng *r, struct sb *s, size_t n, enum text_style style);
/* Append about 'n' bytes of text as an escaped JSON string body (no quotes); 'tmp' is scratch. */
void text_json(struct rng *r, struct sb *s, struct sb *tmp, size_t n, enum text_style style);

/* Minimal msgpack writers (enough for LangGraph-shaped checkpoints). */
void mp_map(struct sb *s, uint32_t n);
void mp_arr(struct sb *s, uint32_t n);
void mp_str(struct sb *s, const char *p, size_t n);
void mp_cstr(struct sb *s, const char *str);
void mp_int(struct sb *s, int64_t v);

/* ---- time text (timefmt.c) ---- */

/* Drop sub-second digits for some instants (a hash of 't' decides) so fractions vary. */
int64_t time_coarsen(int64_t t_ns);

/* ---- the plan ---- */

enum sess_kind {
        SK_ADK = 0,
        SK_LG,
        SK_CREW,
};

enum sess_flag {
        SF_GHOST = 1 << 0,   /* no session row: everything hanging off it is an orphan */
        SF_A2A = 1 << 1,     /* user A2A_USER_<id>, no name */
        SF_NONAME = 1 << 2,  /* name NULL */
        SF_NOAGENT = 1 << 3, /* agent_id NULL */
        SF_TWIN = 1 << 4,    /* a second owner of an existing session id */
        SF_HISTORY = 1 << 5, /* added to reach size_target_bytes */
};

struct sess {
        char id[40];
        char user[80];
        uint64_t seed;
        uint16_t agent; /* index into dg_agents */
        uint8_t kind;   /* enum sess_kind */
        uint8_t flags;  /* enum sess_flag */
};

enum act_kind {
        ACT_AGENT = 0,
        ACT_TOOLSERVER,
        ACT_TOOL,
        ACT_MEMORY,
        ACT_SESSION,
        ACT_EVENT,
        ACT_TASK,
        ACT_PUSH,
        ACT_FEEDBACK,
        ACT_CP,
        ACT_CPW,
        ACT_CREW_MEM,
        ACT_CREW_FLOW,
        ACT_COUNT,
};

enum act_flag {
        AF_NULL_CREATED = 1 << 0,
        AF_NULL_UPDATED = 1 << 1,
        AF_ORPHAN = 1 << 2, /* direct parent row is not inserted */
        AF_SUBNS = 1 << 3,  /* checkpoint (write) of a subgraph namespace */
};

/* Event roles (act.role). */
enum ev_role {
        EV_USER = 0,
        EV_CALL,
        EV_RESP,
        EV_TEXT,
};

/* Task states (act.role for ACT_TASK). */
enum task_state {
        TS_COMPLETED = 0,
        TS_SUBMITTED,
        TS_WORKING,
        TS_INPUT_REQUIRED,
        TS_AUTH_REQUIRED,
        TS_CANCELED,
        TS_FAILED,
        TS_REJECTED,
        TS_UNKNOWN,
        TS_V1_COMPLETED, /* A2A v1.0 spellings */
        TS_V1_WORKING,
        TS_V1_FAILED,
        TS_COUNT,
};

extern const char *const dg_task_states[TS_COUNT];

/* One row to insert. Sorted by (t, seq) so rowid order follows creation time. */
struct act {
        int64_t t;     /* creation instant, ns (the row's created_at before NULL-ing) */
        int64_t upd;   /* updated_at, ns */
        int64_t del;   /* deleted_at, ns, or TIME_NONE */
        int64_t aux;   /* CP: parent time (TIME_NONE: no parent); CPW: checkpoint time;
                          PUSH: task seed; FEEDBACK/MEMORY: misc */
        uint64_t seed; /* payload seed */
        uint32_t seq;  /* plan order, tie-break */
        uint32_t sess; /* index into plan->sess (caches: item index) */
        uint32_t size; /* payload target bytes */
        uint16_t turn;
        uint16_t step; /* event round; checkpoint step + 1; write count; flow method */
        uint16_t aux2; /* CP: parent step + 1; CPW: checkpoint step + 1 */
        uint8_t kind;  /* enum act_kind */
        uint8_t flags; /* enum act_flag */
        uint8_t role;  /* enum ev_role / enum task_state */
};

/* A point of a conversation's timeline, relative to its start (plan.c scratch). */
struct pt {
        int64_t rel;
        uint16_t turn;
        uint8_t role; /* enum ev_role, or PT_START */
        uint8_t round;
};

#define PT_START 0xff

struct plan {
        enum datagen_layout layout;
        uint64_t seed;
        int64_t now;       /* ns */
        int64_t win_start; /* now - days */
        uint32_t events_mean;
        struct rng rng;
        struct sess *sess;
        size_t n_sess, cap_sess;
        struct act *acts;
        size_t n_acts, cap_acts;
        struct pt *pts;
        size_t n_pts, cap_pts;
        double est_bytes; /* estimated file bytes of what is planned */
        uint64_t shared_ids;
        uint32_t n_history; /* conversations added for the size target */
        uint32_t n_feedback;
        /* Coverage forcing: each prunable kind gets old/recent soft deletes and NULL times. */
        bool have_old_del[ACT_COUNT], have_new_del[ACT_COUNT], have_null[ACT_COUNT];
        bool have_ghost[3], have_twin, have_orphan_push, have_orphan_cpw, have_active;
        bool have_subns;
        int rc;
};

/* Static catalogues (content.c). */
struct dg_agent {
        const char *id;   /* session.agent_id / agent.id */
        const char *name; /* ADK app name, event author */
        uint8_t kind;     /* enum sess_kind */
};

extern const struct dg_agent dg_agents[];
extern const size_t dg_n_agents;

/* plan.c: build the whole plan; 'size_target' 0 = none; 'factor' scales the size estimate. */
int plan_build(struct plan *p, const struct datagen_opts *o, int64_t now_ns, double factor);
void plan_cleanup(struct plan *p);

/* content.c: payload generators; each resets and fills 'out' (and the buffers named). */
struct content {
        const struct plan *p;
        struct sb out;  /* the main payload */
        struct sb meta; /* a second payload (checkpoint metadata, memory metadata) */
        struct sb aux;  /* a third payload (memory embedding) */
        struct sb tmp;  /* scratch */
        struct sb raw;  /* scratch: bytes before base64 */
        char ts[DATAGEN_TIME_MAX];
};

void content_init(struct content *c, const struct plan *p);
void content_cleanup(struct content *c);
/* The first error of any buffer, or 0. */
int content_rc(const struct content *c);

/* Session title into 'out'; false when the session has no name. */
bool content_session_name(struct content *c, const struct act *a);
void content_event(struct content *c, const struct act *a, char id[37]);
void content_task(struct content *c, const struct act *a, char task_id[37]);
void content_push(struct content *c, const struct act *a, char push_id[37], char task_id[37]);
/* Feedback text into 'out'; returns the issue type or NULL. */
const char *content_feedback(struct content *c, const struct act *a, int *is_positive,
                             int64_t *message_id);
/* 'out' = base64 checkpoint, 'meta' = base64 metadata JSON. */
void content_checkpoint(struct content *c, const struct act *a, char cp_id[37], char parent_id[37],
                        bool *has_parent, int *version);
/* Write 'i' of a checkpoint write action: 'out' = value; returns the channel. */
const char *content_cp_write(struct content *c, const struct act *a, unsigned i, int *idx_out,
                             const char **value_type, char task_id[37]);
/* Checkpoint id of a write action's checkpoint. */
void content_cpw_checkpoint_id(const struct plan *p, const struct act *a, char out[37]);
/* The checkpoint namespace of a checkpoint (write) action: "" or "tools:<uuid>". */
void content_cp_ns(const struct plan *p, const struct act *a, char *ns, size_t size);
void content_crew_memory(struct content *c, const struct act *a);
/* Flow state JSON into 'out'; returns the method name. */
const char *content_crew_flow(struct content *c, const struct act *a);
/* Agent 'i': fills 'out' with the config JSON (false: NULL config); *type = "Declarative"... */
bool content_agent(struct content *c, size_t i, const char **type);
/* Toolserver 'i': name, group kind, description; 'out' = V05 config JSON. */
const char *content_toolserver(struct content *c, size_t i, const char **group_kind,
                               const char **description);
const char *content_tool(size_t server, size_t tool, const char **description);
/* 'out' = content, 'meta' = metadata JSON, 'aux' = embedding text. */
void content_memory(struct content *c, const struct act *a, char id[37], const char **agent,
                    const char **user);

/* Catalogue sizes (content.c). */
size_t dg_toolserver_count(void);
size_t dg_tool_count(size_t server);
/* Agents and servers that are soft-deleted in the cache tables. */
bool dg_agent_is_deleted(size_t i);
bool dg_toolserver_is_deleted(size_t i);

#endif
