/* SPDX-License-Identifier: Apache-2.0 */
/* Durations and quantities (policy and Kubernetes parsers), and their formatting round trip. */
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "kube/kube.h"
#include "policy/policy.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        char *s = fuzz_cstr(data, size);
        int64_t v = 0;

        if (!s)
                return 0;
        if (policy_duration_parse(s, &v) == 0) {
                int64_t again = -1;
                char out[64];

                (void)policy_duration_format(v, out, sizeof(out));
                /* What we print must parse back to the same value. */
                if (policy_duration_parse(out, &again) != 0 || again != v)
                        abort();
        }
        (void)policy_quantity_parse(s, &v);
        (void)kube_quantity_parse(s, &v);
        free(s);
        return 0;
}
