/* gossip-buffer.c — bounds-checked big-endian readers and writers.
 *
 * SPDX-License-Identifier: MIT
 */
#include "config.h"

#include <string.h>

#include "gossip-buffer-private.h"

/* ------------------------------------------------------------------------ */
/* Writer                                                                   */
/* ------------------------------------------------------------------------ */

void
gossip_writer_init (GossipWriter *w)
{
  g_return_if_fail (w != NULL);

  w->data = g_byte_array_new ();
}

void
gossip_writer_clear (GossipWriter *w)
{
  g_return_if_fail (w != NULL);

  g_clear_pointer (&w->data, g_byte_array_unref);
}

/* Leaves @w cleared: gossip_writer_init() it again to reuse it. */
GBytes *
gossip_writer_steal_bytes (GossipWriter *w)
{
  g_return_val_if_fail (w != NULL && w->data != NULL, NULL);

  return g_byte_array_free_to_bytes (g_steal_pointer (&w->data));
}

gsize
gossip_writer_len (const GossipWriter *w)
{
  g_return_val_if_fail (w != NULL && w->data != NULL, 0);

  return w->data->len;
}

void
gossip_writer_put_raw (GossipWriter *w, const void *data, gsize len)
{
  g_return_if_fail (w != NULL && w->data != NULL);
  g_return_if_fail (data != NULL || len == 0);
  /* GByteArray lengths are guint. */
  g_return_if_fail (len <= G_MAXUINT - w->data->len);

  if (len > 0)
    g_byte_array_append (w->data, data, (guint) len);
}

void
gossip_writer_put_u8 (GossipWriter *w, guint8 v)
{
  gossip_writer_put_raw (w, &v, 1);
}

void
gossip_writer_put_u16 (GossipWriter *w, guint16 v)
{
  guint8 b[2] = { (guint8) (v >> 8), (guint8) v };

  gossip_writer_put_raw (w, b, sizeof b);
}

void
gossip_writer_put_u32 (GossipWriter *w, guint32 v)
{
  guint8 b[4] = {
    (guint8) (v >> 24), (guint8) (v >> 16), (guint8) (v >> 8), (guint8) v,
  };

  gossip_writer_put_raw (w, b, sizeof b);
}

void
gossip_writer_put_u64 (GossipWriter *w, guint64 v)
{
  gossip_writer_put_u32 (w, (guint32) (v >> 32));
  gossip_writer_put_u32 (w, (guint32) v);
}

void
gossip_writer_put_blob (GossipWriter *w, const void *data, gsize len)
{
  g_return_if_fail (data != NULL || len == 0);

  if (G_UNLIKELY (len > G_MAXUINT32))
    {
      /* A programmer error, but writing nothing would desynchronise every
       * later field for the reader; an empty blob keeps the stream parseable. */
      g_critical ("%s: blob of %" G_GSIZE_FORMAT " bytes does not fit a u32 length",
                  G_STRFUNC, len);
      len = 0;
    }

  gossip_writer_put_u32 (w, (guint32) len);
  gossip_writer_put_raw (w, data, len);
}

void
gossip_writer_put_string (GossipWriter *w, const char *s)
{
  gsize len = s != NULL ? strlen (s) : 0;

  if (G_UNLIKELY (len > G_MAXUINT16))
    {
      /* See gossip_writer_put_blob(): keep the stream parseable. Truncating
       * could split a UTF-8 sequence, so write the empty string instead. */
      g_critical ("%s: string of %" G_GSIZE_FORMAT " bytes does not fit a u16 length",
                  G_STRFUNC, len);
      len = 0;
    }

  gossip_writer_put_u16 (w, (guint16) len);
  gossip_writer_put_raw (w, s, len);
}

void
gossip_writer_patch_u16 (GossipWriter *w, gsize offset, guint16 v)
{
  g_return_if_fail (w != NULL && w->data != NULL);
  g_return_if_fail (offset <= w->data->len && w->data->len - offset >= 2);

  w->data->data[offset] = (guint8) (v >> 8);
  w->data->data[offset + 1] = (guint8) v;
}

