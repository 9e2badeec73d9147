/* gossip-compress.c — Snappy block compression with hard limits (snappy-c).
 *
 * SPDX-License-Identifier: MIT
 */
#include "config.h"

#include <glib/gi18n-lib.h>
#include <snappy-c.h>

#include "gossip-compress-private.h"
#include "gossip-error.h"

GBytes *
gossip_snappy_compress (const guint8 *data, gsize len)
{
  g_autofree char *out = NULL;
  size_t out_len;

  g_return_val_if_fail (data != NULL || len == 0, NULL);

  /* An empty input cannot shrink. The block format's length header is a
   * 32-bit varint, and snappy_max_compressed_length() must not overflow:
   * larger inputs simply stay uncompressed. */
  if (len == 0 || len > G_MAXUINT32)
    return NULL;

  out_len = snappy_max_compressed_length (len);
  out = g_malloc (out_len);
  if (snappy_compress ((const char *) data, len, out, &out_len) != SNAPPY_OK ||
      out_len >= len)
    return NULL;

  return g_bytes_new_take (g_realloc (g_steal_pointer (&out), out_len), out_len);
}

GBytes *
gossip_snappy_decompress (const guint8 *data, gsize len, gsize max_len, GError **error)
{
  g_autofree char *out = NULL;
  size_t declared = 0;
  size_t out_len;

  g_return_val_if_fail (data != NULL || len == 0, NULL);
  g_return_val_if_fail (error == NULL || *error == NULL, NULL);

  if (len == 0 || snappy_uncompressed_length ((const char *) data, len, &declared) != SNAPPY_OK)
    {
      g_set_error_literal (error, GOSSIP_WIRE_ERROR, GOSSIP_WIRE_ERROR_DECOMPRESS,
                           _("compressed data has no valid length header"));
      return NULL;
    }

  /* The decompression-bomb guard: a few bytes may claim gigabytes, so the
   * claim is checked before anything is allocated for it. */
  if (declared > max_len)
    {
      g_set_error (error, GOSSIP_WIRE_ERROR, GOSSIP_WIRE_ERROR_TOO_LARGE,
                   _("compressed data declares %lu bytes, more than the limit of %lu"),
                   (unsigned long) declared, (unsigned long) max_len);
      return NULL;
    }

  /* Validation walks the whole stream without an output buffer, so corrupt
   * input never costs an allocation of the declared size either. */
  if (snappy_validate_compressed_buffer ((const char *) data, len) != SNAPPY_OK)
    {
      g_set_error_literal (error, GOSSIP_WIRE_ERROR, GOSSIP_WIRE_ERROR_DECOMPRESS,
                           _("compressed data is corrupt"));
      return NULL;
    }

  /* +1: a valid buffer even for an empty result. */
  out = g_malloc (declared + 1);
  out_len = declared;
  if (snappy_uncompress ((const char *) data, len, out, &out_len) != SNAPPY_OK ||
      out_len != declared)
    {
      g_set_error_literal (error, GOSSIP_WIRE_ERROR, GOSSIP_WIRE_ERROR_DECOMPRESS,
                           _("compressed data is corrupt"));
      return NULL;
    }

  return g_bytes_new_take (g_steal_pointer (&out), out_len);
}
