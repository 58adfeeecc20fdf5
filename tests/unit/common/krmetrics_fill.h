/* SPDX-License-Identifier: Apache-2.0 */
#ifndef TESTS_KRMETRICS_FILL_H
#define TESTS_KRMETRICS_FILL_H

struct krmetrics;

/*
 * Drive every krmetrics_* update with realistic numbers, so every kagent-retention metric and
 * every kind of label value appears in the exposition (the promtool check and the load test
 * scrape this).
 */
void krmetrics_fill(struct krmetrics *m);

#endif
