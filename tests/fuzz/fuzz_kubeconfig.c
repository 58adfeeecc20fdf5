/* SPDX-License-Identifier: Apache-2.0 */
/* kubeconfig files through libyaml and the configuration builder. */
#include "base/errbuf.h"
#include "fuzz.h"
#include "kube/kube.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        struct kube_config cfg;
        struct errbuf err;

        errbuf_clear(&err);
        if (kube_config_parse_kubeconfig((const char *)data, size, "/fuzz/kubeconfig", NULL, &cfg,
                                         &err) == 0)
                kube_config_cleanup(&cfg);
        return 0;
}
