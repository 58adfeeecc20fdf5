/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Leader election on a coordination.k8s.io/v1 Lease with client-go's algorithm: expiry judged
 * by the local monotonic clock from when the record was last seen to change, optimistic
 * concurrency on writes (a 409 means another candidate won), release on shutdown.
 */
#define LOG_MODULE "kube"
#include <assert.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "base/clock.h"
#include "base/errbuf.h"
#include "kube/internal.h"
#include "kube/kube.h"
#include "log/log.h"

struct kube_leader {
        struct kube_client *client; /* borrowed */
        char *ns;
        char *name;
        char *identity;
        int64_t lease_duration_ms;
        int64_t renew_deadline_ms;
        int64_t retry_period_ms;
        struct kube_lease_ops ops;
        void *ops_userdata;
        struct kube_lease_clock clock;
        bool leader;
        json_t *observed;         /* the Lease spec last seen, owned; NULL before */
        json_t *held;             /* the Lease as our last write left it, owned; NULL: re-read */
        int64_t observed_mono_ms; /* when 'observed' last changed, by our clock */
        int64_t renewed_mono_ms;  /* the last successful acquire or renew */
        int64_t next_mono_ms;     /* the next attempt */
        char path[KUBE_PATH_MAX];
        char collection[KUBE_PATH_MAX];
};

static const struct kube_resource leases = { "coordination.k8s.io", "v1", "leases" };

static int64_t real_mono(void *userdata)
{
        (void)userdata;
        return clock_mono_ms();
}

static int64_t real_wall(void *userdata)
{
        (void)userdata;
        return clock_wall_ms();
}

static int64_t mono(const struct kube_leader *le)
{
        return le->clock.mono_ms(le->clock.userdata);
}

/*
 * A request of the default ops. Its timeout is what is left of the renew deadline (at least a
 * second) while leading, so a hung API server cannot hold a tick past the deadline; a
 * candidate waits at most renewDeadline.
 */
static int lease_request(struct kube_leader *le, const char *method, const char *path,
                         const json_t *body, json_t **out, struct errbuf *err)
{
        struct kube_request req = { .method = method, .path = path };
        int64_t left = le->renew_deadline_ms;
        char *text = NULL;
        int rc;

        if (le->leader)
                left = le->renewed_mono_ms + le->renew_deadline_ms - mono(le);
        req.timeout_ms = left > 1000 ? left : 1000;
        if (body) {
                text = json_dumps(body, JSON_COMPACT);
                if (!text)
                        return errbuf_set(err, -ENOMEM, "out of memory");
                req.body = text;
                req.body_len = strlen(text);
        }
        rc = kube_request(le->client, &req, out, err);
        free(text);
        return rc;
}

static int client_get(void *userdata, json_t **out, struct errbuf *err)
{
        struct kube_leader *le = userdata;

        return lease_request(le, "GET", le->path, NULL, out, err);
}

static int client_create(void *userdata, const json_t *lease, json_t **out, struct errbuf *err)
{
        struct kube_leader *le = userdata;

        return lease_request(le, "POST", le->collection, lease, out, err);
}

static int client_update(void *userdata, const json_t *lease, json_t **out, struct errbuf *err)
{
        struct kube_leader *le = userdata;

        return lease_request(le, "PUT", le->path, lease, out, err);
}

int kube_leader_new(struct kube_client *c, const struct kube_lease_config *cfg,
                    const struct kube_lease_ops *ops, void *ops_userdata,
                    const struct kube_lease_clock *clock, struct kube_leader **out,
                    struct errbuf *err)
{
        struct kube_leader *le;
        int rc;

