/* SPDX-License-Identifier: Apache-2.0 */
/* kagent-retention: command-line entry point (placeholder until the commands land). */
#include <stdio.h>

int main(void)
{
        printf("kagent-retention %s\n", KR_VERSION);
        return 0;
}
