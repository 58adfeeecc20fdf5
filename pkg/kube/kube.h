/* SPDX-License-Identifier: Apache-2.0 */
#ifndef KUBE_KUBE_H
#define KUBE_KUBE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct errbuf;
struct json_t; /* jansson's json_t */

/*
 * A small Kubernetes API client on libcurl and jansson: configuration (in-cluster and
 * kubeconfig), requests with Kubernetes Status errors mapped to negative errno codes, LIST+WATCH
 * with relist and backoff, and the pieces a controller needs on top (metav1.Condition, Events
 * with aggregation, Lease leader election, the own Pod's volumes).
 *
 * Errors follow STYLE.md section 5: HTTP 404 -ENOENT; 409 AlreadyExists -EEXIST; 409 Conflict
 * and 410 Gone -ESTALE (re-read or relist); 401/403 -EACCES; timeouts -ETIMEDOUT; 429, 5xx and
 * connection failures -EAGAIN (back off, retry); malformed server data -EPROTO; a response or
 * watch line over its bound -EMSGSIZE; bad configuration -EINVAL.
 *
 * Threading: configurations and the pure helpers (conditions, event building, quantities, paths,
 * backoff) are plain data and functions. A kube_client, and every kube_watch, kube_event_recorder
 * and kube_leader made from it, is used by one thread at a time. To run a watch on a dedicated
 * thread, give that thread its own client: kube_client_new() twice from one kube_config (the
 * config is copied, so both clients are independent). Call kube_global_init() once from main()
 * before any thread starts.
 */

#define KUBE_REQUEST_TIMEOUT_MS  30000       /* default whole-request timeout */
#define KUBE_CONNECT_TIMEOUT_MS  10000       /* TCP + TLS connection setup */
#define KUBE_RESPONSE_MAX        (8u << 20)  /* default bound on a response body */
#define KUBE_WATCH_LINE_MAX      (4u << 20)  /* bound on one watch event (one line) */
#define KUBE_KUBECONFIG_MAX      (4u << 20)  /* bound on a kubeconfig file */
#define KUBE_TOKEN_MAX           (64u << 10) /* bound on a token file (bound tokens are ~1 KiB) */
#define KUBE_NAME_MAX            253         /* DNS subdomain: the longest object name */
#define KUBE_PATH_MAX            1024        /* an API path built by kube_path() */
#define KUBE_SA_DIR              "/var/run/secrets/kubernetes.io/serviceaccount"
#define KUBE_FIELD_MANAGER       "kagent-retention"
#define KUBE_CONTENT_JSON        "application/json"
#define KUBE_CONTENT_MERGE_PATCH "application/merge-patch+json"

/* Process-wide libcurl setup. Call once from main() before threads start; 0 or -ENOMEM. */
int kube_global_init(struct errbuf *err);
void kube_global_cleanup(void);

/* ------------------------------------------------------------------------------------------ */
/* Configuration                                                                              */

struct kube_blob {
        char *data; /* owned bytes, NUL-terminated for convenience (not counted in len) */
        size_t len;
};

/*
 * Where and how to reach the API server. Every string and blob is owned by the config and
 * released by kube_config_cleanup(). Secrets (token, password, key data) are never logged and
 * are wiped on cleanup.
 */
struct kube_config {
        char *server;    /* "https://10.96.0.1:443" or "https://[fd00::1]:443"; no trailing '/' */
        char *namespace; /* the context's or the service account's namespace; "default" if unset */
        char *source;    /* for messages: "in-cluster" or "kubeconfig '/x' context 'kind'" */
        char *ca_file;   /* trust only this bundle; NULL with no ca_data: the system roots */
        struct kube_blob ca_data;
        bool insecure_skip_tls_verify; /* only when the kubeconfig says so */
        char *client_cert_file;
        struct kube_blob client_cert_data;
        char *client_key_file;
        struct kube_blob client_key_data;
        char *token;      /* static bearer token (secret) */
        char *token_file; /* bearer token re-read when the file changes; wins over 'token' */
        char *username;   /* basic auth, when the kubeconfig has it */
        char *password;   /* secret */
};

