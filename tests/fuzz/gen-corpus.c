/* gen-corpus.c — writes the seed corpora of the fuzz targets.
 *
 * Usage: gen-corpus DIR   (creates DIR/frame, DIR/payload, DIR/snappy, DIR/reader)
 *
 * Encrypted seeds use a random nonce, so every run produces different
 * bytes; the committed corpus is one such run. run-fuzz.sh -g rebuilds it.
 *
 * SPDX-License-Identifier: MIT
 */
#include "config.h"  /* gossip-private.h needs GETTEXT_PACKAGE */

#include <errno.h>
#include <math.h>
#include <string.h>

#include <glib/gstdio.h>

#include "fuzz-common.h"
#include "gossip-buffer-private.h"
#include "gossip-compress-private.h"
#include "gossip-crypto-private.h"
#include "gossip-frame-private.h"
#include "gossip-payload-private.h"
#include "gossip-private.h"

static const char *out_dir;

static void
write_seed (const char *target, const char *name, const void *data, gsize len)
{
  g_autofree char *dir = g_build_filename (out_dir, target, NULL);
  g_autofree char *path = g_build_filename (dir, name, NULL);
  g_autoptr(GError) error = NULL;

  if (g_mkdir_with_parents (dir, 0755) != 0)
    g_error ("cannot create %s: %s", dir, g_strerror (errno));
  if (!g_file_set_contents (path, data != NULL ? data : "", (gssize) len, &error))
    g_error ("%s", error->message);
}

static void
write_bytes (const char *target, const char *name, GBytes *bytes)
{
  write_seed (target, name, g_bytes_get_data (bytes, NULL), g_bytes_get_size (bytes));
}

static GBytes *
text (gsize len)
{
  static const char words[] = "alive suspect dead leave join gossip ";
  GString *s = g_string_new (NULL);

  while (s->len < len)
    g_string_append_len (s, words, (gssize) MIN (sizeof words - 1, len - s->len));
  return g_string_free_to_bytes (s);
}

static gint64
seed_wall (gpointer data)
{
  return 1700000000000;
}

static void
gen_frames (void)
{
  g_autoptr(GossipKeyring) ring = gossip_keyring_new (FUZZ_KEY, FUZZ_KEY_LEN, NULL);
  struct { const char *name; GossipKeyring *ring; gboolean compress; } kinds[] = {
    { "plain", NULL, FALSE }, { "compressed", NULL, TRUE },
    { "encrypted", ring, FALSE }, { "encrypted-compressed", ring, TRUE },
  };
  const gsize sizes[] = { 0, 5, 64, 300, 2000 };
  static const guint8 truncated[] = { GOSSIP_FRAME_VERSION };
  static const guint8 bad_version[] = { 1, 0, 'x' };
  static const guint8 bad_flags[] = { GOSSIP_FRAME_VERSION, 0x80, 'x' };

  for (gsize k = 0; k < G_N_ELEMENTS (kinds); k++)
    {
      g_autoptr(GossipCodec) codec = gossip_codec_new (kinds[k].ring, kinds[k].compress, 32);

      for (gsize s = 0; s < G_N_ELEMENTS (sizes); s++)
        {
          g_autoptr(GBytes) body = text (sizes[s]);
          g_autoptr(GBytes) frame = gossip_codec_seal (codec, g_bytes_get_data (body, NULL),
                                                       sizes[s], NULL);
          g_autofree char *name = g_strdup_printf ("%s-%" G_GSIZE_FORMAT, kinds[k].name, sizes[s]);

          write_bytes ("frame", name, frame);
        }
    }

  /* Signed frames with a sender block, without their MAC: fuzz-frame
   * appends a valid one to inputs flagged SIGNED. */
  for (gsize s = 0; s < G_N_ELEMENTS (sizes); s++)
    {
      g_autoptr(GossipCodec) codec = gossip_codec_new (NULL, s % 2 == 0, 32);
      g_autoptr(GBytes) body = text (sizes[s]);
      g_autoptr(GBytes) frame = NULL;
      g_autofree char *name = g_strdup_printf ("signed-%" G_GSIZE_FORMAT, sizes[s]);
      gsize len;
      const guint8 *data;

      g_assert_true (gossip_codec_set_token (codec, "fuzzing token", NULL));
      gossip_codec_set_sender (codec, (const guint8 *) "0123456789abcdef", 7, seed_wall, NULL);
      frame = gossip_codec_seal (codec, g_bytes_get_data (body, NULL), sizes[s], NULL);
      data = g_bytes_get_data (frame, &len);
      write_seed ("frame", name, data, len - GOSSIP_MAC_SIZE);
    }

  write_seed ("frame", "truncated", truncated, sizeof truncated);
  write_seed ("frame", "bad-version", bad_version, sizeof bad_version);
  write_seed ("frame", "bad-flags", bad_flags, sizeof bad_flags);
}

