/* SPDX-License-Identifier: Apache-2.0 */
#ifndef TESTS_HTTPC_H
#define TESTS_HTTPC_H

#include <stddef.h>
#include <stdint.h>

/*
 * A minimal blocking HTTP/1.1 client over loopback TCP for the tests and the load tool: raw
 * sockets, so a test controls exactly what is sent (oversize headers, odd methods, idle
 * connections) and sees exactly what comes back. Responses are framed by Content-Length, or
 * by the end of the stream when there is none.
 */

/* Connect to 127.0.0.1:port. Returns the descriptor or a negative errno. */
int httpc_connect(uint16_t port, int timeout_ms);

/* Send all of req[0..len). Returns 0 or a negative errno. */
int httpc_send(int fd, const char *req, size_t len);

/*
 * Read one response into buf[size] (NUL-terminated). Returns the status code; 0 when the
 * server closed the connection before answering; -ETIMEDOUT when nothing complete arrived in
 * time; -EMSGSIZE when it does not fit; another negative errno on a socket error.
 */
int httpc_read(int fd, char *buf, size_t size, size_t *out_len, int timeout_ms);

/* One request on a fresh connection with "Connection: close"; returns as httpc_read(). */
int httpc_request(uint16_t port, const char *method, const char *path, char *buf, size_t size,
                  size_t *out_len, int timeout_ms);

/* The body of a response read by httpc_read() (after the blank line), or NULL. */
const char *httpc_body(const char *resp);

/* Copy the value of header 'name' (case-insensitive) into out[size]; returns out or NULL. */
const char *httpc_header(const char *resp, const char *name, char *out, size_t size);

#endif