/* ------------------------------------------------------------------------ */
/* Reader                                                                   */
/* ------------------------------------------------------------------------ */

void
gossip_reader_init (GossipReader *r, const void *data, gsize len)
{
  /* A non-NULL base even for empty input: reads of zero bytes then succeed
   * with a valid pointer, and no arithmetic is ever done on NULL. */
  static const guint8 empty[1] = { 0 };

  g_return_if_fail (r != NULL);

  r->data = data != NULL ? data : empty;
  r->len = data != NULL ? len : 0;
  r->pos = 0;
  r->failed = FALSE;
}

gsize
gossip_reader_remaining (const GossipReader *r)
{
  g_return_val_if_fail (r != NULL, 0);

  return r->failed ? 0 : r->len - r->pos;
}

/* The single place that moves @pos: every getter goes through it, so the
 * invariant pos <= len holds whatever the input says. */
static const guint8 *
reader_take (GossipReader *r, gsize n)
{
  const guint8 *p;

  if (r->failed || r->len - r->pos < n)
    {
      r->failed = TRUE;
      return NULL;
    }

  p = r->data + r->pos;
  r->pos += n;
  return p;
}

gboolean
gossip_reader_get_u8 (GossipReader *r, guint8 *v)
{
  const guint8 *p = reader_take (r, 1);

  if (v != NULL)
    *v = p != NULL ? p[0] : 0;
  return p != NULL;
}

gboolean
gossip_reader_get_u16 (GossipReader *r, guint16 *v)
{
  const guint8 *p = reader_take (r, 2);

  if (v != NULL)
    *v = p != NULL ? (guint16) ((p[0] << 8) | p[1]) : 0;
  return p != NULL;
}

gboolean
gossip_reader_get_u32 (GossipReader *r, guint32 *v)
{
  const guint8 *p = reader_take (r, 4);

  if (v != NULL)
    *v = p != NULL ? ((guint32) p[0] << 24) | ((guint32) p[1] << 16) |
                     ((guint32) p[2] << 8) | (guint32) p[3]
                   : 0;
  return p != NULL;
}

gboolean
gossip_reader_get_u64 (GossipReader *r, guint64 *v)
{
  const guint8 *p = reader_take (r, 8);
  guint64 acc = 0;

  if (p != NULL)
    for (guint i = 0; i < 8; i++)
      acc = (acc << 8) | p[i];
  if (v != NULL)
    *v = acc;
  return p != NULL;
}

gboolean
gossip_reader_get_raw (GossipReader *r, gsize len, const guint8 **out)
{
  const guint8 *p = reader_take (r, len);

  if (out != NULL)
    *out = p;
  return p != NULL;
}

gboolean
gossip_reader_get_blob (GossipReader *r, gsize max_len, const guint8 **out, gsize *out_len)
{
  guint32 len = 0;
  const guint8 *p = NULL;

  if (gossip_reader_get_u32 (r, &len))
    {
      if (len > max_len)
        r->failed = TRUE;
      else
        p = reader_take (r, len);
    }

  if (out != NULL)
    *out = p;
  if (out_len != NULL)
    *out_len = p != NULL ? len : 0;
  return p != NULL;
}

gboolean
gossip_reader_get_string (GossipReader *r, gsize max_len, char **out)
{
  guint16 len = 0;
  const guint8 *p = NULL;

  if (out != NULL)
    *out = NULL;

  if (!gossip_reader_get_u16 (r, &len))
    return FALSE;
  if (len > max_len)
    {
      r->failed = TRUE;
      return FALSE;
    }

  p = reader_take (r, len);
  if (p == NULL)
    return FALSE;

  /* g_utf8_validate_len() also rejects NUL bytes, which would otherwise
   * silently truncate the C string and let two different wire strings
   * compare equal. */
  if (!g_utf8_validate_len ((const char *) p, len, NULL))
    {
      r->failed = TRUE;
      return FALSE;
    }

  if (out != NULL)
    *out = g_strndup ((const char *) p, len);
  return TRUE;
}