static void
gen_payloads (void)
{
  const char *const names[] = {
    "none", "true", "false", "zero", "minus-one", "int-max", "int-min", "double-2", "double-neg-zero",
    "double-nan", "double-inf", "double-tiny", "string-empty", "string-unicode", "bytes-empty",
    "bytes", "list-empty", "dict-empty", "list-mixed", "dict-nested", "deep-list", "deep-dict",
  };
  GVariant *values[G_N_ELEMENTS (names)];
  GVariant *items[5];
  GVariantBuilder b, inner;
  guint i = 0;

  values[i++] = gossip_payload_none ();
  values[i++] = g_variant_new_boolean (TRUE);
  values[i++] = g_variant_new_boolean (FALSE);
  values[i++] = g_variant_new_int64 (0);
  values[i++] = g_variant_new_int64 (-1);
  values[i++] = g_variant_new_int64 (G_MAXINT64);
  values[i++] = g_variant_new_int64 (G_MININT64);
  values[i++] = g_variant_new_double (2.0);
  values[i++] = g_variant_new_double (-0.0);
  values[i++] = g_variant_new_double (NAN);
  values[i++] = g_variant_new_double (INFINITY);
  values[i++] = g_variant_new_double (4.9e-324);
  values[i++] = g_variant_new_string ("");
  values[i++] = g_variant_new_string ("h\xc3\xa9llo \xf0\x9f\x98\x80");
  values[i++] = gossip_payload_new_bytes (NULL, 0);
  values[i++] = gossip_payload_new_bytes ((const guint8 *) "\0\xff\x01z", 4);
  values[i++] = gossip_payload_new_list (NULL, 0);
  g_variant_builder_init (&b, G_VARIANT_TYPE_VARDICT);
  values[i++] = g_variant_builder_end (&b);

  items[0] = g_variant_new_int64 (1);
  items[1] = g_variant_new_double (1.5);
  items[2] = g_variant_new_string ("x");
  items[3] = gossip_payload_none ();
  items[4] = gossip_payload_new_bytes ((const guint8 *) "ab", 2);
  values[i++] = gossip_payload_new_list (items, 5);

  g_variant_builder_init (&inner, G_VARIANT_TYPE_VARDICT);
  g_variant_builder_add (&inner, "{sv}", "flag", g_variant_new_boolean (TRUE));
  g_variant_builder_add (&inner, "{sv}", "list", gossip_payload_new_list (NULL, 0));
  g_variant_builder_init (&b, G_VARIANT_TYPE_VARDICT);
  g_variant_builder_add (&b, "{sv}", "a", g_variant_builder_end (&inner));
  g_variant_builder_add (&b, "{sv}", "b", g_variant_new_int64 (-5));
  values[i++] = g_variant_builder_end (&b);

  values[i] = g_variant_new_int64 (7);
  for (guint d = 0; d < 63; d++)
    values[i] = gossip_payload_new_list (&values[i], 1);
  i++;

  values[i] = g_variant_new_int64 (7);
  for (guint d = 0; d < 42; d++)
    {
      g_variant_builder_init (&b, G_VARIANT_TYPE_VARDICT);
      g_variant_builder_add (&b, "{sv}", "k", values[i]);
      values[i] = g_variant_builder_end (&b);
    }
  i++;

  g_assert (i == G_N_ELEMENTS (names));
  for (i = 0; i < G_N_ELEMENTS (names); i++)
    {
      g_autoptr(GError) error = NULL;
      g_autoptr(GBytes) bytes = gossip_payload_encode (values[i], G_MAXSIZE, &error);

      g_assert_no_error (error);
      write_bytes ("payload", names[i], bytes);
    }
}

static void
gen_snappy (void)
{
  const gsize sizes[] = { 100, 300, 5000, 70000 };
  static const guint8 empty[] = { 0 };
  static const guint8 literal[] = { 3, 0x08, 'a', 'b', 'c' };
  static const guint8 bomb[] = { 0x80, 0x80, 0x80, 0x80, 0x04, 0x00, 'x' };

  for (gsize s = 0; s < G_N_ELEMENTS (sizes); s++)
    {
      g_autoptr(GBytes) body = text (sizes[s]);
      g_autoptr(GBytes) packed = gossip_snappy_compress (g_bytes_get_data (body, NULL), sizes[s]);
      g_autofree char *name = g_strdup_printf ("text-%" G_GSIZE_FORMAT, sizes[s]);

      g_assert (packed != NULL);
      write_bytes ("snappy", name, packed);
    }
  write_seed ("snappy", "empty", empty, sizeof empty);
  write_seed ("snappy", "literal", literal, sizeof literal);
  write_seed ("snappy", "bomb", bomb, sizeof bomb);
}