struct kube_config_options {
        const char *kubeconfig; /* --kubeconfig; NULL: see kube_config_load() */
        const char *context;    /* --context; NULL: the kubeconfig's current-context */
};

/*
 * Find the configuration the way controller-runtime does: 'opt->kubeconfig'; else the first
 * entry of $KUBECONFIG (a colon-separated list; only its first non-empty file is read, there is
 * no merging); else in-cluster when $KUBERNETES_SERVICE_HOST is set; else ~/.kube/config.
 * Reads the environment: call before threads start. 'out' is written only on success.
 * Returns 0, -ENOENT (nothing found; err says where it looked), -EINVAL, -ENOMEM, -EMSGSIZE.
 */
int kube_config_load(const struct kube_config_options *opt, struct kube_config *out,
                     struct errbuf *err);

/*
 * In-cluster configuration: https://host:port (an IPv6 literal host is bracketed) with the
 * token, CA bundle and namespace files in 'sa_dir' (NULL: KUBE_SA_DIR). 'host' and 'port' are
 * normally $KUBERNETES_SERVICE_HOST and $KUBERNETES_SERVICE_PORT. The token file must exist and
 * be readable; a missing ca.crt means the system roots; a missing namespace file "default".
 */
int kube_config_in_cluster(const char *host, const char *port, const char *sa_dir,
                           struct kube_config *out, struct errbuf *err);

/*
 * A kubeconfig file: 'context' (NULL: current-context), its cluster, user and namespace.
 * Relative certificate, key and token file paths are resolved against the file's directory.
 * Errors name the file and the key: "kubeconfig '/x': context 'prod' not found".
 * Unsupported credentials (exec plugins, auth-provider) are -EINVAL with that message.
 */
int kube_config_from_kubeconfig(const char *path, const char *context, struct kube_config *out,
                                struct errbuf *err);
/* The same from text already read; 'path' names the file in messages and resolves paths. */
int kube_config_parse_kubeconfig(const char *text, size_t len, const char *path,
                                 const char *context, struct kube_config *out, struct errbuf *err);

/* Release everything 'cfg' owns and zero it. Accepts NULL and a zeroed config. */
void kube_config_cleanup(struct kube_config *cfg);

/*
 * A bearer token file that is re-read when it changes: its inode, size or mtime differ from
 * the last read (projected service-account tokens are rotated by an atomic symlink swap).
 */
struct kube_token_file {
        char *path;  /* owned */
        char *token; /* owned, secret; whitespace trimmed; NULL before the first load */
        uint64_t dev;
        uint64_t ino;
        int64_t size;
        int64_t mtime_ns;
};

/* Initialise and read the file. 0, -ENOENT, -EACCES, -EINVAL (empty), -EMSGSIZE, -ENOMEM. */
int kube_token_file_init(struct kube_token_file *t, const char *path, struct errbuf *err);
/*
 * stat() the file and re-read it when it changed (or always with 'force'). '*out_changed' says
 * whether the token value changed. On failure the previous token stays in place.
 */
int kube_token_file_refresh(struct kube_token_file *t, bool force, bool *out_changed,
                            struct errbuf *err);
void kube_token_file_cleanup(struct kube_token_file *t);

/* ------------------------------------------------------------------------------------------ */
/* Client and requests                                                                        */

struct kube_client;

/*
 * A client for 'cfg' (copied: the config may be cleaned up afterwards). Checks that the files
 * it names exist and reads the token file. Not thread-safe: one thread at a time.
 */
int kube_client_new(const struct kube_config *cfg, struct kube_client **out, struct errbuf *err);
void kube_client_free(struct kube_client *c);

/* The default namespace of the configuration. Borrowed from the client. */
const char *kube_client_namespace(const struct kube_client *c);
/* The HTTP status of the last response (0 when none arrived). */
long kube_client_last_status(const struct kube_client *c);
/* The Retry-After of the last response in ms (-1 when none), for 429 and 503 backoff. */
int64_t kube_client_retry_after_ms(const struct kube_client *c);