        assert(ops || c);
        if (!cfg->ns || !cfg->name || !cfg->identity || cfg->identity[0] == '\0')
                return errbuf_set(err, -EINVAL,
                                  "leader election: namespace, name and identity "
                                  "are required");
        le = calloc(1, sizeof(*le));
        if (!le)
                return errbuf_set(err, -ENOMEM, "out of memory");
        le->client = c;
        le->lease_duration_ms =
                cfg->lease_duration_ms > 0 ? cfg->lease_duration_ms : KUBE_LEASE_DURATION_MS;
        le->renew_deadline_ms =
                cfg->renew_deadline_ms > 0 ? cfg->renew_deadline_ms : KUBE_RENEW_DEADLINE_MS;
        le->retry_period_ms =
                cfg->retry_period_ms > 0 ? cfg->retry_period_ms : KUBE_RETRY_PERIOD_MS;
        if (le->renew_deadline_ms >= le->lease_duration_ms ||
            le->retry_period_ms >= le->renew_deadline_ms) {
                rc = errbuf_set(err, -EINVAL,
                                "leader election: need retryPeriod < renewDeadline "
                                "< leaseDuration");
                goto fail;
        }
        if (ops) {
                le->ops = *ops;
                le->ops_userdata = ops_userdata;
        } else {
                le->ops.get = client_get;
                le->ops.create = client_create;
                le->ops.update = client_update;
                le->ops_userdata = le;
        }
        if (clock) {
                le->clock = *clock;
        } else {
                le->clock.mono_ms = real_mono;
                le->clock.wall_ms = real_wall;
                le->clock.userdata = NULL;
        }
        rc = kube_path(&leases, cfg->ns, cfg->name, NULL, le->path, sizeof(le->path), err);
        if (rc >= 0)
                rc = kube_path(&leases, cfg->ns, NULL, NULL, le->collection, sizeof(le->collection),
                               err);
        if (rc < 0)
                goto fail;
        le->ns = strdup(cfg->ns);
        le->name = strdup(cfg->name);
        le->identity = strdup(cfg->identity);
        if (!le->ns || !le->name || !le->identity) {
                rc = errbuf_set(err, -ENOMEM, "out of memory");
                goto fail;
        }
        le->next_mono_ms = mono(le);
        *out = le;
        return 0;
fail:
        kube_leader_free(le);
        return rc;
}

void kube_leader_free(struct kube_leader *le)
{
        if (!le)
                return;
        json_decref(le->observed);
        json_decref(le->held);
        free(le->ns);
        free(le->name);
        free(le->identity);
        free(le);
}

bool kube_leader_is_leader(const struct kube_leader *le)
{
        return kube_leader_deadline_ms(le) > mono(le);
}

int64_t kube_leader_deadline_ms(const struct kube_leader *le)
{
        return le->leader ? le->renewed_mono_ms + le->renew_deadline_ms : 0;
}

/* A Lease spec: holder, acquired at 'acquire' and renewed at 'renew' (MicroTime). */
static json_t *make_spec(const char *holder, const char *acquire, const char *renew,
                         int64_t transitions, int64_t duration_s)
{
        return json_pack("{s:s, s:I, s:s, s:s, s:I}", "holderIdentity", holder,
                         "leaseDurationSeconds", (json_int_t)duration_s, "acquireTime", acquire,
                         "renewTime", renew, "leaseTransitions", (json_int_t)transitions);
}

static void observe(struct kube_leader *le, const json_t *spec, int64_t now)
{
        json_t *copy;

        if (le->observed && json_equal(le->observed, spec))
                return;
        copy = json_deep_copy(spec);
        if (!copy)
                return; /* keeps the older observation: expiry then comes later, never sooner */
        json_decref(le->observed);
        le->observed = copy;
        le->observed_mono_ms = now;
}

static int create_lease(struct kube_leader *le, int64_t now, struct errbuf *err)
{
        char t[KUBE_TIME_LEN];
        json_t *lease = NULL;
        json_t *spec;
        int rc;

        kube_time_format(le->clock.wall_ms(le->clock.userdata), true, t, sizeof(t));
        spec = make_spec(le->identity, t, t, 0, le->lease_duration_ms / 1000);
        lease = json_pack("{s:s, s:s, s:{s:s, s:s}, s:o}", "apiVersion", "coordination.k8s.io/v1",
                          "kind", "Lease", "metadata", "name", le->name, "namespace", le->ns,
                          "spec", spec);
        if (!lease)
                return errbuf_set(err, -ENOMEM, "out of memory");
        rc = le->ops.create(le->ops_userdata, lease, &le->held, err);
        if (rc == 0)
                observe(le, json_object_get(lease, "spec"), now);
        json_decref(lease);
        if (rc == -EEXIST)
                return 0; /* another candidate created it first */
        return rc < 0 ? rc : 1;
}

