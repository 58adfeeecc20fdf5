/* SPDX-License-Identifier: Apache-2.0 */
/* The fake API server of fakeapi.h: scripted responses, recorded requests. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>
#include <jansson.h>
#include <microhttpd.h>
#ifdef HAVE_GNUTLS
#include <gnutls/gnutls.h>
#endif

#include "base/clock.h"
#include "base/errbuf.h"
#include "fakeapi.h"
#include "kube/kube.h"
#include "testcerts.h"

struct conn_state {
        char body[4096];
        size_t len;
};

struct stream {
        const struct fake_resp *r;
        size_t chunk;
        size_t off;
};

static const struct fake_resp unavailable = {
        .status = 503,
        .chunks = { "{\"kind\":\"Status\",\"code\":503}" },
};

static ssize_t stream_reader(void *cls, uint64_t pos, char *buf, size_t max)
{
        struct stream *st = cls;

        (void)pos;
        while (st->r->chunks[st->chunk]) {
                const char *c = st->r->chunks[st->chunk];
                size_t left = strlen(c) - st->off;
                size_t n = left < max ? left : max;

                if (left == 0) {
                        st->chunk++;
                        st->off = 0;
                        continue;
                }
                memcpy(buf, c + st->off, n);
                st->off += n;
                return (ssize_t)n;
        }
        return st->r->drop ? MHD_CONTENT_READER_END_WITH_ERROR : MHD_CONTENT_READER_END_OF_STREAM;
}

struct query_buf {
        char *p;
        size_t size;
};

static enum MHD_Result add_arg(void *cls, enum MHD_ValueKind kind, const char *key,
                               const char *value)
{
        struct query_buf *q = cls;
        size_t len = strlen(q->p);

        (void)kind;
        (void)snprintf(q->p + len, q->size - len, "%s%s=%s", len ? "&" : "", key,
                       value ? value : "");
        return MHD_YES;
}

static void copy_header(struct MHD_Connection *conn, const char *name, char *out, size_t size)
{
        const char *v = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, name);

        (void)snprintf(out, size, "%s", v ? v : "");
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
                                  const char *method, const char *version, const char *upload_data,
                                  size_t *upload_size, void **con_cls)
{
        struct fake_server *s = cls;
        struct conn_state *cs = *con_cls;
        const struct fake_resp *r;
        struct MHD_Response *resp;
        struct query_buf q;
        enum MHD_Result ret;

        (void)version;
        if (!cs) {
                cs = calloc(1, sizeof(*cs));
                *con_cls = cs;
                return cs ? MHD_YES : MHD_NO;
        }
        if (*upload_size > 0) {
                size_t n = *upload_size < sizeof(cs->body) - 1 - cs->len
                                   ? *upload_size
                                   : sizeof(cs->body) - 1 - cs->len;

                memcpy(cs->body + cs->len, upload_data, n);
                cs->len += n;
                *upload_size = 0;
                return MHD_YES;
        }
        pthread_mutex_lock(&s->mu);
        if (s->nreq < REQS_MAX) {
                struct fake_req *rq = &s->reqs[s->nreq++];

                memset(rq, 0, sizeof(*rq));
                (void)snprintf(rq->method, sizeof(rq->method), "%s", method);
                (void)snprintf(rq->path, sizeof(rq->path), "%s", url);
                q.p = rq->query;
                q.size = sizeof(rq->query);
                (void)MHD_get_connection_values(conn, MHD_GET_ARGUMENT_KIND, add_arg, &q);
                copy_header(conn, "Authorization", rq->auth, sizeof(rq->auth));
                copy_header(conn, "User-Agent", rq->ua, sizeof(rq->ua));
                copy_header(conn, "Content-Type", rq->ctype, sizeof(rq->ctype));
                memcpy(rq->body, cs->body, cs->len);
#ifdef HAVE_GNUTLS
                {
                        const union MHD_ConnectionInfo *ci =
                                MHD_get_connection_info(conn, MHD_CONNECTION_INFO_GNUTLS_SESSION);
                        unsigned int certs = 0;

                        if (ci && ci->tls_session)
                                (void)gnutls_certificate_get_peers(ci->tls_session, &certs);
                        rq->client_cert = certs > 0;
                }
#endif
        }
        r = s->next < s->n ? &s->script[s->next++] : &unavailable;
        pthread_mutex_unlock(&s->mu);
        if (r->chunks[1] || r->drop) {
                struct stream *st = calloc(1, sizeof(*st));

                if (!st)
                        return MHD_NO;
                st->r = r;
                resp = MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 4096, stream_reader, st,
                                                         free);
        } else {
                const char *body = r->chunks[0] ? r->chunks[0] : "";

                /* NOLINTNEXTLINE(performance-no-int-to-ptr): PERSISTENT memory is only read */
                resp = MHD_create_response_from_buffer(strlen(body), (void *)(uintptr_t)body,
                                                       MHD_RESPMEM_PERSISTENT);
        }
        if (!resp)
                return MHD_NO;
        (void)MHD_add_response_header(resp, "Content-Type", "application/json");
        if (r->retry_after)
                (void)MHD_add_response_header(resp, "Retry-After", r->retry_after);
        ret = MHD_queue_response(conn, r->status, resp);
        MHD_destroy_response(resp);
        return ret;
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
                         enum MHD_RequestTerminationCode toe)
{
        (void)cls;
        (void)conn;
        (void)toe;
        free(*con_cls);
        *con_cls = NULL;
}