struct kube_request {
        const char *method;       /* "GET", "POST", "PUT", "PATCH", "DELETE" */
        const char *path;         /* API path, "/api/v1/namespaces/ns/pods/name" (kube_path()) */
        const char *query;        /* URL-encoded, without '?'; NULL for none */
        const char *body;         /* NULL for none */
        size_t body_len;          /* bytes of 'body' */
        const char *content_type; /* NULL: KUBE_CONTENT_JSON when there is a body */
        int64_t timeout_ms;       /* 0: KUBE_REQUEST_TIMEOUT_MS */
        size_t response_max;      /* 0: KUBE_RESPONSE_MAX; a longer body is -EMSGSIZE */
};

/*
 * Perform one request (HTTP/2 over TLS when libcurl has it; keep-alive across calls). On a 2xx
 * response '*out' (when 'out' is not NULL) receives the parsed JSON body, owned by the caller,
 * or NULL for an empty body. Any other status is mapped by kube_status_error(); a 401 with a
 * token file re-reads the token and retries once. The request is not retried otherwise: on
 * -EAGAIN the caller backs off, honouring kube_client_retry_after_ms().
 */
int kube_request(struct kube_client *c, const struct kube_request *req, struct json_t **out,
                 struct errbuf *err);

/* GET one object. '*out' owned by the caller. */
int kube_get(struct kube_client *c, const char *path, struct json_t **out, struct errbuf *err);
/*
 * LIST a collection with optional selectors (plain text, escaped here; NULL for none).
 * '*out_items' receives the items array and '*out_resource_version' the list's
 * metadata.resourceVersion (malloc'd); both owned by the caller. Lists are not paginated: the
 * whole list must fit in KUBE_RESPONSE_MAX (a controller lists one or a few objects).
 */
int kube_list(struct kube_client *c, const char *path, const char *field_selector,
              const char *label_selector, struct json_t **out_items, char **out_resource_version,
              struct errbuf *err);
/* POST 'obj' to the collection 'path'; -EEXIST when the name is taken. */
int kube_create(struct kube_client *c, const char *path, const struct json_t *obj,
                struct json_t **out, struct errbuf *err);
/* PUT 'obj' to 'path'. 'obj' must carry metadata.resourceVersion (-EINVAL otherwise):
 * a stale one is -ESTALE. */
int kube_replace(struct kube_client *c, const char *path, const struct json_t *obj,
                 struct json_t **out, struct errbuf *err);
/* JSON merge patch (RFC 7386) of the object at 'path'. */
int kube_patch(struct kube_client *c, const char *path, const struct json_t *patch,
               struct json_t **out, struct errbuf *err);
/* Merge patch of the /status subresource of the object at 'path' (the object's own path). A
 * metadata.resourceVersion in the patch is a precondition (-ESTALE when stale). */
int kube_patch_status(struct kube_client *c, const char *path, const struct json_t *patch,
                      struct json_t **out, struct errbuf *err);
/* DELETE the object at 'path'; -ENOENT when it is already gone. */
int kube_delete(struct kube_client *c, const char *path, struct errbuf *err);

struct kube_resource {
        const char *group;   /* "" for the core group */
        const char *version; /* "v1" */
        const char *plural;  /* "pods", "retentionpolicies" */
};

/*
 * Build the API path of a collection (name NULL) or an object, optionally a subresource:
 * "/apis/kagent.dev/v1alpha1/namespaces/kagent/retentionpolicies/default/status". 'ns' NULL
 * for cluster-scoped resources. Names are validated (no '/', '?', '%', "." or "..") so no
 * escaping is needed. Returns the length, -EINVAL or -EMSGSIZE (longer than 'size').
 */
int kube_path(const struct kube_resource *res, const char *ns, const char *name,
              const char *subresource, char *out, size_t size, struct errbuf *err);

/*
 * The errno of an HTTP status (STYLE.md section 5); 'reason' is the Status reason
 * ("AlreadyExists" separates -EEXIST from -ESTALE on 409) and may be NULL. 2xx is 0.
 */
