/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Unit tests of the store's backend-independent parts: connection string redaction (no
 * password may survive, whatever form the string takes) and opening a PostgreSQL store with a
 * string libpq cannot parse (the message must not quote it).
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "base/errbuf.h"
#include "store/store.h"

static void expect_redacted(const char *in, const char *want)
{
        char out[512];

        assert_string_equal(store_conninfo_redact(in, out, sizeof(out)), want);
        assert_null(strstr(out, "s3cr"));
}

static void test_redact_url(void **state)
{
        (void)state;
        expect_redacted("postgresql://kagent:s3cret@db:5432/kagent?sslmode=require",
                        "postgresql://kagent:***@db:5432/kagent?sslmode=require");
        expect_redacted("postgres://u:s3cr@t/x@db/kagent", "postgres://u:***@db/kagent");
        expect_redacted("postgresql://u:s3cr%40et@h1:5432,h2:5433/db",
                        "postgresql://u:***@h1:5432,h2:5433/db");
        expect_redacted("postgresql://u@db/kagent?password=s3cret&sslmode=disable",
                        "postgresql://u@db/kagent?password=***&sslmode=disable");
        expect_redacted("postgresql:///kagent?host=/run/pg&sslpassword=s3cret",
                        "postgresql:///kagent?host=/run/pg&sslpassword=***");
        expect_redacted("postgresql://db/kagent?pass%77ord=s3cret", "postgresql://db/kagent?"
                                                                    "pass%77ord=***");
        /* A '@' later in the string hides host and path: over-redacting, never leaking. */
        expect_redacted("postgresql://u:s3cret@db/k?application_name=a@b", "postgresql://u:***@b");
        expect_redacted("postgresql://db/kagent", "postgresql://db/kagent");
        expect_redacted("postgresql://u@db/kagent", "postgresql://u@db/kagent");
}

static void test_redact_keywords(void **state)
{
        (void)state;
        expect_redacted("host=db password=s3cret dbname=kagent",
                        "host=db password=*** dbname=kagent");
        expect_redacted("host=db PASSWORD = 's3c ret\\' x' dbname=kagent",
                        "host=db PASSWORD=*** dbname=kagent");
        expect_redacted("password=s3cret", "password=***");
        expect_redacted("sslpassword='s3cret'\tuser=u", "sslpassword=***\tuser=u");
        /* Only parameter names ending in "password" are secrets. */
        expect_redacted("host=password passwordless=1 user=u",
                        "host=password passwordless=1 user=u");
        /* A message quoting a connection string. */
        expect_redacted("bad option in 'host=db password=s3cret'",
                        "bad option in 'host=db password=***");
}

static void test_redact_bounds(void **state)
{
        char small[12];
        char one[1];

        (void)state;
        assert_string_equal(
                store_conninfo_redact("postgresql://u:s3cret@db/x", small, sizeof(small)),
                "postgresql:");
        assert_string_equal(store_conninfo_redact("password=s3cret", small, sizeof(small)),
                            "password=**");
        assert_string_equal(store_conninfo_redact("anything", one, sizeof(one)), "");
        assert_string_equal(store_conninfo_redact(NULL, small, sizeof(small)), "");
}

static void test_open_unparsable_url(void **state)
{
        struct store_config sc = { .type = STORE_POSTGRES,
                                   .postgres_url = "postgresql://u:s3cr%zzet@db/kagent" };
        struct store *s = NULL;
        struct errbuf err;

        (void)state;
        errbuf_clear(&err);
        assert_int_equal(store_open(&sc, &s, &err), -EINVAL);
        assert_null(s);
        assert_null(strstr(err.msg, "s3cr"));
        assert_non_null(strstr(err.msg, "invalid"));
        sc.postgres_url = "";
        assert_int_equal(store_open(&sc, &s, &err), -EINVAL);
        assert_null(s);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_redact_url),
                cmocka_unit_test(test_redact_keywords),
                cmocka_unit_test(test_redact_bounds),
                cmocka_unit_test(test_open_unparsable_url),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
