/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The metrics and health endpoints of `run`: one registry, one liveness/readiness state, and
 * one HTTP server per distinct address (--metrics-bind-address, --health-probe-bind-address).
 */
#define LOG_MODULE "main"
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "base/clock.h"
#include "base/errbuf.h"
#include "cli.h"
#include "httpd/httpd.h"
#include "krmetrics/krmetrics.h"
#include "log/log.h"

/* The loop beats at least every volume poll and after every batch; a minute of silence on top
 * of the longest planning statement means it is stuck. */
#define HEALTH_MAX_AGE_MIN_MS 120000

static int parse_addr(const char *flag, const char *value, struct httpd_addr *out)
{
        struct errbuf err;

        errbuf_clear(&err);
        if (httpd_addr_parse(value, out, &err) < 0) {
                (void)fprintf(stderr, "--%s '%s': %s\n", flag, value, errbuf_msg(&err));
                return EXIT_USAGE;
        }
        return 0;
}

static int start_one(struct serving *s, const struct httpd_addr *addr, bool metrics, bool health)
{
        struct httpd_config hc;
        struct errbuf err;
        char where[80];

        memset(&hc, 0, sizeof(hc));
        hc.addr = *addr;
        hc.registry = metrics ? krmetrics_registry(s->metrics) : NULL;
        hc.health = health ? s->health : NULL;
        hc.requests = krmetrics_http_family(s->metrics);
        errbuf_clear(&err);
        if (httpd_start(&hc, &s->servers[s->n], &err) < 0) {
                (void)fprintf(stderr, "serve %s: %s\n",
                              httpd_addr_format(addr, where, sizeof(where)), errbuf_msg(&err));
                return EXIT_FAIL;
        }
        s->n++;
        log_info("serving", LOG_STR("address", httpd_addr_format(addr, where, sizeof(where))),
                 LOG_BOOL("metrics", metrics), LOG_BOOL("health", health));
        return 0;
}

int serving_start(const struct config *c, struct serving *s)
{
        struct httpd_addr maddr;
        struct httpd_addr haddr;
        struct errbuf err;
        int64_t max_age = 3 * c->volume_poll_ms;
        int rc;

        memset(s, 0, sizeof(*s));
        if ((rc = parse_addr("metrics-bind-address", c->metrics_address, &maddr)) != 0 ||
            (rc = parse_addr("health-probe-bind-address", c->health_address, &haddr)) != 0)
                return rc;
        errbuf_clear(&err);
        if (max_age < HEALTH_MAX_AGE_MIN_MS)
                max_age = HEALTH_MAX_AGE_MIN_MS;
        if (krmetrics_new(KR_VERSION, clock_wall_ms(), &s->metrics, &err) < 0 ||
            httpd_health_new(max_age, NULL, NULL, &s->health, &err) < 0) {
                (void)fprintf(stderr, "metrics: %s\n", errbuf_msg(&err));
                serving_stop(s);
                return EXIT_FAIL;
        }
        httpd_health_set_ready(s->health, false, "starting");
        if (maddr.enabled && haddr.enabled && httpd_addr_equal(&maddr, &haddr)) {
                rc = start_one(s, &maddr, true, true);
        } else {
                rc = maddr.enabled ? start_one(s, &maddr, true, false) : 0;
                if (rc == 0 && haddr.enabled)
                        rc = start_one(s, &haddr, false, true);
        }
        if (rc != 0)
                serving_stop(s);
        return rc;
}

void serving_stop(struct serving *s)
{
        for (int i = 0; i < s->n; i++)
                httpd_stop(s->servers[i]);
        s->n = 0;
        httpd_health_free(s->health);
        s->health = NULL;
        krmetrics_free(s->metrics);
        s->metrics = NULL;
}