int kube_status_errno(long http_status, const char *reason);

/*
 * Map a failed response to its errno and a clear message in 'err', built from the request and
 * the Status body (may be NULL/empty or not a Status). 401/403 name the verb and resource the
 * RBAC rules lack: "forbidden: cannot patch retentionpolicies/status in namespace 'kagent': add
 * it to the Role (apiGroups: kagent.dev)". 'query' decides list versus watch for a GET.
 */
int kube_status_error(long http_status, const char *method, const char *path, const char *query,
                      const char *body, size_t body_len, struct errbuf *err);

/* ------------------------------------------------------------------------------------------ */
/* Backoff                                                                                    */

/* A source of uniformly distributed 64-bit values (tests inject a fixed one). */
typedef uint64_t kube_rng_fn(void *userdata);
/* A clock in milliseconds (tests inject a fake one). */
typedef int64_t kube_clock_fn(void *userdata);

/*
 * Capped exponential backoff with jitter: the n-th delay since the last reset is drawn
 * uniformly from [d/2, d] with d = min(initial * 2^n, max) ("equal jitter"), so delays never
 * exceed 'max_ms' and never fall below half the current step.
 */
struct kube_backoff {
        int64_t initial_ms;
        int64_t max_ms;
        unsigned attempt; /* delays handed out since the last reset */
        kube_rng_fn *rng;
        void *rng_userdata;
        uint64_t rng_state; /* the built-in generator's state when rng is NULL */
};

/* 'rng' NULL: a built-in xorshift generator seeded from the clock and the pid. */
void kube_backoff_init(struct kube_backoff *b, int64_t initial_ms, int64_t max_ms, kube_rng_fn *rng,
                       void *rng_userdata);
int64_t kube_backoff_next(struct kube_backoff *b);
void kube_backoff_reset(struct kube_backoff *b);
/* A uniform value in [0, n) from the backoff's generator (n > 0). */
uint64_t kube_backoff_uniform(struct kube_backoff *b, uint64_t n);

/* ------------------------------------------------------------------------------------------ */
/* Watch                                                                                      */

enum kube_watch_event_type {
        KUBE_WATCH_SYNC = 1, /* a (re)list finished: object is the items array */
        KUBE_WATCH_ADDED,
        KUBE_WATCH_MODIFIED,
        KUBE_WATCH_DELETED,
        KUBE_WATCH_BOOKMARK, /* progress only: object carries just metadata.resourceVersion */
        KUBE_WATCH_ERROR,    /* an ERROR event from the server, or a failed list/watch attempt */
};

struct kube_watch_event {
        enum kube_watch_event_type type;
        struct json_t *object;        /* borrowed for the call; NULL for a failed attempt */
        const char *resource_version; /* borrowed; the version the watch resumes from */
        /* KUBE_WATCH_ERROR only: */
        int error;           /* negative errno (-ESTALE for 410 Gone) */
        const char *message; /* one line, borrowed */
        int64_t retry_in_ms; /* delay before the next attempt */
        bool relist;         /* the next attempt lists again */
};

/* Called once per event. Return 0 to go on, a negative errno to stop (returned by the caller). */
typedef int kube_watch_fn(const struct kube_watch_event *ev, void *userdata);

/*
 * Incremental framing of a watch stream: newline-delimited JSON events. Each byte is scanned
 * for the newline once and each complete line parsed once; only an incomplete tail is kept, and
 * a line longer than 'line_max' is -EMSGSIZE. ERROR events report the Status code mapped to
 * an errno (410 Gone: -ESTALE) with relist set. After an error the decoder must be reset.
 */
struct kube_watch_decoder {
        char *data; /* owned; the incomplete tail */
        size_t len;
        size_t cap;
        size_t line_max;
        int failed; /* the sticky error, 0 while healthy */
};

