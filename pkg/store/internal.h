/* SPDX-License-Identifier: Apache-2.0 */
#ifndef STORE_INTERNAL_H
#define STORE_INTERNAL_H

#include "store/store.h"

/* The operations each backend implements; see store.h for the contract of each. */
struct store_ops {
        int (*open)(struct store *s, const struct store_config *cfg, struct errbuf *err);
        void (*close)(struct store *s);
        int (*writer_acquire)(struct store *s, struct errbuf *err);
        void (*writer_release)(struct store *s);
        int (*measure)(struct store *s, bool per_table, struct store_usage *out,
                       struct errbuf *err);
        int (*run_begin)(struct store *s, struct errbuf *err);
        int (*plan)(struct store *s, const struct store_rule_params *p,
                    struct store_plan_result *out, struct errbuf *err);
        int (*delete_batch)(struct store *s, int64_t max_rows, struct store_batch_result *out,
                            struct errbuf *err);
        int (*plan_discard)(struct store *s, struct errbuf *err);
        bool (*others_wrote)(struct store *s);
        int (*others_waiting)(struct store *s); /* NULL: cannot tell */
        int (*reclaim)(struct store *s, const struct store_reclaim_params *p,
                       struct store_reclaim_result *out, struct errbuf *err);
        int (*check)(struct store *s, struct errbuf *err);
        void (*release)(struct store *s);
};

/* Every backend's state starts with this. */
struct store {
        const struct store_ops *ops;
        struct store_info info;
};

extern const struct store_ops store_sqlite_ops;
/* Size of the backend state to allocate (a struct that begins with struct store). */
extern const size_t store_sqlite_size;
extern const struct store_ops store_postgres_ops;
extern const size_t store_postgres_size;

/* Terminal and unfinished A2A task states, both spellings (trpc-a2a-go and A2A v1.0). */
#define STORE_TERMINAL_STATES                                                                      \
        "'completed','canceled','cancelled','failed','rejected','TASK_STATE_COMPLETED',"           \
        "'TASK_STATE_CANCELED','TASK_STATE_CANCELLED','TASK_STATE_FAILED','TASK_STATE_REJECTED'"
#define STORE_UNFINISHED_STATES                                                                    \
        "'submitted','working','input-required','auth-required','TASK_STATE_SUBMITTED',"           \
        "'TASK_STATE_WORKING','TASK_STATE_INPUT_REQUIRED','TASK_STATE_AUTH_REQUIRED'"

#endif
