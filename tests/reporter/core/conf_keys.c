/* SPDX-License-Identifier: Apache-2.0 */
/* Prints the reporter's configuration keys, one a line ("uri", "key_manager.url"), for tests/docs/man_pages.sh. */
#include <stdio.h>

#include "conf.h"

int
main(void)
{
    const char *name, *section;

    for (size_t i = 0; (name = vtpm_conf_key_at(i, &section)); i++)
        printf("%s%s%s\n", section, section[0] ? "." : "", name);
    return fflush(stdout) == 0 ? 0 : 1;
}