void kube_watch_decoder_init(struct kube_watch_decoder *d, size_t line_max);
void kube_watch_decoder_reset(struct kube_watch_decoder *d);
void kube_watch_decoder_cleanup(struct kube_watch_decoder *d);
/*
 * Feed bytes; 'on_event' is called for every complete event in order. Returns 0, -EMSGSIZE,
 * -EPROTO (not an event), -ENOMEM, or the callback's negative value.
 */
int kube_watch_decoder_feed(struct kube_watch_decoder *d, const char *p, size_t len,
                            kube_watch_fn *on_event, void *userdata, struct errbuf *err);
/* Bytes of an incomplete event held (a stream that ends here ended mid-event). */
size_t kube_watch_decoder_pending(const struct kube_watch_decoder *d);

struct kube_watch_options {
        const char *path;           /* collection path, e.g. from kube_path() with name NULL */
        const char *field_selector; /* "metadata.name=default" for one named object; NULL */
        const char *label_selector; /* NULL for none */
        size_t line_max;            /* 0: KUBE_WATCH_LINE_MAX */
        size_t list_max;            /* 0: KUBE_RESPONSE_MAX */
        int timeout_min_s;          /* server timeoutSeconds drawn from [min, max); 0: 300 */
        int timeout_max_s;          /* 0: 600 (client-go's 5 to 10 minutes) */
        int64_t backoff_initial_ms; /* 0: 800 */
        int64_t backoff_max_ms;     /* 0: 30000 */
        int64_t retry_after_max_ms; /* cap on a server's Retry-After; 0: 300000 */
        kube_rng_fn *rng;           /* NULL: built-in */
        void *rng_userdata;
        kube_clock_fn *clock; /* monotonic ms for scheduling attempts; NULL: CLOCK_MONOTONIC */
        void *clock_userdata;
};

struct kube_watch;

/*
 * A LIST+WATCH of one collection through client 'c' (borrowed: it must outlive the watch and
 * is used from the same thread). The options' strings are copied. Nothing happens until the
 * first poll.
 *
 * Behaviour: LIST, deliver KUBE_WATCH_SYNC with the items, then WATCH from the list's
 * resourceVersion with allowWatchBookmarks=true and a random server timeoutSeconds; every
 * event (and bookmark) advances the resourceVersion; when the server ends the watch it is
 * resumed from there at once. A 410 Gone (response or ERROR event), any other ERROR event, an
 * over-long line and a list failure relist; dropped connections, 429, 5xx and malformed lines
 * re-watch from the last resourceVersion after a capped exponential backoff with jitter (at
 * least the server's Retry-After). Every failed attempt is reported as a KUBE_WATCH_ERROR
 * event saying what happens next; the watch itself never gives up.
 */
int kube_watch_new(struct kube_client *c, const struct kube_watch_options *opt,
                   struct kube_watch **out, struct errbuf *err);
/* Abort any transfer in flight and free. Accepts NULL. */
void kube_watch_free(struct kube_watch *w);

/*
 * Drive the watch for up to 'timeout_ms' (0: do what can be done without waiting and return),
 * calling 'on_event' for each event from this thread. For a controller loop: call it every
 * tick with 0, or with the time left until the loop's next timer. Returns 0, or a negative
 * errno the callback returned (the watch stays usable), or -ENOMEM. The callback must not
 * call kube_watch_poll/run/free on this watch; it may use the client for requests.
 */
int kube_watch_poll(struct kube_watch *w, int64_t timeout_ms, kube_watch_fn *on_event,
                    void *userdata, struct errbuf *err);

/*
 * Drive the watch until '*stop' becomes non-zero (checked at least every 200 ms, or at once
 * after kube_watch_wakeup()), for a dedicated thread. Returns 0 when stopped, or what
 * kube_watch_poll() returned.
 */
int kube_watch_run(struct kube_watch *w, kube_watch_fn *on_event, void *userdata,
                   const volatile int *stop, struct errbuf *err);

/* Wake a poll/run waiting in another thread. The only function safe to call concurrently. */
void kube_watch_wakeup(struct kube_watch *w);
/* Drop the current watch and list again at the next poll. */
void kube_watch_relist(struct kube_watch *w);
/* The resourceVersion the watch resumes from ("" before the first list). Borrowed. */
const char *kube_watch_resource_version(const struct kube_watch *w);

