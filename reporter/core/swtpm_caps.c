/* SPDX-License-Identifier: Apache-2.0 */
/* Parse `swtpm --print-capabilities` JSON (jansson), tolerant of what we do not know. */
#include <string.h>

#include <jansson.h>

#include "swtpm_caps.h"
#include "util.h"

/* Appends @name to the comma-separated @list, marking a cut with "...". */
static void
swtpm_caps_append(char *list, size_t size, const char *name)
{
    size_t used = strlen(list);
    size_t need = strlen(name) + (used ? 1 : 0);

    if (used >= size - 1 || (used >= 3 && strcmp(list + used - 3, "...") == 0))
        return;
    if (used + need + 5 > size) {
        /* room for ",..." and the NUL is always kept; say the list goes on */
        snprintf(list + used, size - used, "%s...", used ? "," : "");
        return;
    }
    snprintf(list + used, size - used, "%s%s", used ? "," : "", name);
}

/* True when @s is printable ASCII: anything else is not a feature name. */
static bool
swtpm_caps_printable(const char *s, size_t len)
{
    for (size_t i = 0; i < len; i++)
        if ((unsigned char)s[i] < 0x21 || (unsigned char)s[i] > 0x7e || s[i] == ',')
            return false;
    return len > 0;
}

int
vtpm_swtpm_caps_parse(const char *json, size_t len, vtpm_swtpm_facts *out, char *err,
                      size_t errlen)
{
    json_error_t jerr;
    json_t *root = NULL, *features, *version;
    size_t i;
    json_t *item;
    size_t blank;
    int rc = -1;

    out->version[0] = '\0';
    out->features[0] = '\0';
    out->tpm_1_2 = false;
    out->tpm_2_0 = false;
    out->pwd_fd = false;
    out->setup_pwdfile_fd = false;

    for (blank = 0; json && blank < len; blank++)
        if (!strchr(" \t\r\n", json[blank]))
            break;
    if (!json || blank == len) {
        vtpm_strfmt(err, errlen, "swtpm capabilities are empty");
        return -1;
    }
    root = json_loadb(json, len, 0, &jerr);
    if (!root) {
        /* jansson's text quotes the input near the error, which may be any
         * bytes (a newline too): escaped, the message stays one line. */
        char text[JSON_ERROR_TEXT_LENGTH * 4];

        vtpm_strfmt(err, errlen, "swtpm capabilities are not valid JSON: line %d column %d: %s",
                    jerr.line, jerr.column, vtpm_json_error_text(text, sizeof(text), jerr.text));
        return -1;
    }
    if (!json_is_object(root)) {
        vtpm_strfmt(err, errlen, "swtpm capabilities are not a JSON object");
        goto cleanup;
    }
    features = json_object_get(root, "features");
    if (!json_is_array(features)) {
        vtpm_strfmt(err, errlen, "swtpm capabilities have no \"features\" list");
        goto cleanup;
    }
    json_array_foreach(features, i, item) {
        const char *name = json_string_value(item);
        size_t nlen = json_string_length(item);

        /* skip what is not a plain feature name: later swtpm may add objects */
        if (!name || !swtpm_caps_printable(name, nlen))
            continue;
        if (strcmp(name, "tpm-1.2") == 0)
            out->tpm_1_2 = true;
        else if (strcmp(name, "tpm-2.0") == 0)
            out->tpm_2_0 = true;
        else if (strcmp(name, "cmdarg-pwd-fd") == 0)
            out->pwd_fd = true;            /* swtpm: --key pwdfd= */
        else if (strcmp(name, "cmdarg-pwdfile-fd") == 0)
            out->setup_pwdfile_fd = true;  /* swtpm_setup: --pwdfile-fd */
        swtpm_caps_append(out->features, sizeof(out->features), name);
    }
    /* swtpm older than 0.7 prints no version */
    version = json_object_get(root, "version");
    if (json_is_string(version) &&
        swtpm_caps_printable(json_string_value(version), json_string_length(version)))
        vtpm_strfmt(out->version, sizeof(out->version), "%s", json_string_value(version));
    rc = 0;

cleanup:
    json_decref(root);
    return rc;
}