/*
 * Take over or renew 'lease' (from GET, or as our last write left it) as ours. 1 on success,
 * -ESTALE when it changed. What the server answers is kept for the next renewal.
 */
static int write_lease(struct kube_leader *le, const json_t *lease, const json_t *spec, bool ours,
                       int64_t now, struct errbuf *err)
{
        char t[KUBE_TIME_LEN];
        const char *acquire = kube_json_str(spec, "acquireTime");
        json_int_t transitions = json_integer_value(json_object_get(spec, "leaseTransitions"));
        json_t *copy = NULL;
        json_t *nspec;
        int rc;

        kube_time_format(le->clock.wall_ms(le->clock.userdata), true, t, sizeof(t));
        if (!ours || !acquire) {
                acquire = t;
                transitions += ours ? 0 : 1;
        }
        nspec = make_spec(le->identity, acquire, t, transitions, le->lease_duration_ms / 1000);
        copy = json_deep_copy(lease); /* keeps metadata.resourceVersion: the precondition */
        if (!nspec || !copy || json_object_set_new(copy, "spec", nspec) < 0) {
                if (!copy)
                        json_decref(nspec);
                json_decref(copy);
                return errbuf_set(err, -ENOMEM, "out of memory");
        }
        json_decref(le->held);
        le->held = NULL;
        rc = le->ops.update(le->ops_userdata, copy, &le->held, err);
        if (rc == 0)
                observe(le, nspec, now);
        json_decref(copy);
        return rc < 0 ? rc : 1; /* -ESTALE (409): the Lease changed under us */
}

/*
 * One attempt: 1 when we hold the Lease now, 0 when another holder does, -ESTALE when a write
 * lost a race, or another errno.
 */
static int try_acquire_or_renew(struct kube_leader *le, int64_t now, struct errbuf *err)
{
        json_t *lease = NULL;
        const json_t *spec;
        const char *holder;
        int64_t duration_ms;
        bool ours;
        int rc;

        /*
         * client-go's fast path: a leader renews the Lease as its last write left it, one PUT
         * with that resourceVersion as the precondition. A conflict (someone else wrote) falls
         * back to reading it at once; any other failure is this attempt's, and the next one
         * reads first.
         */
        if (le->held && kube_leader_is_leader(le)) {
                lease = le->held;
                le->held = NULL;
                rc = write_lease(le, lease, json_object_get(lease, "spec"), true, now, err);
                json_decref(lease);
                lease = NULL;
                if (rc != -ESTALE)
                        return rc;
                log_debug("lease changed since our renewal, re-reading",
                          LOG_STR("lease", le->name));
        }
        json_decref(le->held);
        le->held = NULL;
        rc = le->ops.get(le->ops_userdata, &lease, err);
        if (rc == -ENOENT)
                return create_lease(le, now, err);
        if (rc < 0)
                return rc;
        spec = json_object_get(lease, "spec");
        if (!json_is_object(spec)) {
                rc = errbuf_set(err, -EPROTO, "lease '%s/%s': no spec", le->ns, le->name);
                goto out;
        }
        observe(le, spec, now);
        holder = kube_json_str(spec, "holderIdentity");
        ours = holder && strcmp(holder, le->identity) == 0;
        duration_ms =
                (int64_t)json_integer_value(json_object_get(spec, "leaseDurationSeconds")) * 1000;
        if (duration_ms <= 0)
                duration_ms = le->lease_duration_ms;
        if (holder && holder[0] != '\0' && !ours) {
                /* A leader that sees another holder has lost; a candidate waits for expiry. */
                if (le->leader || now < le->observed_mono_ms + duration_ms) {
                        rc = 0;
                        goto out;
                }
                log_debug("lease expired, taking over", LOG_STR("lease", le->name),
                          LOG_STR("holder", holder));
        }
        rc = write_lease(le, lease, spec, ours, now, err);
out:
        json_decref(lease);
        return rc;
}

