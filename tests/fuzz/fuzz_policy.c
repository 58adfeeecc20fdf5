/* SPDX-License-Identifier: Apache-2.0 */
/* Policy files: YAML and JSON text through the parser and the validator. */
#include <jansson.h>

#include "base/errbuf.h"
#include "fuzz.h"
#include "policy/policy.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        struct policy p;
        struct policy_errors errs;
        struct errbuf err;

        errbuf_clear(&err);
        if (policy_parse((const char *)data, size, &p, &errs, &err) == 0) {
                json_t *j = policy_to_json(&p);

                json_decref(j);
        }
        return 0;
}
