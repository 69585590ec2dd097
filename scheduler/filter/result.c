/* SPDX-License-Identifier: Apache-2.0 */
/* vtpm_result and vtpm_error: what a translation or a guard concluded. */
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "filter-priv.h"
#include "util.h"

vtpm_result *
vtpm_result_new(void)
{
    vtpm_result *res = calloc(1, sizeof(*res));

    if (res)
        vtpm_result_clear(res);
    return res;
}

void
vtpm_result_free(vtpm_result *res)
{
    free(res);
}

void
vtpm_result_reject(vtpm_result *res, vtpm_code code, const char *fmt, ...)
{
    va_list ap;

    vtpm_result_clear(res);
    res->accepted = false;
    res->code = code;
    va_start(ap, fmt);
    vtpm_vstrfmt(res->message, sizeof(res->message), fmt, ap);
    va_end(ap);
}

bool
vtpm_result_accepted(const vtpm_result *res)
{
    return res && res->accepted;
}

vtpm_code
vtpm_result_code(const vtpm_result *res)
{
    return res ? res->code : VTPM_CODE_NONE;
}

const char *
vtpm_result_message(const vtpm_result *res)
{
    if (!res)
        return "";
    /* No result is defined const (they come from vtpm_result_new() or are
     * the library's own locals) and one belongs to one thread at a time, so
     * writing the pending message here is safe. */
    if (res->message_pending)
        vtpm_translate_message_format((vtpm_result *)res);
    return res->message;
}

vtpm_version
vtpm_result_version(const vtpm_result *res)
{
    return res ? res->version : VTPM_VERSION_NONE;
}

vtpm_model
vtpm_result_model(const vtpm_result *res)
{
    return res ? res->model : VTPM_MODEL_NONE;
}

vtpm_secret_security
vtpm_result_secret_security(const vtpm_result *res)
{
    return res ? res->secret_security : VTPM_SECRET_SECURITY_NONE;
}

vtpm_traitset
vtpm_result_required_traits(const vtpm_result *res)
{
    return res ? res->required : 0;
}

void
vtpm_error_set(vtpm_error *err, vtpm_status status, int line, int column,
               const char *fmt, ...)
{
    va_list ap;

    if (!err)
        return;
    err->status = status;
    err->line = line;
    err->column = column;
    va_start(ap, fmt);
    vtpm_vstrfmt(err->message, sizeof(err->message), fmt, ap);
    va_end(ap);
}
