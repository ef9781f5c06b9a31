/* lowbit command-line tool (being written). */
#include "lowbit.h"

#include <stdio.h>

int main(void)
{
    fprintf(stderr, "lowbit %s: CLI not written yet\n", LOWBIT_VERSION);
    return 2;
}
