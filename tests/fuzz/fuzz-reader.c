/* fuzz-reader.c — libFuzzer target for GossipReader.
 *
 * The input is a self-describing record stream: an opcode byte picks the
 * next field (u8, u16, u32, u64, raw, blob or string, with a length limit
 * taken from the opcode's high bits), as a packet decoder would. Every
 * field read is written back with GossipWriter; the result must reproduce
 * the input up to the last complete field, and a failed read must leave the
 * reader failed, empty and its outputs zeroed.
 *
 * SPDX-License-Identifier: MIT
 */
#include <string.h>

#include "fuzz-common.h"
#include "gossip-buffer-private.h"

/* Reads one field of kind @op from @r and writes it to @w. */
static gboolean
reader_field (GossipReader *r, GossipWriter *w, guint8 op)
{
  guint limit = op >> 3;

  switch (op & 7)
    {
    case 0:
      {
        guint8 v = 0xaa;

        if (!gossip_reader_get_u8 (r, &v))
          {
            FUZZ_CHECK (v == 0);
            return FALSE;
          }
        gossip_writer_put_u8 (w, v);
        return TRUE;
      }
    case 1:
      {
        guint16 v = 0xaaaa;

        if (!gossip_reader_get_u16 (r, &v))
          {
            FUZZ_CHECK (v == 0);
            return FALSE;
          }
        gossip_writer_put_u16 (w, v);
        return TRUE;
      }
    case 2:
      {
        guint32 v = 0xaaaaaaaa;

        if (!gossip_reader_get_u32 (r, &v))
          {
            FUZZ_CHECK (v == 0);
            return FALSE;
          }
        gossip_writer_put_u32 (w, v);
        return TRUE;
      }
    case 3:
      {
        guint64 v = G_MAXUINT64;

        if (!gossip_reader_get_u64 (r, &v))
          {
            FUZZ_CHECK (v == 0);
            return FALSE;
          }
        gossip_writer_put_u64 (w, v);
        return TRUE;
      }
    case 4:
      {
        const guint8 *p = (const guint8 *) "";

        if (!gossip_reader_get_raw (r, limit, &p))
          {
            FUZZ_CHECK (p == NULL);
            return FALSE;
          }
        gossip_writer_put_raw (w, p, limit);
        return TRUE;
      }
    case 5:
    case 6:
      {
        const guint8 *p = (const guint8 *) "";
        gsize len = 1;

        if (!gossip_reader_get_blob (r, (gsize) limit * 64, &p, &len))
          {
            FUZZ_CHECK (p == NULL && len == 0);
            return FALSE;
          }
        FUZZ_CHECK (len <= (gsize) limit * 64);
        gossip_writer_put_blob (w, p, len);
        return TRUE;
      }
    case 7:
    default:
      {
        char *s = (char *) "";

        if (!gossip_reader_get_string (r, (gsize) limit * 8, &s))
          {
            FUZZ_CHECK (s == NULL);
            return FALSE;
          }
        FUZZ_CHECK (strlen (s) <= (gsize) limit * 8);
        FUZZ_CHECK (g_utf8_validate (s, -1, NULL));
        gossip_writer_put_string (w, s);
        g_free (s);
        return TRUE;
      }
    }
}

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  GossipReader r;
  GossipWriter w;
  gsize good = 0;

  fuzz_setup ();

  gossip_reader_init (&r, data, size);
  gossip_writer_init (&w);

  while (gossip_reader_remaining (&r) > 0)
    {
      guint8 op = 0;

      FUZZ_CHECK (gossip_reader_get_u8 (&r, &op));
      gossip_writer_put_u8 (&w, op);
      if (!reader_field (&r, &w, op))
        break;
      good = r.pos;
      FUZZ_CHECK (gossip_writer_len (&w) == good);
    }

  FUZZ_CHECK (r.pos <= r.len);
  if (r.failed)
    {
      guint32 v = 1;

      FUZZ_CHECK (gossip_reader_remaining (&r) == 0);
      FUZZ_CHECK (!gossip_reader_get_u32 (&r, &v) && v == 0);
      FUZZ_CHECK (!gossip_reader_get_raw (&r, 0, NULL));
    }
  else
    {
      FUZZ_CHECK (good == size);
    }

  FUZZ_CHECK (good == 0 || memcmp (w.data->data, data, good) == 0);
  gossip_writer_clear (&w);
  return 0;
}