struct kube_watch_stats {
        int64_t lists;    /* list attempts */
        int64_t watches;  /* watch attempts */
        int64_t events;   /* ADDED/MODIFIED/DELETED/BOOKMARK delivered */
        int64_t errors;   /* KUBE_WATCH_ERROR delivered */
        bool established; /* a watch stream is open and answered 200 */
};
void kube_watch_stats(const struct kube_watch *w, struct kube_watch_stats *out);

/* ------------------------------------------------------------------------------------------ */
/* Controller helpers: conditions                                                              */

struct kube_condition {
        const char *type;            /* "Ready" */
        const char *status;          /* "True", "False" or "Unknown" (asserted) */
        const char *reason;          /* CamelCase, as the CRD pattern wants */
        const char *message;         /* may be NULL: ""; cut at 32768 bytes */
        int64_t observed_generation; /* < 0: omitted */
};

/*
 * Set 'cond' in the status.conditions array 'conditions' (modified in place) the way
 * apimachinery's meta.SetStatusCondition does: a new type is appended with lastTransitionTime
 * 'now_wall_ms'; an existing one gets the new reason, message and observedGeneration, and a new
 * lastTransitionTime only when its status changes. '*out_changed' (may be NULL) says whether
 * anything changed, so an unchanged status needs no PATCH. -EINVAL for a bad reason, -ENOMEM.
 */
int kube_condition_set(struct json_t *conditions, const struct kube_condition *cond,
                       int64_t now_wall_ms, bool *out_changed, struct errbuf *err);
/* The condition of 'type' in 'conditions', or NULL. Borrowed. */
struct json_t *kube_condition_find(const struct json_t *conditions, const char *type);
/* True when the condition of 'type' exists with status "True". */
bool kube_condition_is_true(const struct json_t *conditions, const char *type);

/* ------------------------------------------------------------------------------------------ */
/* Controller helpers: Events                                                                  */

enum kube_event_api {
        KUBE_EVENT_API_EVENTS_V1 = 0, /* events.k8s.io/v1 (series.count) */
        KUBE_EVENT_API_CORE_V1,       /* core v1 (count, lastTimestamp) */
};

/* The object an Event is about. All fields borrowed; uid may be NULL. */
struct kube_object_ref {
        const char *api_version; /* "kagent.dev/v1alpha1" */
        const char *kind;        /* "RetentionPolicy" */
        const char *ns;
        const char *name;
        const char *uid;
};

struct kube_event_spec {
        const char *type;    /* "Normal" or "Warning" (asserted) */
        const char *reason;  /* "PruneSucceeded" */
        const char *action;  /* events.k8s.io: what was done, "Prune"; NULL: the reason */
        const char *message; /* the note; cut at 1024 bytes */
};

struct kube_event_source {
        enum kube_event_api api;
        const char *controller; /* reportingController, "kagent.dev/kagent-retention" */
        const char *instance;   /* reportingInstance, the pod name */
};

/*
 * Build a new Event for 'ref' named "<name>.<hex ns timestamp>" like client-go, in ref->ns.
 * '*out' owned by the caller. -EINVAL for a missing field, -ENOMEM.
 */
int kube_event_build(const struct kube_event_source *src, const struct kube_object_ref *ref,
                     const struct kube_event_spec *spec, int64_t now_wall_ms, struct json_t **out,
                     struct errbuf *err);
/* The merge patch that records a repeat: series.count/lastObservedTime or count/lastTimestamp. */
int kube_event_patch_build(enum kube_event_api api, int64_t count, int64_t now_wall_ms,
                           struct json_t **out, struct errbuf *err);

#define KUBE_EVENT_WINDOW_MS     ((int64_t)10 * 60 * 1000) /* client-go's aggregation window */
#define KUBE_EVENT_CACHE_ENTRIES 64

enum kube_event_action {
        KUBE_EVENT_CREATE = 1, /* a new Event object */
        KUBE_EVENT_PATCH,      /* a repeat: bump the count of the existing one */
};

