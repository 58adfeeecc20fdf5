/* SPDX-License-Identifier: Apache-2.0 */
/* Loopback HTTP/1.1 client for tests: connect, send, read one framed response. */
#include "httpc.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static int64_t now_ms(void)
{
        struct timespec ts;

        (void)clock_gettime(CLOCK_MONOTONIC, &ts);
        return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Wait for 'events' on fd until 'deadline'; 1 ready, 0 timed out, negative errno. */
static int wait_fd(int fd, short events, int64_t deadline)
{
        struct pollfd p = { .fd = fd, .events = events };

        for (;;) {
                int64_t left = deadline - now_ms();
                int rc;

                if (left <= 0)
                        return 0;
                rc = poll(&p, 1, (int)left);
                if (rc > 0)
                        return 1;
                if (rc == 0)
                        return 0;
                if (errno != EINTR)
                        return -errno;
        }
}

int httpc_connect(uint16_t port, int timeout_ms)
{
        struct sockaddr_in sin = { .sin_family = AF_INET, .sin_port = htons(port) };
        int64_t deadline = now_ms() + timeout_ms;
        int one = 1;
        int fd;
        int rc;
        int soerr = 0;
        socklen_t len = sizeof(soerr);

        sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
        if (fd < 0)
                return -errno;
        (void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
        if (connect(fd, (struct sockaddr *)&sin, sizeof(sin)) < 0) {
                if (errno != EINPROGRESS) {
                        rc = -errno;
                        goto fail;
                }
                rc = wait_fd(fd, POLLOUT, deadline);
                if (rc <= 0) {
                        rc = rc == 0 ? -ETIMEDOUT : rc;
                        goto fail;
                }
                if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &len) < 0 || soerr != 0) {
                        rc = soerr != 0 ? -soerr : -errno;
                        goto fail;
                }
        }
        return fd;
fail:
        (void)close(fd);
        return rc;
}

int httpc_send(int fd, const char *req, size_t len)
{
        int64_t deadline = now_ms() + 5000;

        while (len > 0) {
                ssize_t n = send(fd, req, len, MSG_NOSIGNAL);

                if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
                        int rc = wait_fd(fd, POLLOUT, deadline);

                        if (rc <= 0)
                                return rc == 0 ? -ETIMEDOUT : rc;
                        continue;
                }
                if (n < 0 && errno == EINTR)
                        continue;
                if (n < 0)
                        return -errno;
                req += n;
                len -= (size_t)n;
        }
        return 0;
}

/*
 * True when buf[0..len) holds a whole response framed by Content-Length. Without one (or for
 * a HEAD answer, whose Content-Length announces a body that never comes) the end of the
 * stream frames it.
 */
static bool complete(const char *buf, size_t len)
{
        const char *end = strstr(buf, "\r\n\r\n");
        char value[32];

        if (!end || !httpc_header(buf, "Content-Length", value, sizeof(value)))
                return false;
        return len >= (size_t)(end - buf) + 4 + strtoul(value, NULL, 10);
}

/* Receive more into buf[*len..size-1); 1 when data came, 0 at the end of the stream. */
static int receive(int fd, char *buf, size_t size, size_t *len, int64_t deadline)
{
        for (;;) {
                ssize_t n;
                int rc;

                if (*len + 1 >= size)
                        return -EMSGSIZE;
                rc = wait_fd(fd, POLLIN, deadline);
                if (rc <= 0)
                        return rc == 0 ? -ETIMEDOUT : rc;
                n = recv(fd, buf + *len, size - 1 - *len, 0);
                if (n < 0 && (errno == EINTR || errno == EAGAIN))
                        continue;
                if (n < 0)
                        return -errno;
                *len += (size_t)n;
                buf[*len] = '\0';
                return n > 0 ? 1 : 0;
        }
}

/* The status code of "HTTP/1.x NNN ...", or -EPROTO. */
static int status_of(const char *buf)
{
        char *end;
        long code;

        if (strncmp(buf, "HTTP/1.", 7) != 0 || buf[8] != ' ')
                return -EPROTO;
        code = strtol(buf + 9, &end, 10);
        if (end != buf + 12 || code < 100 || code > 599)
                return -EPROTO;
        return (int)code;
}

int httpc_read(int fd, char *buf, size_t size, size_t *out_len, int timeout_ms)
{
        int64_t deadline = now_ms() + timeout_ms;
        size_t len = 0;
        int status;
        int rc;

        buf[0] = '\0';
        do {
                rc = receive(fd, buf, size, &len, deadline);
                if (rc < 0)
                        return len == 0 || rc == -ETIMEDOUT || rc == -EMSGSIZE ? rc : -EPROTO;
        } while (rc > 0 && !complete(buf, len));
        if (len == 0)
                return 0; /* closed without an answer */
        status = status_of(buf);
        if (status > 0 && out_len)
                *out_len = len;
        return status;
}

int httpc_request(uint16_t port, const char *method, const char *path, char *buf, size_t size,
                  size_t *out_len, int timeout_ms)
{
        size_t cap = strlen(method) + strlen(path) + 128;
        char *req = malloc(cap);
        int fd = -1;
        int rc;
        int n;

        if (!req)
                return -ENOMEM;
        n = snprintf(req, cap, "%s %s HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n",
                     method, path);
        if (n < 0 || (size_t)n >= cap) {
                rc = -EINVAL;
                goto out;
        }
        fd = httpc_connect(port, timeout_ms);
        if (fd < 0) {
                rc = fd;
                goto out;
        }
        rc = httpc_send(fd, req, (size_t)n);
        if (rc == 0)
                rc = httpc_read(fd, buf, size, out_len, timeout_ms);
out:
        if (fd >= 0)
                (void)close(fd);
        free(req);
        return rc;
}

const char *httpc_body(const char *resp)
{
        const char *end = strstr(resp, "\r\n\r\n");

        return end ? end + 4 : NULL;
}

const char *httpc_header(const char *resp, const char *name, char *out, size_t size)
{
        const char *end = strstr(resp, "\r\n\r\n");
        size_t n = strlen(name);
        const char *line = strstr(resp, "\r\n");

        while (line && end && line < end) {
                line += 2;
                if (strncasecmp(line, name, n) == 0 && line[n] == ':') {
                        const char *v = line + n + 1;
                        const char *eol = strstr(v, "\r\n");
                        size_t len;

                        while (*v == ' ')
                                v++;
                        len = (size_t)(eol - v);
                        if (len >= size)
                                len = size - 1;
                        memcpy(out, v, len);
                        out[len] = '\0';
                        return out;
                }
                line = strstr(line, "\r\n");
        }
        return NULL;
}