static void
gen_reader (void)
{
  GossipWriter w;
  g_autoptr(GBytes) all = NULL;
  g_autoptr(GBytes) strings = NULL;

  /* One field of each kind; see fuzz-reader.c for the opcodes. */
  gossip_writer_init (&w);
  gossip_writer_put_u8 (&w, 0);
  gossip_writer_put_u8 (&w, 42);
  gossip_writer_put_u8 (&w, 1);
  gossip_writer_put_u16 (&w, 8000);
  gossip_writer_put_u8 (&w, 2);
  gossip_writer_put_u32 (&w, 0xdeadbeef);
  gossip_writer_put_u8 (&w, 3);
  gossip_writer_put_u64 (&w, G_GUINT64_CONSTANT (1700000000000));
  gossip_writer_put_u8 (&w, 4 | (5 << 3));
  gossip_writer_put_raw (&w, "abcde", 5);
  gossip_writer_put_u8 (&w, 5 | (1 << 3));
  gossip_writer_put_blob (&w, "metadata", 8);
  gossip_writer_put_u8 (&w, 7 | (4 << 3));
  gossip_writer_put_string (&w, "node-a");
  all = gossip_writer_steal_bytes (&w);
  write_bytes ("reader", "all-fields", all);

  gossip_writer_init (&w);
  gossip_writer_put_u8 (&w, 7 | (31 << 3));
  gossip_writer_put_string (&w, "h\xc3\xa9llo \xf0\x9f\x98\x80");
  gossip_writer_put_u8 (&w, 7 | (1 << 3));
  gossip_writer_put_string (&w, "");
  gossip_writer_put_u8 (&w, 6 | (31 << 3));
  gossip_writer_put_blob (&w, NULL, 0);
  strings = gossip_writer_steal_bytes (&w);
  write_bytes ("reader", "strings", strings);
}

/* State pages: empty, one record, several with metadata and tags, MORE. */
static void
gen_state (void)
{
  static const guint8 zero[16] = { 0 };
  const guint counts[] = { 0, 1, 3 };

  for (gsize c = 0; c < G_N_ELEMENTS (counts); c++)
    for (guint more = 0; more < 2; more++)
      {
        GossipWriter w;
        g_autoptr(GBytes) page = NULL;
        g_autofree char *name = g_strdup_printf ("page-%u%s", counts[c], more ? "-more" : "");
        g_autoptr(GHashTable) md = _gossip_metadata_new ();
        const char *tag_list[] = { "web", "db", NULL };
        GossipStrv *tags = _gossip_strv_new (tag_list);

        if (counts[c] == 0 && more)
          {
            _gossip_strv_unref (tags);
            continue;
          }
        g_hash_table_insert (md, g_strdup ("zone"), g_strdup ("eu"));
        gossip_writer_init (&w);
        gossip_writer_put_u8 (&w, more ? GOSSIP_STATE_PAGE_MORE : 0);
        gossip_writer_put_raw (&w, zero, 16);
        gossip_writer_put_u32 (&w, counts[c]);
        for (guint i = 0; i < counts[c]; i++)
          {
            GossipUpdate u = { 0 };

            u.kind = GOSSIP_UPDATE_ALIVE;
            u.id[6] = 0x70;
            u.id[15] = (guint8) (i + 1);
            u.incarnation = i;
            u.address = (char *) "10.0.0.1:7946";
            u.meta_version = 3;
            u.metadata = i % 2 ? md : NULL;
            u.tags = i % 2 ? tags : NULL;
            u.app_version = (char *) "1.0";
            _gossip_update_write (&w, &u);
            gossip_writer_put_u8 (&w, (guint8) (i % 4));
          }
        page = gossip_writer_steal_bytes (&w);
        write_bytes ("state", name, page);
        _gossip_strv_unref (tags);
      }
}

int
main (int argc, char **argv)
{
  if (argc != 2)
    {
      g_printerr ("usage: %s DIR\n", argv[0]);
      return 2;
    }
  out_dir = argv[1];

  gen_frames ();
  gen_payloads ();
  gen_snappy ();
  gen_reader ();
  gen_state ();
  return 0;
}