struct kube_event_decision {
        enum kube_event_action action;
        char name[KUBE_NAME_MAX + 1]; /* PATCH: the existing Event's name */
        int64_t count;                /* PATCH: the new count (2 on the first repeat) */
};

struct kube_event_recorder;

/*
 * An Event recorder that aggregates: a repeat of the same type, reason and message on the same
 * object (uid, else namespace/kind/name) within 'window_ms' of the previous occurrence
 * (0: KUBE_EVENT_WINDOW_MS) patches the count of the Event it created instead of creating a
 * new one. Remembers the KUBE_EVENT_CACHE_ENTRIES most recent Events. 'src' strings copied.
 * New Events get random sub-millisecond digits in their names, so Events created in the same
 * millisecond do not collide.
 */
int kube_event_recorder_new(const struct kube_event_source *src, int64_t window_ms,
                            struct kube_event_recorder **out, struct errbuf *err);
void kube_event_recorder_free(struct kube_event_recorder *r);
/* What recording this event now would do. Pure: the recorder does not change. */
void kube_event_recorder_decide(const struct kube_event_recorder *r,
                                const struct kube_object_ref *ref,
                                const struct kube_event_spec *spec, int64_t now_wall_ms,
                                struct kube_event_decision *out);
/* Remember that 'd' was carried out for this event ('name' is the created Event's name). */
int kube_event_recorder_commit(struct kube_event_recorder *r, const struct kube_object_ref *ref,
                               const struct kube_event_spec *spec, int64_t now_wall_ms,
                               const struct kube_event_decision *d, struct errbuf *err);
/*
 * Decide, send (POST or PATCH; a PATCH of an Event that expired, -ENOENT, creates a new one)
 * and commit. Returns 0 or the request's error; the recorder only changes on success.
 */
int kube_event_record(struct kube_event_recorder *r, struct kube_client *c,
                      const struct kube_object_ref *ref, const struct kube_event_spec *spec,
                      int64_t now_wall_ms, struct errbuf *err);

/* ------------------------------------------------------------------------------------------ */
/* Controller helpers: Lease leader election (coordination.k8s.io/v1)                          */

#define KUBE_LEASE_DURATION_MS 15000 /* controller-runtime's defaults */
#define KUBE_RENEW_DEADLINE_MS 10000
#define KUBE_RETRY_PERIOD_MS   2000

struct kube_lease_config {
        const char *ns;            /* the Lease's namespace */
        const char *name;          /* the Lease's name */
        const char *identity;      /* holderIdentity: kube_leader_identity() */
        int64_t lease_duration_ms; /* 0: KUBE_LEASE_DURATION_MS */
        int64_t renew_deadline_ms; /* 0: KUBE_RENEW_DEADLINE_MS */
        int64_t retry_period_ms;   /* 0: KUBE_RETRY_PERIOD_MS */
};

/*
 * The Lease API calls, replaceable for tests. get returns -ENOENT when absent; create -EEXIST
 * and update -ESTALE when another candidate wrote first. '*out' owned by the caller.
 */
struct kube_lease_ops {
        int (*get)(void *userdata, struct json_t **out, struct errbuf *err);
        int (*create)(void *userdata, const struct json_t *lease, struct json_t **out,
                      struct errbuf *err);
        int (*update)(void *userdata, const struct json_t *lease, struct json_t **out,
                      struct errbuf *err);
};

/* The clocks of an elector: monotonic for expiry, wall for the times written in the Lease. */
struct kube_lease_clock {
        kube_clock_fn *mono_ms;
        kube_clock_fn *wall_ms;
        void *userdata;
};

struct kube_leader;