int kube_leader_tick(struct kube_leader *le, int64_t *out_next_ms, struct errbuf *err)
{
        int64_t now = mono(le);
        bool was_leader = le->leader;
        int rc;

        if (now < le->next_mono_ms) {
                if (out_next_ms)
                        *out_next_ms = le->next_mono_ms - now;
                return kube_leader_is_leader(le) ? 1 : 0;
        }
        rc = try_acquire_or_renew(le, now, err);
        le->next_mono_ms = now + le->retry_period_ms;
        if (rc == -ESTALE && !le->leader)
                rc = 0; /* a candidate that lost the race: another one leads */
        if (rc == 1) {
                /* From the attempt's start: the earliest the server can have seen the write. */
                le->leader = true;
                le->renewed_mono_ms = now;
        } else if (rc == 0 || mono(le) - le->renewed_mono_ms >= le->renew_deadline_ms) {
                /* Another holder, or no renewal in time: someone may take over any moment. */
                le->leader = false;
        }
        if (rc == -ESTALE) /* a leader's renewal raced: re-read next time, within the deadline */
                rc = kube_leader_is_leader(le) ? 1 : 0;
        if (le->leader != was_leader)
                log_debug(le->leader ? "lease acquired" : "lease lost", LOG_STR("lease", le->name),
                          LOG_STR("identity", le->identity));
        if (out_next_ms)
                *out_next_ms = le->retry_period_ms;
        if (rc < 0)
                return rc;
        return kube_leader_is_leader(le) ? 1 : 0;
}

int kube_leader_release(struct kube_leader *le, struct errbuf *err)
{
        char t[KUBE_TIME_LEN];
        json_t *lease = NULL;
        json_t *copy = NULL;
        json_t *spec;
        const char *holder;
        int rc;

        if (!le->leader)
                return 0;
        le->leader = false;
        json_decref(le->held);
        le->held = NULL;
        rc = le->ops.get(le->ops_userdata, &lease, err);
        if (rc < 0)
                goto out;
        holder = kube_json_str(json_object_get(lease, "spec"), "holderIdentity");
        if (!holder || strcmp(holder, le->identity) != 0) {
                rc = 0; /* not ours any more: nothing to give up */
                goto out;
        }
        /* client-go's release: no holder, a one-second duration, the transitions kept. */
        kube_time_format(le->clock.wall_ms(le->clock.userdata), true, t, sizeof(t));
        spec = make_spec("", t, t,
                         json_integer_value(json_object_get(json_object_get(lease, "spec"),
                                                            "leaseTransitions")),
                         1);
        copy = json_deep_copy(lease);
        if (!spec || !copy || json_object_set_new(copy, "spec", spec) < 0) {
                if (!copy)
                        json_decref(spec);
                rc = errbuf_set(err, -ENOMEM, "out of memory");
                goto out;
        }
        rc = le->ops.update(le->ops_userdata, copy, NULL, err);
        if (rc == -ESTALE)
                rc = 0; /* someone else wrote: it is not ours to release */
        if (rc == 0)
                log_debug("lease released", LOG_STR("lease", le->name));
out:
        json_decref(copy);
        json_decref(lease);
        return rc;
}

int kube_leader_identity(const char *pod_name, kube_rng_fn *rng, void *rng_userdata, char *out,
                         size_t size)
{
        char host[256];
        uint64_t state;
        uint64_t r;
        int n;

        if (!pod_name || pod_name[0] == '\0') {
                if (gethostname(host, sizeof(host)) < 0)
                        (void)snprintf(host, sizeof(host), "kagent-retention");
                host[sizeof(host) - 1] = '\0';
                pod_name = host;
        }
        if (rng) {
                r = rng(rng_userdata);
        } else {
                state = kube_rng_seed();
                r = kube_rng_next(&state);
        }
        n = snprintf(out, size, "%s_%016llx", pod_name, (unsigned long long)r);
        return n < 0 || (size_t)n >= size ? -EMSGSIZE : 0;
}
