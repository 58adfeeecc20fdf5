/* SPDX-License-Identifier: Apache-2.0 */
/* Listen addresses of the metrics server and PostgreSQL URLs through the redaction. */
#include <stdlib.h>
#include <string.h>

#include "base/errbuf.h"
#include "fuzz.h"
#include "httpd/httpd.h"
#include "store/store.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        char *s = fuzz_cstr(data, size);
        struct httpd_addr a;
        struct errbuf err;
        char out[512];

        if (!s)
                return 0;
        errbuf_clear(&err);
        if (httpd_addr_parse(s, &a, &err) == 0)
                (void)httpd_addr_format(&a, out, sizeof(out));
        (void)store_conninfo_redact(s, out, sizeof(out));
        /* A password after "user:" must never survive redaction (checked when that is the only
         * place the text appears: elsewhere in a URL it is not a secret). */
        {
                const char *first = strstr(s, "SECRETPW");

                if (strstr(s, "postgres://u:SECRETPW@") && !strstr(first + 1, "SECRETPW") &&
                    strstr(out, "SECRETPW"))
                        abort();
        }
        free(s);
        return 0;
}