/*
 * A leader elector with client-go's algorithm: acquire the Lease when it is absent, released
 * (empty holderIdentity) or expired - not renewed for leaseDuration by the local monotonic
 * clock since this process last saw it change, so clock skew between nodes does not matter -
 * and renew it every retryPeriod while leading, with one PUT of the Lease as our last write
 * returned it (client-go's fast path; a conflict re-reads it at once, another failure at the
 * next attempt). A write that loses a race (409) after a read means another candidate won.
 * Leadership is lost when a renewal sees another holder, or when no renewal succeeded for
 * renewDeadline; the controller must then stop acting at once. 'c' (borrowed, may be NULL when ops
 * are given) serves the Lease API unless 'ops' is given. 'clock' NULL: the real clocks. Strings of
 * 'cfg' are copied.
 */
int kube_leader_new(struct kube_client *c, const struct kube_lease_config *cfg,
                    const struct kube_lease_ops *ops, void *ops_userdata,
                    const struct kube_lease_clock *clock, struct kube_leader **out,
                    struct errbuf *err);
void kube_leader_free(struct kube_leader *le);

/*
 * Do what is due now: an acquire attempt, a renewal, or nothing. Returns 1 while leading, 0
 * while not, or a negative errno when leadership cannot be determined (API down; a leader
 * stays leader until the renew deadline). '*out_next_ms' (may be NULL) receives the delay
 * until the next tick is due.
 */
int kube_leader_tick(struct kube_leader *le, int64_t *out_next_ms, struct errbuf *err);
/*
 * True while leading: the last tick held the Lease and its renewal is younger than
 * renewDeadline, by the elector's monotonic clock, so a tick that is late (its thread blocked)
 * cannot stretch leadership.
 */
bool kube_leader_is_leader(const struct kube_leader *le);
/*
 * The monotonic time (ms, the elector's clock) until which leadership is certain: the last
 * successful renewal + renewDeadline; 0 when not leading. A value to hand to other threads:
 * they may act as leader only while the clock is below it, even when the elector's thread is
 * stuck in a slow request.
 */
int64_t kube_leader_deadline_ms(const struct kube_leader *le);
/* Give the Lease up on shutdown (holderIdentity cleared) when leading. 0 or the API error. */
int kube_leader_release(struct kube_leader *le, struct errbuf *err);
/* "<pod>_<16 hex digits>" into out[size]; 'pod_name' NULL: the host name. -EMSGSIZE. */
int kube_leader_identity(const char *pod_name, kube_rng_fn *rng, void *rng_userdata, char *out,
                         size_t size);

/* ------------------------------------------------------------------------------------------ */
/* Controller helpers: the own Pod and its volumes                                             */

/*
 * GET the pod 'pod_name' in 'ns' (NULL: $POD_NAME / $POD_NAMESPACE, set from the downward
 * API; -EINVAL when unset). '*out' owned by the caller.
 */
int kube_pod_get_self(struct kube_client *c, const char *pod_name, const char *ns,
                      struct json_t **out, struct errbuf *err);

struct kube_pod_volume {
        char name[KUBE_NAME_MAX + 1];      /* the volume's name */
        char container[KUBE_NAME_MAX + 1]; /* the container whose mount matched */
        char mount_path[KUBE_PATH_MAX];
        bool empty_dir;           /* the volume is an emptyDir */
        char medium[32];          /* emptyDir.medium: "" (node disk) or "Memory" */
        int64_t size_limit_bytes; /* emptyDir.sizeLimit; -1 when unset */
};

/*
 * Find the volume holding 'path' (absolute) in 'pod': the volumeMount of 'container' (NULL:
 * of any container, init containers included) whose mountPath is the longest whole-component
 * prefix of 'path', then that volume's emptyDir sizeLimit and medium. -ENOENT when no mount
 * holds the path, -EPROTO for a malformed pod or sizeLimit.
 */
int kube_pod_volume_find(const struct json_t *pod, const char *container, const char *path,
                         struct kube_pod_volume *out, struct errbuf *err);

/*
 * A Kubernetes quantity ("500Mi", "1Gi", "10G", "1.5Gi", "1e3", "123456") in bytes, rounded up
 * to a whole byte as resource.Quantity.Value() does. -EINVAL for junk or a negative value,
 * -ERANGE beyond INT64_MAX. '*out' written only on success.
 */
int kube_quantity_parse(const char *s, int64_t *out);

#endif
