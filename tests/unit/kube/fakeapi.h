/* SPDX-License-Identifier: Apache-2.0 */
#ifndef TESTS_KUBE_FAKEAPI_H
#define TESTS_KUBE_FAKEAPI_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/*
 * A fake API server on loopback (libmicrohttpd) for the client tests: it answers each request
 * with the next response of a script (503 once the script is used up), streaming responses of
 * several pieces with chunked encoding and optionally cutting the connection after them, and
 * records what each request carried. With TLS it serves testcerts.h's server certificate and
 * asks for a client certificate.
 */

struct kube_client;

#define SCRIPT_MAX 16
#define REQS_MAX   32
#define CHUNKS_MAX 8

struct fake_resp {
        unsigned status;
        bool drop; /* cut the connection after the pieces */
        const char *retry_after;
        const char *chunks[CHUNKS_MAX]; /* the body in pieces, NULL-terminated */
};

struct fake_req {
        char method[16];
        char path[512];
        char query[1024];
        char auth[512];
        char ua[128];
        char ctype[128];
        char body[4096];
        bool client_cert; /* TLS: the client presented a certificate */
};

struct fake_server {
        struct MHD_Daemon *d;
        uint16_t port;
        pthread_mutex_t mu;
        const struct fake_resp *script;
        size_t n;
        size_t next;
        struct fake_req reqs[REQS_MAX];
        size_t nreq;
};

/* Start serving 'script' (borrowed; it must outlive the server) on 127.0.0.1. */
void fake_server_start(struct fake_server *s, const struct fake_resp *script, size_t n, bool tls);
void fake_server_stop(struct fake_server *s);
/* A client for the server with a bearer 'token' and/or 'token_file' (NULL: none). */
struct kube_client *fake_client_new(const struct fake_server *s, const char *token,
                                    const char *token_file);
/* True when the request's query has exactly 'param' ("watch=1") among its parameters. */
bool fake_req_has(const struct fake_req *r, const char *param);

#endif
