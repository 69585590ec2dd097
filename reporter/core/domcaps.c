/* SPDX-License-Identifier: Apache-2.0 */
/* Parse libvirt's domain-capabilities XML (libxml2) into the host's TPM facts. */
#include <limits.h>
#include <string.h>

#include <libxml/parser.h>
#include <libxml/tree.h>

#include "alloc.h"
#include "domcaps.h"
#include "util.h"

static bool
domcaps_is(const xmlNode *node, const char *name)
{
    return node->type == XML_ELEMENT_NODE && xmlStrEqual(node->name, BAD_CAST name);
}

static const xmlNode *
domcaps_child(const xmlNode *parent, const char *name)
{
    for (const xmlNode *c = parent ? parent->children : NULL; c; c = c->next)
        if (domcaps_is(c, name))
            return c;
    return NULL;
}

/* Copies the trimmed text content of @node into @buf; "" when absent. */
static void
domcaps_text(const xmlNode *node, char *buf, size_t size)
{
    xmlChar *text;
    const char *s;
    size_t len;

    buf[0] = '\0';
    if (!node)
        return;
    text = xmlNodeGetContent(node);
    if (!text)
        return;
    s = (const char *)text;
    s += strspn(s, " \t\r\n");
    len = strlen(s);
    while (len > 0 && strchr(" \t\r\n", s[len - 1]))
        len--;
    if (len < size) {
        memcpy(buf, s, len);
        buf[len] = '\0';
    } else {
        vtpm_strfmt(buf, size, "%.*s", (int)(size - 1), s);
    }
    xmlFree(text);
}

/* True when the <enum name=@name> child of @parent lists @value. */
static bool
domcaps_enum_has(const xmlNode *enm, const char *value)
{
    for (const xmlNode *v = enm ? enm->children : NULL; v; v = v->next) {
        char text[64];

        if (!domcaps_is(v, "value"))
            continue;
        domcaps_text(v, text, sizeof(text));
        if (strcmp(text, value) == 0)
            return true;
    }
    return false;
}

static const xmlNode *
domcaps_enum(const xmlNode *parent, const char *name)
{
    for (const xmlNode *c = parent->children; c; c = c->next) {
        xmlChar *attr;
        bool match;

        if (!domcaps_is(c, "enum"))
            continue;
        attr = xmlGetProp(c, BAD_CAST "name");
        match = attr && xmlStrEqual(attr, BAD_CAST name);
        xmlFree(attr);
        if (match)
            return c;
    }
    return NULL;
}

static void
domcaps_read_tpm(const xmlNode *tpm, vtpm_libvirt_facts *out)
{
    xmlChar *supported = xmlGetProp(tpm, BAD_CAST "supported");
    const xmlNode *model, *backend, *version;

    out->tpm_element = true;
    out->tpm_supported = supported && xmlStrEqual(supported, BAD_CAST "yes");
    xmlFree(supported);

    /* libvirt lists the enums even when unsupported in some versions; they
     * describe what would work, so record them either way and let decide()
     * weigh supported='no' first */
    model = domcaps_enum(tpm, "model");
    out->model_tis = domcaps_enum_has(model, "tpm-tis");
    out->model_crb = domcaps_enum_has(model, "tpm-crb");
    backend = domcaps_enum(tpm, "backendModel");
    out->backend_emulator = domcaps_enum_has(backend, "emulator");
    version = domcaps_enum(tpm, "backendVersion");
    out->backend_version_element = version != NULL;
    out->backend_1_2 = domcaps_enum_has(version, "1.2");
    out->backend_2_0 = domcaps_enum_has(version, "2.0");
}

static void
domcaps_reset(vtpm_libvirt_facts *out)
{
    out->tpm_element = false;
    out->tpm_supported = false;
    out->model_tis = false;
    out->model_crb = false;
    out->backend_emulator = false;
    out->backend_version_element = false;
    out->backend_1_2 = false;
    out->backend_2_0 = false;
}

int
vtpm_domcaps_parse(const char *xml, size_t len, vtpm_libvirt_facts *out, char *err,
                   size_t errlen)
{
    xmlParserCtxtPtr ctxt = NULL;
    xmlDocPtr doc = NULL;
    const xmlNode *root, *devices, *tpm;
    int rc = -1;

    domcaps_reset(out);
    if (!xml || len == 0) {
        vtpm_strfmt(err, errlen, "domain capabilities are empty");
        return -1;
    }
    if (len > INT_MAX) {
        vtpm_strfmt(err, errlen, "domain capabilities are too large (%zu bytes)", len);
        return -1;
    }
    /* NULL only for want of memory. */
    ctxt = VTPM_ALLOC_CHECK(xmlNewParserCtxt());
    /* no network, no entity expansion, no DTD loading: it is data, not a document */
    doc = xmlCtxtReadMemory(ctxt, xml, (int)len, "domcapabilities.xml", NULL,
                            XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING |
                                XML_PARSE_NOCDATA);
    if (!doc || !ctxt->wellFormed) {
        const xmlError *e = xmlCtxtGetLastError(ctxt);
        char msg[160] = "malformed";

        if (e && e->message) {
            size_t n;

            /* libxml2 messages span lines ("...\nBytes: 0xDF ..."): keep one */
            vtpm_strfmt(msg, sizeof(msg), "%s", e->message);
            for (char *p = msg; *p; p++)
                if ((unsigned char)*p < 0x20)
                    *p = ' ';
            n = strlen(msg);
            while (n > 0 && msg[n - 1] == ' ')
                msg[--n] = '\0';
        }
        vtpm_strfmt(err, errlen, "domain capabilities are not valid XML: line %d: %s",
                    e ? e->line : 0, msg);
        goto cleanup;
    }
    root = xmlDocGetRootElement(doc);
    if (!root || !domcaps_is(root, "domainCapabilities")) {
        char name[64];

        vtpm_quote(name, sizeof(name), root ? (const char *)root->name : "");
        vtpm_strfmt(err, errlen,
                    "not a domain capabilities document: root element is %s", name);
        goto cleanup;
    }
    /* keep what the caller asked for when the document does not say */
    if (domcaps_child(root, "arch"))
        domcaps_text(domcaps_child(root, "arch"), out->arch, sizeof(out->arch));
    if (domcaps_child(root, "domain"))
        domcaps_text(domcaps_child(root, "domain"), out->virt_type, sizeof(out->virt_type));
    devices = domcaps_child(root, "devices");
    tpm = domcaps_child(devices, "tpm");
    if (tpm)
        domcaps_read_tpm(tpm, out);
    rc = 0;

cleanup:
    xmlFreeDoc(doc);
    xmlFreeParserCtxt(ctxt);
    return rc;
}
