/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Watch streams: the incremental decoder fed the input in pieces whose sizes come from the
 * input itself, and Kubernetes Status error bodies.
 */
#include "base/errbuf.h"
#include "fuzz.h"
#include "kube/kube.h"

static int on_event(const struct kube_watch_event *ev, void *userdata)
{
        (void)ev;
        (*(int *)userdata)++;
        return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        struct kube_watch_decoder d;
        struct errbuf err;
        size_t step;
        int events = 0;

        if (size < 1)
                return 0;
        step = (size_t)data[0] % 64 + 1;
        data++;
        size--;
        kube_watch_decoder_init(&d, (size_t)64 * 1024);
        for (size_t off = 0; off < size; off += step) {
                size_t n = size - off < step ? size - off : step;

                errbuf_clear(&err);
                if (kube_watch_decoder_feed(&d, (const char *)data + off, n, on_event, &events,
                                            &err) < 0)
                        break;
        }
        kube_watch_decoder_cleanup(&d);
        errbuf_clear(&err);
        (void)kube_status_error(403, "PATCH",
                                "/apis/kagent.dev/v1alpha1/namespaces/kagent/retentionpolicies/x"
                                "/status",
                                NULL, (const char *)data, size, &err);
        return 0;
}