void fake_server_start(struct fake_server *s, const struct fake_resp *script, size_t n, bool tls)
{
        const union MHD_DaemonInfo *info;
        struct sockaddr_in sa;

        memset(&sa, 0, sizeof(sa));
        sa.sin_family = AF_INET;
        sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        memset(s, 0, sizeof(*s));
        pthread_mutex_init(&s->mu, NULL);
        s->script = script;
        s->n = n;
        if (tls)
                /* The trust store makes the server ask for a client certificate. */
                s->d = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD |
                                                MHD_USE_THREAD_PER_CONNECTION | MHD_USE_TLS,
                                        0, NULL, NULL, on_request, s, MHD_OPTION_NOTIFY_COMPLETED,
                                        on_completed, NULL, MHD_OPTION_SOCK_ADDR, &sa,
                                        MHD_OPTION_HTTPS_MEM_KEY, TEST_SERVER_KEY_PEM,
                                        MHD_OPTION_HTTPS_MEM_CERT, TEST_SERVER_CERT_PEM,
                                        MHD_OPTION_HTTPS_MEM_TRUST, TEST_CA_PEM, MHD_OPTION_END);
        else
                s->d = MHD_start_daemon(
                        MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_THREAD_PER_CONNECTION, 0, NULL,
                        NULL, on_request, s, MHD_OPTION_NOTIFY_COMPLETED, on_completed, NULL,
                        MHD_OPTION_SOCK_ADDR, &sa, MHD_OPTION_END);
        assert_non_null(s->d);
        info = MHD_get_daemon_info(s->d, MHD_DAEMON_INFO_BIND_PORT);
        assert_non_null(info);
        s->port = info->port;
}

void fake_server_stop(struct fake_server *s)
{
        MHD_stop_daemon(s->d);
        pthread_mutex_destroy(&s->mu);
}

struct kube_client *fake_client_new(const struct fake_server *s, const char *token,
                                    const char *token_file)
{
        struct kube_config cfg;
        struct kube_client *c = NULL;
        struct errbuf err;
        char server[64];
        char ns[] = "kagent";
        char tok[128];
        char tok_file[256];

        memset(&cfg, 0, sizeof(cfg));
        (void)snprintf(server, sizeof(server), "http://127.0.0.1:%u", (unsigned)s->port);
        (void)snprintf(tok, sizeof(tok), "%s", token ? token : "");
        (void)snprintf(tok_file, sizeof(tok_file), "%s", token_file ? token_file : "");
        cfg.server = server;
        cfg.namespace = ns;
        cfg.token = token ? tok : NULL;
        cfg.token_file = token_file ? tok_file : NULL;
        assert_int_equal(kube_client_new(&cfg, &c, &err), 0);
        return c;
}

bool fake_req_has(const struct fake_req *r, const char *param)
{
        const char *p = strstr(r->query, param);
        size_t n = strlen(param);

        return p && (p == r->query || p[-1] == '&') && (p[n] == '&' || p[n] == '\0');
}
