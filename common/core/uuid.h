/* SPDX-License-Identifier: Apache-2.0 */
/* The canonical text form of a UUID, "xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx", both ways. */
#ifndef VTPM_COMMON_UUID_H
#define VTPM_COMMON_UUID_H

#include <stdbool.h>
#include <stddef.h>

/* Bytes of a UUID and of its text with the NUL; the same value as the
 * public definition in <vtpm/inventory.h>, which may be included too. */
#define VTPM_UUID_BYTES 16
#define VTPM_UUID_STRING_SIZE 37

/*
 * Reads the text form at the start of @text (hex digits in either case).
 * Returns how many characters of @text fit the form: VTPM_UUID_STRING_SIZE - 1
 * when all of them do (@text may go on after them). @bytes, when not NULL,
 * receives the bytes read (all of them only when the whole form fits).
 */
size_t vtpm_uuid_text_scan(const char *text, unsigned char *bytes);

/* True when @text (NULL is fine) is exactly a UUID in text form. */
bool vtpm_uuid_text_valid(const char *text);

/* Writes @bytes in the canonical lower-case form to @out, NUL included. */
void vtpm_uuid_text_write(const unsigned char bytes[VTPM_UUID_BYTES],
                          char out[VTPM_UUID_STRING_SIZE]);

#endif /* VTPM_COMMON_UUID_H */
