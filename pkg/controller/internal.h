/* SPDX-License-Identifier: Apache-2.0 */
#ifndef CONTROLLER_INTERNAL_H
#define CONTROLLER_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/waker.h"
#include "controller/controller.h"

/*
 * The Kubernetes side of the controller (kubesync.c). It runs on its own thread with its own
 * API client: it watches the one RetentionPolicy, holds the Lease when leader election is on,
 * writes status through the /status subresource and records Events. The controller loop talks
 * to it only through these calls, each taking a mutex for a copy:
 *   the loop takes the newest policy (kubesync_take_policy), publishes a status snapshot
 *   (kubesync_publish) and queues Events (kubesync_event); the thread wakes the loop through
 *   '*wake' when the policy or the leadership changes.
 */

struct kubesync;

enum kubesync_policy {
        KUBESYNC_NO_POLICY = 0, /* not found (yet): monitor-only */
        KUBESYNC_VALID,
        KUBESYNC_INVALID, /* the spec failed validation: nothing is deleted */
};

/*
 * Load the configuration, GET the own Pod for the volume holding 'db_path' (its emptyDir
 * sizeLimit goes to '*out_pod_limit', 0 when unknown), and start the thread.
 */
int kubesync_start(const struct controller_kube_config *cfg, const char *db_path,
                   struct krmetrics *metrics, struct waker *wake, int64_t *out_pod_limit,
                   struct kubesync **out, struct errbuf *err);
/* Stop the thread (releasing the Lease when held) and free. Accepts NULL. */
void kubesync_stop(struct kubesync *ks);

/* True when the policy changed since the last call; then '*state', '*out' (when valid) and
 * 'error' (when invalid: every problem, one per line) are written. */
bool kubesync_take_policy(struct kubesync *ks, enum kubesync_policy *state, struct policy *out,
                          char *error, size_t size);
bool kubesync_is_leader(struct kubesync *ks);
bool kubesync_api_reachable(struct kubesync *ks);

/* Hand the thread what status should say now; it writes it when it changed. */
void kubesync_publish(struct kubesync *ks, const struct controller_state *st,
                      const struct policy *p);
/* Queue an Event on the policy ("Normal"/"Warning", a CamelCase reason, a message). */
void kubesync_event(struct kubesync *ks, const char *type, const char *reason, const char *message);

#endif
