/* test-codec.c — buffer, crypto, compression, frame and payload codecs.
 *
 * SPDX-License-Identifier: MIT
 */
#include "config.h"

#include <math.h>
#include <string.h>
#include <sys/resource.h>

#include <glib.h>
#include <snappy-c.h>

#include "gossip-buffer-private.h"
#include "gossip-compress-private.h"
#include "gossip-crypto-private.h"
#include "gossip-error.h"
#include "gossip-frame-private.h"
#include "gossip-payload-private.h"

#if defined(__SANITIZE_ADDRESS__)
# define UNDER_ASAN 1
#elif defined(__has_feature)
# if __has_feature(address_sanitizer)
#  define UNDER_ASAN 1
# endif
#endif

static const guint8 key16[16] = "0123456789abcdef";
static const guint8 key24[24] = "0123456789abcdefghijklmn";
static const guint8 key32[32] = "0123456789abcdefghijklmnopqrstuv";
static const guint8 other16[16] = "fedcba9876543210";

static GBytes *
make_text (gsize len)
{
  static const char words[] = "gossip membership failure detection broadcast ";
  guint8 *data = g_malloc (len + 1);

  for (gsize i = 0; i < len; i++)
    data[i] = (guint8) words[i % (sizeof words - 1)];
  return g_bytes_new_take (data, len);
}

static GBytes *
make_random (gsize len, guint32 seed)
{
  g_autoptr(GRand) rand = g_rand_new_with_seed (seed);
  guint8 *data = g_malloc (len + 1);

  for (gsize i = 0; i < len; i++)
    data[i] = (guint8) g_rand_int_range (rand, 0, 256);
  return g_bytes_new_take (data, len);
}

static void
assert_bytes_eq (GBytes *bytes, const void *data, gsize len)
{
  gsize got_len = 0;
  const guint8 *got = g_bytes_get_data (bytes, &got_len);

  g_assert_cmpmem (got, got_len, data, len);
}

/* ------------------------------------------------------------------------ */
/* Buffer                                                                   */
/* ------------------------------------------------------------------------ */

static void
test_buffer_round_trip (void)
{
  GossipWriter w;
  GossipReader r;
  g_autoptr(GBytes) bytes = NULL;
  const guint8 *data;
  gsize len;
  guint8 u8;
  guint16 u16;
  guint32 u32;
  guint64 u64;
  const guint8 *raw;
  gsize raw_len;
  g_autofree char *s1 = NULL;
  g_autofree char *s2 = NULL;
  g_autofree char *s3 = NULL;
  static const guint8 expected_head[] = {
    0xab,
    0x12, 0x34,
    0xde, 0xad, 0xbe, 0xef,
    0x01, 0x23, 0x45, 0x67, 0x89, 0xab, 0xcd, 0xef,
  };

  gossip_writer_init (&w);
  gossip_writer_put_u8 (&w, 0xab);
  gossip_writer_put_u16 (&w, 0x1234);
  gossip_writer_put_u32 (&w, 0xdeadbeef);
  gossip_writer_put_u64 (&w, G_GUINT64_CONSTANT (0x0123456789abcdef));
  gossip_writer_put_raw (&w, "xyz", 3);
  gossip_writer_put_blob (&w, "blob\0data", 9);
  gossip_writer_put_blob (&w, NULL, 0);
  gossip_writer_put_string (&w, "héllo");
  gossip_writer_put_string (&w, NULL);
  gossip_writer_put_string (&w, "");
  gossip_writer_put_u16 (&w, 0);
  gossip_writer_patch_u16 (&w, gossip_writer_len (&w) - 2, 0xbeef);
  g_assert_cmpuint (gossip_writer_len (&w), ==, 1 + 2 + 4 + 8 + 3 + 13 + 4 + 8 + 2 + 2 + 2);
  bytes = gossip_writer_steal_bytes (&w);
  g_assert_null (w.data);
  gossip_writer_clear (&w);  /* harmless after steal */

  data = g_bytes_get_data (bytes, &len);
  g_assert_cmpmem (data, sizeof expected_head, expected_head, sizeof expected_head);

  gossip_reader_init (&r, data, len);
  g_assert_true (gossip_reader_get_u8 (&r, &u8));
  g_assert_cmpuint (u8, ==, 0xab);
  g_assert_true (gossip_reader_get_u16 (&r, &u16));
  g_assert_cmpuint (u16, ==, 0x1234);
  g_assert_true (gossip_reader_get_u32 (&r, &u32));
  g_assert_cmpuint (u32, ==, 0xdeadbeef);
  g_assert_true (gossip_reader_get_u64 (&r, &u64));
  g_assert_cmpuint (u64, ==, G_GUINT64_CONSTANT (0x0123456789abcdef));
  g_assert_true (gossip_reader_get_raw (&r, 3, &raw));
  g_assert_cmpmem (raw, 3, "xyz", 3);
  g_assert_true (gossip_reader_get_blob (&r, 9, &raw, &raw_len));
  g_assert_cmpmem (raw, raw_len, "blob\0data", 9);
  g_assert_true (gossip_reader_get_blob (&r, 0, &raw, &raw_len));
  g_assert_cmpuint (raw_len, ==, 0);
  g_assert_true (gossip_reader_get_string (&r, 100, &s1));
  g_assert_cmpstr (s1, ==, "héllo");
  g_assert_true (gossip_reader_get_string (&r, 0, &s2));
  g_assert_cmpstr (s2, ==, "");
  g_assert_true (gossip_reader_get_string (&r, 0, &s3));
  g_assert_cmpstr (s3, ==, "");
  g_assert_true (gossip_reader_get_u16 (&r, &u16));
  g_assert_cmpuint (u16, ==, 0xbeef);
  g_assert_cmpuint (gossip_reader_remaining (&r), ==, 0);
  g_assert_false (r.failed);

  /* Reading past the end fails and sticks. */
  g_assert_false (gossip_reader_get_u8 (&r, &u8));
  g_assert_true (r.failed);
  g_assert_false (gossip_reader_get_raw (&r, 0, &raw));
  g_assert_null (raw);
}

/* One getter under test: reads from @r, reports whether every output is
 * zero/NULL (as a failed read must leave it). */
typedef struct {
  const char *name;
  const guint8 *encoding;
  gsize len;
  gboolean (*read) (GossipReader *r, gboolean *outputs_zero);
} Getter;

static gboolean
read_u8 (GossipReader *r, gboolean *zero)
{
  guint8 v = 0xff;
  gboolean ok = gossip_reader_get_u8 (r, &v);

  *zero = v == 0;
  return ok;
}

static gboolean
read_u16 (GossipReader *r, gboolean *zero)
{
  guint16 v = 0xffff;
  gboolean ok = gossip_reader_get_u16 (r, &v);

  *zero = v == 0;
  return ok;
}

static gboolean
read_u32 (GossipReader *r, gboolean *zero)
{
  guint32 v = 0xffffffff;
  gboolean ok = gossip_reader_get_u32 (r, &v);

  *zero = v == 0;
  return ok;
}

static gboolean
read_u64 (GossipReader *r, gboolean *zero)
{
  guint64 v = G_MAXUINT64;
  gboolean ok = gossip_reader_get_u64 (r, &v);

  *zero = v == 0;
  return ok;
}

static gboolean
read_raw5 (GossipReader *r, gboolean *zero)
{
  const guint8 *p = (const guint8 *) "x";
  gboolean ok = gossip_reader_get_raw (r, 5, &p);

  *zero = p == NULL;
  return ok;
}

static gboolean
read_blob (GossipReader *r, gboolean *zero)
{
  const guint8 *p = (const guint8 *) "x";
  gsize len = 99;
  gboolean ok = gossip_reader_get_blob (r, 16, &p, &len);

  *zero = p == NULL && len == 0;
  return ok;
}

static gboolean
read_string (GossipReader *r, gboolean *zero)
{
  char *s = (char *) "x";
  gboolean ok = gossip_reader_get_string (r, 16, &s);

  *zero = s == NULL;
  if (ok)
    g_free (s);
  return ok;
}

static void
test_buffer_truncation (void)
{
  static const guint8 enc_u8[] = { 7 };
  static const guint8 enc_u16[] = { 1, 2 };
  static const guint8 enc_u32[] = { 1, 2, 3, 4 };
  static const guint8 enc_u64[] = { 1, 2, 3, 4, 5, 6, 7, 8 };
  static const guint8 enc_raw[] = { 'a', 'b', 'c', 'd', 'e' };
  static const guint8 enc_blob[] = { 0, 0, 0, 3, 'a', 'b', 'c' };
  static const guint8 enc_string[] = { 0, 3, 'a', 'b', 'c' };
  const Getter getters[] = {
    { "u8", enc_u8, sizeof enc_u8, read_u8 },
    { "u16", enc_u16, sizeof enc_u16, read_u16 },
    { "u32", enc_u32, sizeof enc_u32, read_u32 },
    { "u64", enc_u64, sizeof enc_u64, read_u64 },
    { "raw", enc_raw, sizeof enc_raw, read_raw5 },
    { "blob", enc_blob, sizeof enc_blob, read_blob },
    { "string", enc_string, sizeof enc_string, read_string },
  };

  for (gsize g = 0; g < G_N_ELEMENTS (getters); g++)
    {
      const Getter *getter = &getters[g];

      for (gsize cut = 0; cut <= getter->len; cut++)
        {
          /* A heap copy of exactly @cut bytes, so that ASan/valgrind see
           * any read past it. */
          g_autofree guint8 *buf = g_memdup2 (getter->encoding, cut);
          GossipReader r;
          gboolean zero = FALSE;
          gboolean ok;

          g_test_message ("%s truncated to %" G_GSIZE_FORMAT, getter->name, cut);
          gossip_reader_init (&r, buf, cut);
          ok = getter->read (&r, &zero);
          if (cut < getter->len)
            {
              g_assert_false (ok);
              g_assert_true (zero);
              g_assert_true (r.failed);
              g_assert_cmpuint (gossip_reader_remaining (&r), ==, 0);
              g_assert_cmpuint (r.pos, <=, r.len);
              /* Sticky: even a read that would fit fails now. */
              g_assert_false (gossip_reader_get_raw (&r, 0, NULL));
            }
          else
            {
              g_assert_true (ok);
              g_assert_false (zero);
              g_assert_false (r.failed);
              g_assert_cmpuint (gossip_reader_remaining (&r), ==, 0);
            }

          /* Every getter also fails on an already-failed reader, whatever
           * is left. */
          gossip_reader_init (&r, getter->encoding, getter->len);
          r.failed = TRUE;
          g_assert_false (getter->read (&r, &zero));
          g_assert_true (zero);
        }
    }
}

static void
test_buffer_message_truncation (void)
{
  GossipWriter w;
  g_autoptr(GBytes) bytes = NULL;
  const guint8 *data;
  gsize len;

  gossip_writer_init (&w);
  gossip_writer_put_u8 (&w, 1);
  gossip_writer_put_string (&w, "node-a");
  gossip_writer_put_u64 (&w, 42);
  gossip_writer_put_blob (&w, "meta", 4);
  gossip_writer_put_u16 (&w, 7);
  bytes = gossip_writer_steal_bytes (&w);
  data = g_bytes_get_data (bytes, &len);

  for (gsize cut = 0; cut <= len; cut++)
    {
      g_autofree guint8 *buf = g_memdup2 (data, cut);
      g_autofree char *name = NULL;
      GossipReader r;
      guint8 kind;
      guint64 inc;
      const guint8 *meta;
      gsize meta_len;
      guint16 port;

      gossip_reader_init (&r, buf, cut);
      gossip_reader_get_u8 (&r, &kind);
      gossip_reader_get_string (&r, 64, &name);
      gossip_reader_get_u64 (&r, &inc);
      gossip_reader_get_blob (&r, 64, &meta, &meta_len);
      gossip_reader_get_u16 (&r, &port);
      /* A decoder may check once at the end. */
      g_assert_cmpint (r.failed, ==, cut < len);
      if (!r.failed)
        {
          g_assert_cmpstr (name, ==, "node-a");
          g_assert_cmpuint (inc, ==, 42);
          g_assert_cmpmem (meta, meta_len, "meta", 4);
          g_assert_cmpuint (port, ==, 7);
        }
      else
        {
          g_assert_cmpuint (port, ==, 0);
        }
    }
}

static void
test_buffer_limits (void)
{
  static const guint8 huge_blob[] = { 0xff, 0xff, 0xff, 0xff, 'a' };
  static const guint8 long_blob[] = { 0, 0, 0, 5, 'a', 'b', 'c', 'd', 'e' };
  static const guint8 long_string[] = { 0, 5, 'a', 'b', 'c', 'd', 'e' };
  static const guint8 bad_utf8[] = { 0, 2, 0xc3, 0x28 };
  static const guint8 nul_string[] = { 0, 3, 'a', 0, 'b' };
  static const guint8 overlong[] = { 0, 2, 0xc0, 0xaf };
  static const guint8 surrogate[] = { 0, 3, 0xed, 0xa0, 0x80 };
  static const guint8 astral[] = { 0, 4, 0xf0, 0x9f, 0x98, 0x80 };
  GossipReader r;
  const guint8 *p;
  gsize n;
  char *s = NULL;

  /* A declared length far beyond the data is refused without reading. */
  gossip_reader_init (&r, huge_blob, sizeof huge_blob);
  g_assert_false (gossip_reader_get_blob (&r, G_MAXSIZE, &p, &n));
  g_assert_true (r.failed);

  /* Lengths above the caller's limit fail even when the bytes are there. */
  gossip_reader_init (&r, long_blob, sizeof long_blob);
  g_assert_false (gossip_reader_get_blob (&r, 4, &p, &n));
  g_assert_null (p);
  g_assert_cmpuint (n, ==, 0);
  g_assert_true (r.failed);
  gossip_reader_init (&r, long_blob, sizeof long_blob);
  g_assert_true (gossip_reader_get_blob (&r, 5, &p, &n));

  gossip_reader_init (&r, long_string, sizeof long_string);
  g_assert_false (gossip_reader_get_string (&r, 4, &s));
  g_assert_null (s);
  g_assert_true (r.failed);

  /* Strings must be valid UTF-8 without NULs. */
  gossip_reader_init (&r, bad_utf8, sizeof bad_utf8);
  g_assert_false (gossip_reader_get_string (&r, 16, &s));
  g_assert_null (s);
  gossip_reader_init (&r, nul_string, sizeof nul_string);
  g_assert_false (gossip_reader_get_string (&r, 16, &s));
  g_assert_null (s);
  gossip_reader_init (&r, overlong, sizeof overlong);
  g_assert_false (gossip_reader_get_string (&r, 16, &s));
  gossip_reader_init (&r, surrogate, sizeof surrogate);
  g_assert_false (gossip_reader_get_string (&r, 16, &s));
  gossip_reader_init (&r, astral, sizeof astral);
  g_assert_true (gossip_reader_get_string (&r, 16, &s));
  g_assert_cmpstr (s, ==, "\xf0\x9f\x98\x80");
  g_free (s);

  /* An empty reader, even on NULL. */
  gossip_reader_init (&r, NULL, 0);
  g_assert_true (gossip_reader_get_raw (&r, 0, &p));
  g_assert_nonnull (p);
  g_assert_false (gossip_reader_get_u8 (&r, NULL));
}

static void
test_buffer_writer_oversized (void)
{
  GossipWriter w;
  g_autofree char *big = g_malloc (G_MAXUINT16 + 2);
  GossipReader r;
  g_autofree char *s = NULL;
  guint8 tail;

  memset (big, 'a', G_MAXUINT16 + 1);
  big[G_MAXUINT16 + 1] = '\0';

  gossip_writer_init (&w);
  g_test_expect_message ("Gossip", G_LOG_LEVEL_CRITICAL, "*does not fit a u16 length*");
  gossip_writer_put_string (&w, big);
  g_test_assert_expected_messages ();
  gossip_writer_put_u8 (&w, 9);

  /* The stream stays parseable: an empty string, then the next field. */
  gossip_reader_init (&r, w.data->data, w.data->len);
  g_assert_true (gossip_reader_get_string (&r, 16, &s));
  g_assert_cmpstr (s, ==, "");
  g_assert_true (gossip_reader_get_u8 (&r, &tail));
  g_assert_cmpuint (tail, ==, 9);
  gossip_writer_clear (&w);

  /* Exactly 65535 bytes is fine. */
  big[G_MAXUINT16] = '\0';
  gossip_writer_init (&w);
  gossip_writer_put_string (&w, big);
  g_assert_cmpuint (gossip_writer_len (&w), ==, 2 + G_MAXUINT16);
  gossip_writer_clear (&w);
}

/* ------------------------------------------------------------------------ */
/* Crypto                                                                   */
/* ------------------------------------------------------------------------ */

static GByteArray *
seal (GossipKeyring *ring, const char *aad, const void *plain, gsize len)
{
  g_autoptr(GError) error = NULL;
  GByteArray *out = g_byte_array_new ();

  g_assert_true (gossip_keyring_seal (ring, (const guint8 *) aad, strlen (aad),
                                      plain, len, out, &error));
  g_assert_no_error (error);
  return out;
}

static void
test_crypto_round_trip (void)
{
  const struct { const guint8 *key; gsize len; } keys[] = {
    { key16, sizeof key16 }, { key24, sizeof key24 }, { key32, sizeof key32 },
  };
  const gsize sizes[] = { 0, 1, 15, 16, 17, 1000 };

  for (gsize k = 0; k < G_N_ELEMENTS (keys); k++)
    {
      g_autoptr(GError) error = NULL;
      g_autoptr(GossipKeyring) ring = gossip_keyring_new (keys[k].key, keys[k].len, &error);

      g_assert_no_error (error);
      g_assert_nonnull (ring);

      for (gsize s = 0; s < G_N_ELEMENTS (sizes); s++)
        {
          g_autoptr(GBytes) plain = make_text (sizes[s]);
          gsize len = g_bytes_get_size (plain);
          g_autoptr(GByteArray) a = seal (ring, "hdr", g_bytes_get_data (plain, NULL), len);
          g_autoptr(GByteArray) b = seal (ring, "hdr", g_bytes_get_data (plain, NULL), len);
          g_autoptr(GBytes) opened = NULL;

          g_assert_cmpuint (a->len, ==, GOSSIP_GCM_NONCE_SIZE + len + GOSSIP_GCM_TAG_SIZE);
          /* A fresh nonce per seal. */
          g_assert_true (memcmp (a->data, b->data, GOSSIP_GCM_NONCE_SIZE) != 0);
          /* Encrypted: a 1-byte ciphertext equals its plaintext once in 256
           * seals, 16 bytes never in practice. */
          if (len >= 16)
            g_assert_true (memcmp (a->data + GOSSIP_GCM_NONCE_SIZE,
                                   g_bytes_get_data (plain, NULL), len) != 0);

          opened = gossip_keyring_open (ring, (const guint8 *) "hdr", 3, a->data, a->len, &error);
          g_assert_no_error (error);
          assert_bytes_eq (opened, g_bytes_get_data (plain, NULL), len);
        }
    }
}

static void
test_crypto_seal_appends (void)
{
  g_autoptr(GossipKeyring) ring = gossip_keyring_new (key16, 16, NULL);
  g_autoptr(GByteArray) out = g_byte_array_new ();
  g_autoptr(GBytes) opened = NULL;
  g_autoptr(GError) error = NULL;

  g_byte_array_append (out, (const guint8 *) "AB", 2);
  g_assert_true (gossip_keyring_seal (ring, out->data, 2, (const guint8 *) "body", 4, out, &error));
  g_assert_no_error (error);
  g_assert_cmpuint (out->len, ==, 2 + 12 + 4 + 16);
  g_assert_cmpmem (out->data, 2, "AB", 2);
  opened = gossip_keyring_open (ring, out->data, 2, out->data + 2, out->len - 2, &error);
  g_assert_no_error (error);
  assert_bytes_eq (opened, "body", 4);
}

static void
test_crypto_wrong_key (void)
{
  g_autoptr(GossipKeyring) a = gossip_keyring_new (key16, 16, NULL);
  g_autoptr(GossipKeyring) b = gossip_keyring_new (other16, 16, NULL);
  /* Same leading bytes, different AES variant. */
  g_autoptr(GossipKeyring) c = gossip_keyring_new (key32, 32, NULL);
  g_autoptr(GByteArray) sealed = seal (a, "", "secret", 6);
  g_autoptr(GError) error = NULL;
  GBytes *opened;

  opened = gossip_keyring_open (b, NULL, 0, sealed->data, sealed->len, &error);
  g_assert_null (opened);
  g_assert_error (error, GOSSIP_WIRE_ERROR, GOSSIP_WIRE_ERROR_DECRYPT);
  g_clear_error (&error);

  opened = gossip_keyring_open (c, NULL, 0, sealed->data, sealed->len, &error);
  g_assert_null (opened);
  g_assert_error (error, GOSSIP_WIRE_ERROR, GOSSIP_WIRE_ERROR_DECRYPT);
}

static void
test_crypto_secondary (void)
{
  g_autoptr(GossipKeyring) old = gossip_keyring_new (key16, 16, NULL);
  g_autoptr(GossipKeyring) rotated = gossip_keyring_new (key32, 32, NULL);
  g_autoptr(GByteArray) from_old = seal (old, "aad", "hello", 5);
  g_autoptr(GByteArray) from_rotated = NULL;
  g_autoptr(GBytes) opened = NULL;
  g_autoptr(GError) error = NULL;

  g_assert_true (gossip_keyring_add_secondary (rotated, key24, 24, &error));
  g_assert_true (gossip_keyring_add_secondary (rotated, key16, 16, &error));
  g_assert_no_error (error);

  /* The rotated ring still reads the old key's messages... */
  opened = gossip_keyring_open (rotated, (const guint8 *) "aad", 3, from_old->data, from_old->len, &error);
  g_assert_no_error (error);
  assert_bytes_eq (opened, "hello", 5);

  /* ...but seals with its primary, which the old ring cannot read. */
  from_rotated = seal (rotated, "aad", "hello", 5);
  g_assert_null (gossip_keyring_open (old, (const guint8 *) "aad", 3,
                                      from_rotated->data, from_rotated->len, &error));
  g_assert_error (error, GOSSIP_WIRE_ERROR, GOSSIP_WIRE_ERROR_DECRYPT);
}

static void
test_crypto_tamper (void)
{
  g_autoptr(GossipKeyring) ring = gossip_keyring_new (key24, 24, NULL);
  g_autoptr(GByteArray) sealed = seal (ring, "header", "the quick brown fox", 19);

  /* Every single bit of nonce, ciphertext and tag is covered. */
  for (guint i = 0; i < sealed->len; i++)
    for (guint bit = 0; bit < 8; bit++)
      {
        g_autoptr(GError) error = NULL;
        g_autoptr(GBytes) opened = NULL;

        sealed->data[i] ^= (guint8) (1u << bit);
        opened = gossip_keyring_open (ring, (const guint8 *) "header", 6,
                                      sealed->data, sealed->len, &error);
        sealed->data[i] ^= (guint8) (1u << bit);
        g_assert_null (opened);
        g_assert_error (error, GOSSIP_WIRE_ERROR, GOSSIP_WIRE_ERROR_DECRYPT);
      }

  /* And the AAD: changed, shortened, extended, dropped. */
  {
    const char *aads[] = { "Header", "heade", "header!", "" };

    for (gsize i = 0; i < G_N_ELEMENTS (aads); i++)
      {
        g_autoptr(GError) error = NULL;

        g_assert_null (gossip_keyring_open (ring, (const guint8 *) aads[i], strlen (aads[i]),
                                            sealed->data, sealed->len, &error));
        g_assert_error (error, GOSSIP_WIRE_ERROR, GOSSIP_WIRE_ERROR_DECRYPT);
      }
  }

  /* Dropping trailing bytes moves the tag: authentication fails. */
  for (guint cut = GOSSIP_GCM_NONCE_SIZE + GOSSIP_GCM_TAG_SIZE; cut < sealed->len; cut++)
    {
      g_autoptr(GError) error = NULL;

      g_assert_null (gossip_keyring_open (ring, (const guint8 *) "header", 6, sealed->data, cut, &error));
      g_assert_error (error, GOSSIP_WIRE_ERROR, GOSSIP_WIRE_ERROR_DECRYPT);
    }
}

static void
test_crypto_truncated (void)
{
  g_autoptr(GossipKeyring) ring = gossip_keyring_new (key16, 16, NULL);
  g_autoptr(GByteArray) sealed = seal (ring, "", "", 0);

  g_assert_cmpuint (sealed->len, ==, GOSSIP_GCM_NONCE_SIZE + GOSSIP_GCM_TAG_SIZE);
  for (guint cut = 0; cut < sealed->len; cut++)
    {
      g_autoptr(GError) error = NULL;
      g_autofree guint8 *buf = g_memdup2 (sealed->data, cut);

      g_assert_null (gossip_keyring_open (ring, NULL, 0, buf, cut, &error));
      g_assert_error (error, GOSSIP_WIRE_ERROR, GOSSIP_WIRE_ERROR_TRUNCATED);
    }

  /* The empty plaintext itself opens. */
  {
    g_autoptr(GError) error = NULL;
    g_autoptr(GBytes) opened = gossip_keyring_open (ring, NULL, 0, sealed->data, sealed->len, &error);

    g_assert_no_error (error);
    g_assert_cmpuint (g_bytes_get_size (opened), ==, 0);
  }
}

static void
test_crypto_key_lengths (void)
{
  const gsize bad[] = { 0, 1, 8, 15, 17, 23, 25, 31, 33, 64 };
  guint8 key[64] = { 0 };

  for (gsize i = 0; i < G_N_ELEMENTS (bad); i++)
    {
      g_autoptr(GError) error = NULL;
      g_autofree char *expected = g_strdup_printf ("encryption_key must be 16, 24 or 32 bytes (got %"
                                                   G_GSIZE_FORMAT ")", bad[i]);
      g_autofree char *expected2 = g_strdup_printf ("secondary_keys must be 16, 24 or 32 bytes (got %"
                                                    G_GSIZE_FORMAT ")", bad[i]);
      g_autoptr(GossipKeyring) ring = gossip_keyring_new (key, bad[i], &error);
      g_autoptr(GossipKeyring) good = gossip_keyring_new (key16, 16, NULL);

      g_assert_null (ring);
      g_assert_error (error, GOSSIP_CONFIG_ERROR, GOSSIP_CONFIG_ERROR_INVALID_VALUE);
      g_assert_cmpstr (error->message, ==, expected);
      g_clear_error (&error);

      g_assert_false (gossip_keyring_add_secondary (good, key, bad[i], &error));
      g_assert_error (error, GOSSIP_CONFIG_ERROR, GOSSIP_CONFIG_ERROR_INVALID_VALUE);
      g_assert_cmpstr (error->message, ==, expected2);
      g_clear_error (&error);

      g_assert_false (gossip_key_check_length (bad[i], "my_key", &error));
      g_assert_error (error, GOSSIP_CONFIG_ERROR, GOSSIP_CONFIG_ERROR_INVALID_VALUE);
      g_assert_true (g_str_has_prefix (error->message, "my_key must be 16, 24 or 32 bytes (got "));
    }

  g_assert_true (gossip_key_check_length (16, "k", NULL));
  g_assert_true (gossip_key_check_length (24, "k", NULL));
  g_assert_true (gossip_key_check_length (32, "k", NULL));
}

typedef struct {
  GossipKeyring *ring;
  GossipCodec   *codec;
  guint          seed;
} ThreadData;

static gpointer
crypto_thread (gpointer user_data)
{
  ThreadData *td = user_data;

  for (guint i = 0; i < 300; i++)
    {
      g_autoptr(GBytes) plain = make_random (td->seed % 97 + i % 50, td->seed + i);
      gsize len = g_bytes_get_size (plain);
      g_autoptr(GByteArray) sealed = seal (td->ring, "t", g_bytes_get_data (plain, NULL), len);
      g_autoptr(GError) error = NULL;
      g_autoptr(GBytes) opened = gossip_keyring_open (td->ring, (const guint8 *) "t", 1,
                                                      sealed->data, sealed->len, &error);
      g_autoptr(GBytes) text = make_text (300 + i);
      g_autoptr(GBytes) frame = NULL;
      g_autoptr(GBytes) body = NULL;

      g_assert_no_error (error);
      g_assert_true (g_bytes_equal (opened, plain));

      frame = gossip_codec_seal (td->codec, g_bytes_get_data (text, NULL), g_bytes_get_size (text), &error);
      g_assert_no_error (error);
      body = gossip_codec_open (td->codec, g_bytes_get_data (frame, NULL), g_bytes_get_size (frame), &error);
      g_assert_no_error (error);
      g_assert_true (g_bytes_equal (body, text));
    }
  return NULL;
}

static void
test_crypto_threads (void)
{
  g_autoptr(GossipKeyring) ring = gossip_keyring_new (key32, 32, NULL);
  g_autoptr(GossipCodec) codec = NULL;
  ThreadData td[4];
  GThread *threads[4];

  g_assert_true (gossip_keyring_add_secondary (ring, key16, 16, NULL));
  codec = gossip_codec_new (ring, TRUE, 64);

  for (guint i = 0; i < G_N_ELEMENTS (threads); i++)
    {
      td[i] = (ThreadData) { ring, codec, i * 1000 + 1 };
      threads[i] = g_thread_new ("codec", crypto_thread, &td[i]);
    }
  for (guint i = 0; i < G_N_ELEMENTS (threads); i++)
    g_thread_join (threads[i]);
}

/* ------------------------------------------------------------------------ */
/* Compression                                                              */
/* ------------------------------------------------------------------------ */

static void
test_snappy_round_trip (void)
{
  const gsize sizes[] = { 100, 1000, 65536, 200000 };

  for (gsize i = 0; i < G_N_ELEMENTS (sizes); i++)
    {
      g_autoptr(GBytes) text = make_text (sizes[i]);
      g_autoptr(GBytes) packed = gossip_snappy_compress (g_bytes_get_data (text, NULL), sizes[i]);
      g_autoptr(GBytes) unpacked = NULL;
      g_autoptr(GError) error = NULL;

      g_assert_nonnull (packed);
      g_assert_cmpuint (g_bytes_get_size (packed), <, sizes[i]);
      unpacked = gossip_snappy_decompress (g_bytes_get_data (packed, NULL), g_bytes_get_size (packed),
                                           sizes[i], &error);
      g_assert_no_error (error);
      g_assert_true (g_bytes_equal (unpacked, text));

      /* One byte under the true size is over the limit. */
      g_clear_pointer (&unpacked, g_bytes_unref);
      unpacked = gossip_snappy_decompress (g_bytes_get_data (packed, NULL), g_bytes_get_size (packed),
                                           sizes[i] - 1, &error);
      g_assert_null (unpacked);
      g_assert_error (error, GOSSIP_WIRE_ERROR, GOSSIP_WIRE_ERROR_TOO_LARGE);
    }
}

static void
test_snappy_incompressible (void)
{
  const gsize sizes[] = { 1, 2, 16, 100, 4096 };

  g_assert_null (gossip_snappy_compress (NULL, 0));
  for (gsize i = 0; i < G_N_ELEMENTS (sizes); i++)
    {
      g_autoptr(GBytes) noise = make_random (sizes[i], (guint32) i);

      g_assert_null (gossip_snappy_compress (g_bytes_get_data (noise, NULL), sizes[i]));
    }
}

static void
test_snappy_corrupt (void)
{
  g_autoptr(GBytes) text = make_text (5000);
  g_autoptr(GBytes) packed = gossip_snappy_compress (g_bytes_get_data (text, NULL), 5000);
  const guint8 *data;
  gsize len;
  static const guint8 no_header[] = { 0x80, 0x80, 0x80, 0x80, 0x80, 0x80 };
  /* Claims 10 bytes, supplies a 3-byte literal. */
  static const guint8 short_literal[] = { 10, 0x08, 'a', 'b', 'c' };
  /* Claims 4 bytes, then a copy reaching before the start of the output. */
  static const guint8 bad_offset[] = { 4, 0x01, 0x10 };
  g_autoptr(GError) error = NULL;

  data = g_bytes_get_data (packed, &len);

  /* Every truncation: the stream then produces fewer bytes than it declares. */
  for (gsize cut = 0; cut < len; cut++)
    {
      g_autofree guint8 *buf = g_memdup2 (data, cut);

      g_assert_null (gossip_snappy_decompress (buf, cut, 1 << 20, &error));
      g_assert_error (error, GOSSIP_WIRE_ERROR, GOSSIP_WIRE_ERROR_DECOMPRESS);
      g_clear_error (&error);
    }

  g_assert_null (gossip_snappy_decompress (no_header, sizeof no_header, 1 << 20, &error));
  g_assert_error (error, GOSSIP_WIRE_ERROR, GOSSIP_WIRE_ERROR_DECOMPRESS);
  g_clear_error (&error);
  g_assert_null (gossip_snappy_decompress (short_literal, sizeof short_literal, 1 << 20, &error));
  g_assert_error (error, GOSSIP_WIRE_ERROR, GOSSIP_WIRE_ERROR_DECOMPRESS);
  g_clear_error (&error);
  g_assert_null (gossip_snappy_decompress (bad_offset, sizeof bad_offset, 1 << 20, &error));
  g_assert_error (error, GOSSIP_WIRE_ERROR, GOSSIP_WIRE_ERROR_DECOMPRESS);
  g_clear_error (&error);

  /* The empty block (declared length 0) is valid. */
  {
    static const guint8 empty[] = { 0 };
    g_autoptr(GBytes) out = gossip_snappy_decompress (empty, 1, 0, &error);

    g_assert_no_error (error);
    g_assert_cmpuint (g_bytes_get_size (out), ==, 0);
  }
}

/* varint(1 GiB) followed by a 1-byte literal. */
static const guint8 bomb[] = { 0x80, 0x80, 0x80, 0x80, 0x04, 0x00, 'x' };

static void
test_snappy_bomb (void)
{
  g_autoptr(GError) error = NULL;
  size_t declared = 0;

  /* The crafted header really does claim 1 GiB. */
  g_assert_cmpint (snappy_uncompressed_length ((const char *) bomb, sizeof bomb, &declared), ==, SNAPPY_OK);
  g_assert_cmpuint (declared, ==, 1u << 30);

  g_assert_null (gossip_snappy_decompress (bomb, sizeof bomb, GOSSIP_MAX_FRAME_SIZE, &error));
  g_assert_error (error, GOSSIP_WIRE_ERROR, GOSSIP_WIRE_ERROR_TOO_LARGE);
}

static void
test_snappy_bomb_no_allocation (void)
{
#ifdef UNDER_ASAN
  g_test_skip ("address space limits do not work under AddressSanitizer");
#else
  if (g_test_subprocess ())
    {
      struct rlimit limit;
      g_autoptr(GError) error = NULL;

      /* With no length limit at all, only validation stands between the
       * bomb and a 1 GiB allocation; cap the address space well below that
       * so that allocating would abort the subprocess. */
      g_assert_cmpint (getrlimit (RLIMIT_AS, &limit), ==, 0);
      limit.rlim_cur = 512u << 20;
      if (setrlimit (RLIMIT_AS, &limit) != 0)
        return;
      g_assert_null (gossip_snappy_decompress (bomb, sizeof bomb, G_MAXSIZE, &error));
      g_assert_error (error, GOSSIP_WIRE_ERROR, GOSSIP_WIRE_ERROR_DECOMPRESS);
      return;
    }

  g_test_trap_subprocess (NULL, 0, G_TEST_SUBPROCESS_DEFAULT);
  g_test_trap_assert_passed ();
#endif
}

/* ------------------------------------------------------------------------ */
/* Frame                                                                    */
/* ------------------------------------------------------------------------ */

static GBytes *
codec_seal (GossipCodec *codec, GBytes *body)
{
  g_autoptr(GError) error = NULL;
  GBytes *frame = gossip_codec_seal (codec, g_bytes_get_data (body, NULL), g_bytes_get_size (body), &error);

  g_assert_no_error (error);
  g_assert_nonnull (frame);
  return frame;
}

static GBytes *
codec_open (GossipCodec *codec, GBytes *frame, GError **error)
{
  return gossip_codec_open (codec, g_bytes_get_data (frame, NULL), g_bytes_get_size (frame), error);
}

static guint8
frame_flags (GBytes *frame)
{
  const guint8 *data = g_bytes_get_data (frame, NULL);

  g_assert_cmpuint (g_bytes_get_size (frame), >=, 2);
  g_assert_cmpuint (data[0], ==, GOSSIP_FRAME_VERSION);
  return data[1];
}

static void
test_frame_combinations (void)
{
  g_autoptr(GossipKeyring) ring = gossip_keyring_new (key16, 16, NULL);
  g_autoptr(GBytes) text = make_text (2000);
  g_autoptr(GBytes) empty = g_bytes_new (NULL, 0);
  struct {
    gboolean encrypted;
    gboolean compressed;
  } cases[] = { { FALSE, FALSE }, { FALSE, TRUE }, { TRUE, FALSE }, { TRUE, TRUE } };

  for (gsize i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      g_autoptr(GossipCodec) codec = gossip_codec_new (cases[i].encrypted ? ring : NULL,
                                                       cases[i].compressed, 256);
      g_autoptr(GBytes) frame = codec_seal (codec, text);
      g_autoptr(GBytes) body = NULL;
      g_autoptr(GBytes) empty_frame = codec_seal (codec, empty);
      g_autoptr(GBytes) empty_body = NULL;
      g_autoptr(GError) error = NULL;
      guint8 expected = (cases[i].encrypted ? GOSSIP_FRAME_FLAG_ENCRYPTED : 0) |
                        (cases[i].compressed ? GOSSIP_FRAME_FLAG_COMPRESSED : 0);

      g_assert_cmpint (gossip_codec_is_encrypted (codec), ==, cases[i].encrypted);
      g_assert_cmpuint (frame_flags (frame), ==, expected);
      if (cases[i].compressed)
        g_assert_cmpuint (g_bytes_get_size (frame), <, 1000);
      body = codec_open (codec, frame, &error);
      g_assert_no_error (error);
      g_assert_true (g_bytes_equal (body, text));

      /* An empty body is a valid frame of every kind (never compressed). */
      g_assert_cmpuint (frame_flags (empty_frame), ==, expected & ~GOSSIP_FRAME_FLAG_COMPRESSED);
      empty_body = codec_open (codec, empty_frame, &error);
      g_assert_no_error (error);
      g_assert_cmpuint (g_bytes_get_size (empty_body), ==, 0);
    }
}

static void
test_frame_compress_threshold (void)
{
  g_autoptr(GossipKeyring) ring = gossip_keyring_new (key32, 32, NULL);

  for (guint keyed = 0; keyed < 2; keyed++)
    {
      g_autoptr(GossipCodec) codec = gossip_codec_new (keyed ? ring : NULL, TRUE, 100);
      const struct { gsize len; gboolean compressed; } cases[] = {
        { 98, FALSE }, { 99, FALSE }, { 100, TRUE }, { 101, TRUE },
      };

      for (gsize i = 0; i < G_N_ELEMENTS (cases); i++)
        {
          g_autoptr(GBytes) text = make_text (cases[i].len);
          g_autoptr(GBytes) frame = codec_seal (codec, text);
          g_autoptr(GBytes) body = NULL;
          g_autoptr(GError) error = NULL;

          g_assert_cmpint ((frame_flags (frame) & GOSSIP_FRAME_FLAG_COMPRESSED) != 0, ==,
                           cases[i].compressed);
          body = codec_open (codec, frame, &error);
          g_assert_no_error (error);
          g_assert_true (g_bytes_equal (body, text));
        }

      /* Above the threshold but incompressible: sent as is. */
      {
        g_autoptr(GBytes) noise = make_random (500, 7);
        g_autoptr(GBytes) frame = codec_seal (codec, noise);
        g_autoptr(GBytes) body = NULL;
        g_autoptr(GError) error = NULL;

        g_assert_cmpuint (frame_flags (frame) & GOSSIP_FRAME_FLAG_COMPRESSED, ==, 0);
        body = codec_open (codec, frame, &error);
        g_assert_no_error (error);
        g_assert_true (g_bytes_equal (body, noise));
      }
    }

  /* A threshold of 0 still never compresses what cannot shrink. */
  {
    g_autoptr(GossipCodec) codec = gossip_codec_new (NULL, TRUE, 0);
    g_autoptr(GBytes) tiny = g_bytes_new ("ab", 2);
    g_autoptr(GBytes) frame = codec_seal (codec, tiny);

    g_assert_cmpuint (frame_flags (frame), ==, 0);
  }
}

static void
test_frame_mixed_compression (void)
{
  g_autoptr(GossipKeyring) ring = gossip_keyring_new (key24, 24, NULL);

  for (guint keyed = 0; keyed < 2; keyed++)
    {
      g_autoptr(GossipCodec) squeezer = gossip_codec_new (keyed ? ring : NULL, TRUE, 32);
      g_autoptr(GossipCodec) plain = gossip_codec_new (keyed ? ring : NULL, FALSE, 32);
      g_autoptr(GBytes) text = make_text (4096);
      g_autoptr(GBytes) from_squeezer = codec_seal (squeezer, text);
      g_autoptr(GBytes) from_plain = codec_seal (plain, text);
      g_autoptr(GBytes) a = NULL;
      g_autoptr(GBytes) b = NULL;
      g_autoptr(GError) error = NULL;

      g_assert_cmpuint (frame_flags (from_squeezer) & GOSSIP_FRAME_FLAG_COMPRESSED, !=, 0);
      g_assert_cmpuint (frame_flags (from_plain) & GOSSIP_FRAME_FLAG_COMPRESSED, ==, 0);
      a = codec_open (plain, from_squeezer, &error);
      g_assert_no_error (error);
      g_assert_true (g_bytes_equal (a, text));
      b = codec_open (squeezer, from_plain, &error);
      g_assert_no_error (error);
      g_assert_true (g_bytes_equal (b, text));
    }
}

static void
test_frame_key_mismatch (void)
{
  g_autoptr(GossipKeyring) ring = gossip_keyring_new (key16, 16, NULL);
  g_autoptr(GossipKeyring) other = gossip_keyring_new (other16, 16, NULL);
  g_autoptr(GossipCodec) keyed = gossip_codec_new (ring, TRUE, 16);
  g_autoptr(GossipCodec) stranger = gossip_codec_new (other, TRUE, 16);
  g_autoptr(GossipCodec) open_codec = gossip_codec_new (NULL, TRUE, 16);
  g_autoptr(GBytes) text = make_text (300);
  g_autoptr(GBytes) plain_frame = codec_seal (open_codec, text);
  g_autoptr(GBytes) keyed_frame = codec_seal (keyed, text);
  g_autoptr(GError) error = NULL;

  /* Plaintext into a keyed node. */
  g_assert_null (codec_open (keyed, plain_frame, &error));
  g_assert_error (error, GOSSIP_WIRE_ERROR, GOSSIP_WIRE_ERROR_NOT_ENCRYPTED);
  g_clear_error (&error);

  /* Encrypted into a node without a key. */
  g_assert_null (codec_open (open_codec, keyed_frame, &error));
  g_assert_error (error, GOSSIP_WIRE_ERROR, GOSSIP_WIRE_ERROR_DECRYPT);
  g_clear_error (&error);

  /* Encrypted with another key. */
  g_assert_null (codec_open (stranger, keyed_frame, &error));
  g_assert_error (error, GOSSIP_WIRE_ERROR, GOSSIP_WIRE_ERROR_DECRYPT);
  g_clear_error (&error);

  /* The header is authenticated: clearing COMPRESSED (or any flag the
   * decoder knows) on an encrypted frame breaks the tag. */
  {
    g_autofree guint8 *copy = g_memdup2 (g_bytes_get_data (keyed_frame, NULL), g_bytes_get_size (keyed_frame));

    g_assert_cmpuint (copy[1], ==, GOSSIP_FRAME_FLAG_ENCRYPTED | GOSSIP_FRAME_FLAG_COMPRESSED);
    copy[1] = GOSSIP_FRAME_FLAG_ENCRYPTED;
    g_assert_null (gossip_codec_open (keyed, copy, g_bytes_get_size (keyed_frame), &error));
    g_assert_error (error, GOSSIP_WIRE_ERROR, GOSSIP_WIRE_ERROR_DECRYPT);
  }
}

static void
test_frame_header_rejects (void)
{
  g_autoptr(GossipKeyring) ring = gossip_keyring_new (key16, 16, NULL);
  g_autoptr(GossipCodec) plain = gossip_codec_new (NULL, FALSE, 0);
  g_autoptr(GossipCodec) keyed = gossip_codec_new (ring, FALSE, 0);
  GossipCodec *codecs[] = { plain, keyed };
  guint8 frame[64] = { 0 };

  for (gsize c = 0; c < G_N_ELEMENTS (codecs); c++)
    {
      for (guint v = 0; v < 256; v++)
        {
          g_autoptr(GError) error = NULL;

          if (v == GOSSIP_FRAME_VERSION)
            continue;
          frame[0] = (guint8) v;
          frame[1] = 0;
          g_assert_null (gossip_codec_open (codecs[c], frame, sizeof frame, &error));
          g_assert_error (error, GOSSIP_WIRE_ERROR, GOSSIP_WIRE_ERROR_VERSION);
        }

      for (guint f = 0; f < 256; f++)
        {
          g_autoptr(GError) error = NULL;

          if ((f & ~GOSSIP_FRAME_KNOWN_FLAGS) == 0)
            continue;
          frame[0] = GOSSIP_FRAME_VERSION;
          frame[1] = (guint8) f;
          g_assert_null (gossip_codec_open (codecs[c], frame, sizeof frame, &error));
          g_assert_error (error, GOSSIP_WIRE_ERROR, GOSSIP_WIRE_ERROR_MALFORMED);
        }

      for (gsize len = 0; len < 2; len++)
        {
          g_autoptr(GError) error = NULL;

          frame[0] = GOSSIP_FRAME_VERSION;
          frame[1] = 0;
          g_assert_null (gossip_codec_open (codecs[c], len ? frame : NULL, len, &error));
          g_assert_error (error, GOSSIP_WIRE_ERROR, GOSSIP_WIRE_ERROR_TRUNCATED);
        }
    }
}

/* Prefixes of compressed or encrypted frames never decode. (A prefix of a
 * plain uncompressed frame is itself a valid frame with a shorter body; the
 * packet layer catches that.) */
static void
test_frame_truncation (void)
{
  g_autoptr(GossipKeyring) ring = gossip_keyring_new (key32, 32, NULL);
  g_autoptr(GBytes) text = make_text (700);
  struct { GossipKeyring *ring; gboolean compress; } kinds[] = {
    { NULL, FALSE }, { NULL, TRUE }, { ring, FALSE }, { ring, TRUE },
  };

  for (gsize k = 0; k < G_N_ELEMENTS (kinds); k++)
    {
      g_autoptr(GossipCodec) codec = gossip_codec_new (kinds[k].ring, kinds[k].compress, 0);
      g_autoptr(GBytes) frame = codec_seal (codec, text);
      const guint8 *data;
      gsize len;

      data = g_bytes_get_data (frame, &len);
      for (gsize cut = 0; cut < len; cut++)
        {
          g_autofree guint8 *buf = g_memdup2 (data, cut);
          g_autoptr(GError) error = NULL;
          g_autoptr(GBytes) body = gossip_codec_open (codec, buf, cut, &error);

          if (cut < 2)
            {
              g_assert_error (error, GOSSIP_WIRE_ERROR, GOSSIP_WIRE_ERROR_TRUNCATED);
            }
          else if (kinds[k].ring == NULL && !kinds[k].compress)
            {
              g_assert_no_error (error);
              g_assert_cmpmem (g_bytes_get_data (body, NULL), g_bytes_get_size (body), data + 2, cut - 2);
            }
          else
            {
              g_assert_null (body);
              g_assert_nonnull (error);
              g_assert_true (error->domain == GOSSIP_WIRE_ERROR);
            }
        }
    }
}

static GBytes *
build_compressed_frame (guint32 declared, const guint8 *block, gsize block_len)
{
  GossipWriter w;

  gossip_writer_init (&w);
  gossip_writer_put_u8 (&w, GOSSIP_FRAME_VERSION);
  gossip_writer_put_u8 (&w, GOSSIP_FRAME_FLAG_COMPRESSED);
  gossip_writer_put_u32 (&w, declared);
  gossip_writer_put_raw (&w, block, block_len);
  return gossip_writer_steal_bytes (&w);
}

static void
test_frame_compressed_rejects (void)
{
  g_autoptr(GossipCodec) codec = gossip_codec_new (NULL, FALSE, 0);
  g_autoptr(GBytes) text = make_text (1000);
  g_autoptr(GBytes) block = gossip_snappy_compress (g_bytes_get_data (text, NULL), 1000);
  const guint8 *bdata;
  gsize blen;

  bdata = g_bytes_get_data (block, &blen);

  /* Our length must match Snappy's, both ways. */
  {
    g_autoptr(GBytes) good = build_compressed_frame (1000, bdata, blen);
    g_autoptr(GBytes) more = build_compressed_frame (1001, bdata, blen);
    g_autoptr(GBytes) less = build_compressed_frame (999, bdata, blen);
    g_autoptr(GBytes) body = NULL;
    g_autoptr(GError) error = NULL;

    body = codec_open (codec, good, &error);
    g_assert_no_error (error);
    g_assert_true (g_bytes_equal (body, text));

    g_assert_null (codec_open (codec, more, &error));
    g_assert_error (error, GOSSIP_WIRE_ERROR, GOSSIP_WIRE_ERROR_MALFORMED);
    g_clear_error (&error);
    g_assert_null (codec_open (codec, less, &error));
    g_assert_error (error, GOSSIP_WIRE_ERROR, GOSSIP_WIRE_ERROR_MALFORMED);
  }

  /* A declared length over the frame limit, and the bomb behind a
   * believable one. */
  {
    g_autoptr(GBytes) over = build_compressed_frame (GOSSIP_MAX_FRAME_SIZE + 1, bdata, blen);
    g_autoptr(GBytes) boom = build_compressed_frame (1000, bomb, sizeof bomb);
    g_autoptr(GError) error = NULL;

    g_assert_null (codec_open (codec, over, &error));
    g_assert_error (error, GOSSIP_WIRE_ERROR, GOSSIP_WIRE_ERROR_TOO_LARGE);
    g_clear_error (&error);
    g_assert_null (codec_open (codec, boom, &error));
    g_assert_error (error, GOSSIP_WIRE_ERROR, GOSSIP_WIRE_ERROR_MALFORMED);
  }

  /* Fewer than 4 bytes of inner body. */
  for (gsize n = 0; n < 4; n++)
    {
      static const guint8 frame[] = { GOSSIP_FRAME_VERSION, GOSSIP_FRAME_FLAG_COMPRESSED, 0, 0, 0 };
      g_autoptr(GError) error = NULL;

      g_assert_null (gossip_codec_open (codec, frame, 2 + n, &error));
      g_assert_error (error, GOSSIP_WIRE_ERROR, GOSSIP_WIRE_ERROR_TRUNCATED);
    }

  /* Corrupt Snappy data behind a valid tag is still caught. */
  {
    g_autoptr(GossipKeyring) ring = gossip_keyring_new (key16, 16, NULL);
    g_autoptr(GossipCodec) keyed = gossip_codec_new (ring, FALSE, 0);
    static const guint8 header[] = { GOSSIP_FRAME_VERSION, GOSSIP_FRAME_FLAG_ENCRYPTED | GOSSIP_FRAME_FLAG_COMPRESSED };
    static const guint8 inner[] = { 0, 0, 0, 10, 10, 0x08, 'a', 'b', 'c' };
    g_autoptr(GByteArray) frame = g_byte_array_new ();
    g_autoptr(GError) error = NULL;

    g_byte_array_append (frame, header, 2);
    g_assert_true (gossip_keyring_seal (ring, header, 2, inner, sizeof inner, frame, NULL));
    g_assert_null (gossip_codec_open (keyed, frame->data, frame->len, &error));
    g_assert_error (error, GOSSIP_WIRE_ERROR, GOSSIP_WIRE_ERROR_DECOMPRESS);
  }
}

static void
test_frame_size_limits (void)
{
  g_autoptr(GossipKeyring) ring = gossip_keyring_new (key16, 16, NULL);
  g_autoptr(GossipCodec) plain = gossip_codec_new (NULL, FALSE, 0);
  g_autoptr(GossipCodec) keyed = gossip_codec_new (ring, FALSE, 0);
  g_autoptr(GossipCodec) squeezer = gossip_codec_new (NULL, TRUE, 0);
  gsize big_len = GOSSIP_MAX_FRAME_SIZE + 1;
  g_autofree guint8 *big = g_malloc0 (big_len);
  g_autoptr(GError) error = NULL;
  g_autoptr(GBytes) frame = NULL;
  g_autoptr(GBytes) body = NULL;

  big[0] = GOSSIP_FRAME_VERSION;

  /* Receiving: one byte over the limit, before anything else is looked at. */
  g_assert_null (gossip_codec_open (plain, big, big_len, &error));
  g_assert_error (error, GOSSIP_WIRE_ERROR, GOSSIP_WIRE_ERROR_TOO_LARGE);
  g_clear_error (&error);
  body = gossip_codec_open (plain, big, GOSSIP_MAX_FRAME_SIZE, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (g_bytes_get_size (body), ==, GOSSIP_MAX_FRAME_SIZE - 2);
  g_clear_pointer (&body, g_bytes_unref);

  /* Sending: a body over the limit even if it would compress... */
  g_assert_null (gossip_codec_seal (squeezer, big, big_len, &error));
  g_assert_error (error, GOSSIP_CLUSTER_ERROR, GOSSIP_CLUSTER_ERROR_PAYLOAD_TOO_LARGE);
  g_clear_error (&error);

  /* ...a body at the limit whose frame would exceed it... */
  g_assert_null (gossip_codec_seal (plain, big, GOSSIP_MAX_FRAME_SIZE, &error));
  g_assert_error (error, GOSSIP_CLUSTER_ERROR, GOSSIP_CLUSTER_ERROR_PAYLOAD_TOO_LARGE);
  g_clear_error (&error);
  g_assert_null (gossip_codec_seal (keyed, big, GOSSIP_MAX_FRAME_SIZE - 28, &error));
  g_assert_error (error, GOSSIP_CLUSTER_ERROR, GOSSIP_CLUSTER_ERROR_PAYLOAD_TOO_LARGE);
  g_clear_error (&error);

  /* ...but the largest bodies that fit go through, and a compressible one
   * at the limit shrinks and decompresses back to exactly the limit. */
  frame = gossip_codec_seal (keyed, big, GOSSIP_MAX_FRAME_SIZE - 30, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (g_bytes_get_size (frame), ==, GOSSIP_MAX_FRAME_SIZE);
  body = codec_open (keyed, frame, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (g_bytes_get_size (body), ==, GOSSIP_MAX_FRAME_SIZE - 30);
  g_clear_pointer (&frame, g_bytes_unref);
  g_clear_pointer (&body, g_bytes_unref);

  frame = gossip_codec_seal (squeezer, big, GOSSIP_MAX_FRAME_SIZE, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (frame_flags (frame), ==, GOSSIP_FRAME_FLAG_COMPRESSED);
  body = codec_open (plain, frame, &error);
  g_assert_no_error (error);
  g_assert_cmpmem (g_bytes_get_data (body, NULL), g_bytes_get_size (body), big, GOSSIP_MAX_FRAME_SIZE);
}

/* ------------------------------------------------------------------------ */
/* Payload                                                                  */
/* ------------------------------------------------------------------------ */

/* Encodes, decodes and checks the result is the same value bit for bit
 * (g_variant_equal() compares serialisations, so -0.0 != 0.0 and NaN
 * equals its own bits). Consumes a floating @value. */
static GVariant *
payload_round_trip (GVariant *value)
{
  g_autoptr(GVariant) owned = g_variant_ref_sink (value);
  g_autoptr(GError) error = NULL;
  g_autoptr(GBytes) bytes = NULL;
  GVariant *back;

  g_assert_true (gossip_payload_check (owned, &error));
  g_assert_no_error (error);
  bytes = gossip_payload_encode (owned, G_MAXSIZE, &error);
  g_assert_no_error (error);
  back = gossip_payload_decode (g_bytes_get_data (bytes, NULL), g_bytes_get_size (bytes), &error);
  g_assert_no_error (error);
  g_assert_nonnull (back);
  g_assert_false (g_variant_is_floating (back));
  g_assert_cmpstr (g_variant_get_type_string (back), ==, g_variant_get_type_string (owned));
  g_assert_true (g_variant_equal (back, owned));
  return back;
}

static void
test_payload_scalars (void)
{
  g_autoptr(GVariant) v = NULL;

#define RT(expr) G_STMT_START { g_clear_pointer (&v, g_variant_unref); v = payload_round_trip (expr); } G_STMT_END

  RT (gossip_payload_none ());
  g_assert_true (gossip_payload_is_none (v));
  RT (g_variant_new_boolean (TRUE));
  g_assert_true (g_variant_get_boolean (v));
  RT (g_variant_new_boolean (FALSE));
  g_assert_false (g_variant_get_boolean (v));

  RT (g_variant_new_int64 (0));
  RT (g_variant_new_int64 (-1));
  RT (g_variant_new_int64 (G_MAXINT64));
  g_assert_cmpint (g_variant_get_int64 (v), ==, G_MAXINT64);
  RT (g_variant_new_int64 (G_MININT64));
  g_assert_cmpint (g_variant_get_int64 (v), ==, G_MININT64);

  /* 2.0 stays a double, not the int 2. */
  RT (g_variant_new_double (2.0));
  g_assert_true (g_variant_is_of_type (v, G_VARIANT_TYPE_DOUBLE));
  g_assert_cmpfloat (g_variant_get_double (v), ==, 2.0);
  RT (g_variant_new_double (-0.0));
  g_assert_cmpfloat (g_variant_get_double (v), ==, 0.0);
  g_assert_true (signbit (g_variant_get_double (v)));
  RT (g_variant_new_double (0.0));
  g_assert_false (signbit (g_variant_get_double (v)));
  RT (g_variant_new_double (NAN));
  g_assert_true (isnan (g_variant_get_double (v)));
  RT (g_variant_new_double (INFINITY));
  g_assert_true (isinf (g_variant_get_double (v)) && g_variant_get_double (v) > 0);
  RT (g_variant_new_double (-INFINITY));
  g_assert_true (isinf (g_variant_get_double (v)) && g_variant_get_double (v) < 0);
  RT (g_variant_new_double (G_MAXDOUBLE));
  RT (g_variant_new_double (4.9e-324));
  g_assert_cmpfloat (g_variant_get_double (v), ==, 4.9e-324);

  RT (g_variant_new_string (""));
  g_assert_cmpstr (g_variant_get_string (v, NULL), ==, "");
  RT (g_variant_new_string ("héllo wörld ✓"));
  g_assert_cmpstr (g_variant_get_string (v, NULL), ==, "héllo wörld ✓");
  /* Astral plane: U+1F600 and U+10FFFF. */
  RT (g_variant_new_string ("\xf0\x9f\x98\x80 \xf4\x8f\xbf\xbf"));
  g_assert_cmpstr (g_variant_get_string (v, NULL), ==, "\xf0\x9f\x98\x80 \xf4\x8f\xbf\xbf");

  RT (gossip_payload_new_bytes (NULL, 0));
  g_assert_cmpuint (g_variant_n_children (v), ==, 0);
  RT (gossip_payload_new_bytes ((const guint8 *) "\0\xff\x01z", 4));
  {
    gsize n = 0;
    const guint8 *p = g_variant_get_fixed_array (v, &n, 1);

    g_assert_cmpmem (p, n, "\0\xff\x01z", 4);
  }
#undef RT
}

static void
test_payload_containers (void)
{
  g_autoptr(GVariant) v = NULL;
  GVariantBuilder dict;
  GVariantBuilder inner;
  GVariant *items[3];

  v = payload_round_trip (gossip_payload_new_list (NULL, 0));
  g_assert_cmpstr (g_variant_get_type_string (v), ==, "av");
  g_assert_cmpuint (g_variant_n_children (v), ==, 0);
  g_clear_pointer (&v, g_variant_unref);

  g_variant_builder_init (&dict, G_VARIANT_TYPE_VARDICT);
  v = payload_round_trip (g_variant_builder_end (&dict));
  g_assert_cmpstr (g_variant_get_type_string (v), ==, "a{sv}");
  g_assert_cmpuint (g_variant_n_children (v), ==, 0);
  g_clear_pointer (&v, g_variant_unref);

  g_variant_builder_init (&inner, G_VARIANT_TYPE_VARDICT);
  g_variant_builder_add (&inner, "{sv}", "", gossip_payload_none ());
  g_variant_builder_add (&inner, "{sv}", "π", g_variant_new_double (3.14));
  items[0] = g_variant_new_int64 (1);
  items[1] = g_variant_builder_end (&inner);
  items[2] = gossip_payload_new_list (NULL, 0);

  g_variant_builder_init (&dict, G_VARIANT_TYPE_VARDICT);
  g_variant_builder_add (&dict, "{sv}", "list", gossip_payload_new_list (items, 3));
  g_variant_builder_add (&dict, "{sv}", "bytes", gossip_payload_new_bytes ((const guint8 *) "ab", 2));
  g_variant_builder_add (&dict, "{sv}", "flag", g_variant_new_boolean (TRUE));
  g_variant_builder_add (&dict, "{sv}", "\xf0\x9f\x98\x80", g_variant_new_string ("x"));
  v = payload_round_trip (g_variant_builder_end (&dict));

  {
    g_autofree char *text = gossip_payload_to_string (v);

    g_assert_cmpstr (text, ==,
                     "{\"list\":[1,{\"\":null,\"π\":3.14},[]],\"bytes\":b\"ab\",\"flag\":true,"
                     "\"\xf0\x9f\x98\x80\":\"x\"}");
  }
}

/* @levels lists around @leaf; with no leaf the innermost list is empty. */
static GVariant *
nest_lists (guint levels, GVariant *leaf)
{
  GVariant *v = leaf;

  if (v == NULL)
    {
      v = gossip_payload_new_list (NULL, 0);
      levels--;
    }
  for (guint i = 0; i < levels; i++)
    v = gossip_payload_new_list (&v, 1);
  return v;
}

static GVariant *
nest_dicts (guint levels, GVariant *leaf)
{
  GVariant *v = leaf;

  for (guint i = 0; i < levels; i++)
    {
      GVariantBuilder b;

      g_variant_builder_init (&b, G_VARIANT_TYPE_VARDICT);
      g_variant_builder_add (&b, "{sv}", "k", v);
      v = g_variant_builder_end (&b);
    }
  return v;
}

/* The serialised form of @value, bypassing every payload check, as a
 * hostile peer would send it. */
static GBytes *
raw_serialise (GVariant *value)
{
  g_autoptr(GVariant) wrapped = g_variant_ref_sink (g_variant_new_variant (value));

  return g_variant_get_data_as_bytes (wrapped);
}

static void
assert_too_deep (GVariant *value)
{
  g_autoptr(GVariant) owned = g_variant_ref_sink (value);
  g_autoptr(GBytes) raw = raw_serialise (owned);
  g_autoptr(GError) error = NULL;

  g_assert_false (gossip_payload_check (owned, &error));
  g_assert_error (error, GOSSIP_CLUSTER_ERROR, GOSSIP_CLUSTER_ERROR_INVALID_ARGUMENT);
  g_clear_error (&error);
  g_assert_null (gossip_payload_encode (owned, G_MAXSIZE, &error));
  g_assert_error (error, GOSSIP_CLUSTER_ERROR, GOSSIP_CLUSTER_ERROR_INVALID_ARGUMENT);
  g_clear_error (&error);
  g_assert_null (gossip_payload_decode (g_bytes_get_data (raw, NULL), g_bytes_get_size (raw), &error));
  g_assert_error (error, GOSSIP_WIRE_ERROR, GOSSIP_WIRE_ERROR_MALFORMED);
}

static void
test_payload_depth (void)
{
  /* Depth counts the scalar: 62 lists around an int is depth 63, 63 lists
   * is depth 64 (the limit), 64 lists depth 65. */
  g_variant_unref (payload_round_trip (nest_lists (62, g_variant_new_int64 (1))));
  g_variant_unref (payload_round_trip (nest_lists (63, g_variant_new_int64 (1))));
  g_variant_unref (payload_round_trip (nest_lists (63, gossip_payload_none ())));
  assert_too_deep (nest_lists (64, g_variant_new_int64 (1)));
  assert_too_deep (nest_lists (200, g_variant_new_int64 (1)));

  /* GVariant's own limit: bytes cost one level more than other scalars,
   * an empty list two. */
  g_variant_unref (payload_round_trip (nest_lists (62, gossip_payload_new_bytes (NULL, 0))));
  assert_too_deep (nest_lists (63, gossip_payload_new_bytes (NULL, 0)));
  g_variant_unref (payload_round_trip (nest_lists (63, NULL) /* 62 lists around [] */));
  assert_too_deep (nest_lists (64, NULL));

  /* A dict level costs GVariant three levels: 42 fit, 43 do not. */
  g_variant_unref (payload_round_trip (nest_dicts (42, g_variant_new_int64 (1))));
  assert_too_deep (nest_dicts (43, g_variant_new_int64 (1)));
}

static void
test_payload_invalid_types (void)
{
  const char *const strv[] = { "a", NULL };
  GVariant *bad[] = {
    g_variant_new_int32 (5), g_variant_new_uint32 (5), g_variant_new_byte (5),
    g_variant_new_uint64 (5), g_variant_new_int16 (5), g_variant_new_uint16 (5),
    g_variant_new_handle (5), g_variant_new_object_path ("/a"), g_variant_new_signature ("x"),
    g_variant_new_strv (strv, -1),
    g_variant_new_parsed ("[int64 1]"),
    g_variant_new_parsed ("{'a': 'b'}"),
    g_variant_new_parsed ("{int32 1: <int64 1>}"),
    g_variant_new_parsed ("(int64 1, int64 2)"),
    g_variant_new_parsed ("(int64 1,)"),
    g_variant_new_parsed ("@mx 1"),
    g_variant_new_variant (g_variant_new_int64 (1)),
    g_variant_new_parsed ("[[<int64 1>]]"),
    g_variant_new_dict_entry (g_variant_new_string ("a"), g_variant_new_variant (g_variant_new_int64 (1))),
  };

  for (gsize i = 0; i < G_N_ELEMENTS (bad); i++)
    {
      g_autoptr(GVariant) value = g_variant_ref_sink (bad[i]);
      g_autoptr(GBytes) raw = raw_serialise (value);
      g_autoptr(GError) error = NULL;

      g_test_message ("type %s", g_variant_get_type_string (value));
      g_assert_false (gossip_payload_check (value, &error));
      g_assert_error (error, GOSSIP_CLUSTER_ERROR, GOSSIP_CLUSTER_ERROR_INVALID_TYPE);
      g_clear_error (&error);
      g_assert_null (gossip_payload_decode (g_bytes_get_data (raw, NULL), g_bytes_get_size (raw), &error));
      g_assert_error (error, GOSSIP_WIRE_ERROR, GOSSIP_WIRE_ERROR_MALFORMED);
    }

  /* Nested inside a list, too. */
  {
    GVariant *item = g_variant_new_int32 (5);
    g_autoptr(GVariant) list = g_variant_ref_sink (gossip_payload_new_list (&item, 1));
    g_autoptr(GError) error = NULL;

    g_assert_false (gossip_payload_check (list, &error));
    g_assert_error (error, GOSSIP_CLUSTER_ERROR, GOSSIP_CLUSTER_ERROR_INVALID_TYPE);
  }
}

static void
test_payload_duplicate_keys (void)
{
  GVariantBuilder b;
  g_autoptr(GVariant) dict = NULL;
  g_autoptr(GBytes) raw = NULL;
  g_autoptr(GError) error = NULL;

  g_variant_builder_init (&b, G_VARIANT_TYPE_VARDICT);
  g_variant_builder_add (&b, "{sv}", "a", g_variant_new_int64 (1));
  g_variant_builder_add (&b, "{sv}", "b", g_variant_new_int64 (2));
  g_variant_builder_add (&b, "{sv}", "a", g_variant_new_int64 (3));
  dict = g_variant_ref_sink (g_variant_builder_end (&b));
  raw = raw_serialise (dict);

  g_assert_false (gossip_payload_check (dict, &error));
  g_assert_error (error, GOSSIP_CLUSTER_ERROR, GOSSIP_CLUSTER_ERROR_INVALID_ARGUMENT);
  g_clear_error (&error);
  g_assert_null (gossip_payload_decode (g_bytes_get_data (raw, NULL), g_bytes_get_size (raw), &error));
  g_assert_error (error, GOSSIP_WIRE_ERROR, GOSSIP_WIRE_ERROR_MALFORMED);
}

static void
test_payload_too_large (void)
{
  g_autoptr(GBytes) text = make_text (1000);
  g_autoptr(GVariant) value = g_variant_ref_sink (gossip_payload_new_bytes (g_bytes_get_data (text, NULL), 1000));
  g_autoptr(GBytes) ok = NULL;
  g_autoptr(GError) error = NULL;
  gsize size;

  ok = gossip_payload_encode (value, G_MAXSIZE, &error);
  g_assert_no_error (error);
  size = g_bytes_get_size (ok);
  g_clear_pointer (&ok, g_bytes_unref);

  ok = gossip_payload_encode (value, size, &error);
  g_assert_no_error (error);
  g_assert_null (gossip_payload_encode (value, size - 1, &error));
  g_assert_error (error, GOSSIP_CLUSTER_ERROR, GOSSIP_CLUSTER_ERROR_PAYLOAD_TOO_LARGE);
}

static void
test_payload_non_normal (void)
{
  g_autoptr(GVariant) t = g_variant_ref_sink (g_variant_new_boolean (TRUE));
  g_autoptr(GBytes) good = raw_serialise (t);
  const struct { const char *what; const char *data; gsize len; } cases[] = {
    /* v(b true) is 01 00 'b'. */
    { "bool 2", "\x02\x00" "b", 3 },
    { "no type", "\x01\x00", 2 },
    { "bad type string", "\x01\x00" "z", 3 },
    { "two types", "\x01\x00" "bb", 4 },
    { "missing separator", "\x01" "b", 2 },
    { "invalid utf-8", "\xff\x00\x00" "s", 4 },
    { "unterminated string", "ab\x00" "s", 4 },
    { "embedded nul", "a\x00" "b\x00\x00" "s", 6 },
    { "short int64", "\x01\x02\x03\x00" "x", 5 },
    { "one byte", "\x00", 1 },
  };
  g_autoptr(GError) error = NULL;

  g_assert_cmpmem (g_bytes_get_data (good, NULL), g_bytes_get_size (good), "\x01\x00" "b", 3);
  for (gsize i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      g_test_message ("%s", cases[i].what);
      g_assert_null (gossip_payload_decode ((const guint8 *) cases[i].data, cases[i].len, &error));
      g_assert_error (error, GOSSIP_WIRE_ERROR, GOSSIP_WIRE_ERROR_MALFORMED);
      g_clear_error (&error);
    }

  g_assert_null (gossip_payload_decode (NULL, 0, &error));
  g_assert_error (error, GOSSIP_WIRE_ERROR, GOSSIP_WIRE_ERROR_TRUNCATED);
}

static void
test_payload_misaligned (void)
{
  GVariant *items[] = { g_variant_new_double (1.5), g_variant_new_int64 (-7) };
  g_autoptr(GVariant) list = g_variant_ref_sink (gossip_payload_new_list (items, 2));
  g_autoptr(GBytes) bytes = gossip_payload_encode (list, G_MAXSIZE, NULL);
  gsize len = g_bytes_get_size (bytes);
  g_autofree guint8 *buf = g_malloc (len + 8);

  for (gsize offset = 1; offset < 8; offset++)
    {
      g_autoptr(GVariant) back = NULL;
      g_autoptr(GError) error = NULL;

      memcpy (buf + offset, g_bytes_get_data (bytes, NULL), len);
      back = gossip_payload_decode (buf + offset, len, &error);
      g_assert_no_error (error);
      g_assert_true (g_variant_equal (back, list));
    }
}

/* Whatever decodes must be a valid payload that survives a round trip. */
static void
check_decoded (GVariant *value)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GBytes) again = NULL;
  g_autoptr(GVariant) back = NULL;
  g_autofree char *text = NULL;

  g_assert_true (gossip_payload_check (value, &error));
  again = gossip_payload_encode (value, G_MAXSIZE, &error);
  g_assert_no_error (error);
  back = gossip_payload_decode (g_bytes_get_data (again, NULL), g_bytes_get_size (again), &error);
  g_assert_no_error (error);
  g_assert_true (g_variant_equal (back, value));
  text = gossip_payload_to_string (value);
  g_assert_nonnull (text);
}

static void
test_payload_garbage (void)
{
  g_autoptr(GRand) rand = g_rand_new_with_seed (20240601);
  guint decoded = 0;

  for (guint i = 0; i < 10000; i++)
    {
      gsize len = (gsize) g_rand_int_range (rand, 0, 200);
      g_autofree guint8 *buf = g_malloc (len + 1);
      g_autoptr(GVariant) value = NULL;
      g_autoptr(GError) error = NULL;

      for (gsize j = 0; j < len; j++)
        buf[j] = (guint8) g_rand_int_range (rand, 0, 256);
      /* Half the inputs end like a real "v" so that some get past the
       * type string. */
      if (len > 2 && g_rand_boolean (rand))
        {
          static const char *types[] = { "()", "b", "x", "d", "s", "ay", "av", "a{sv}" };
          const char *type = types[g_rand_int_range (rand, 0, G_N_ELEMENTS (types))];
          gsize tl = strlen (type);

          if (len > tl + 1)
            {
              buf[len - tl - 1] = 0;
              memcpy (buf + len - tl, type, tl);
            }
        }

      value = gossip_payload_decode (len ? buf : NULL, len, &error);
      if (value != NULL)
        {
          decoded++;
          check_decoded (value);
        }
      else
        {
          g_assert_nonnull (error);
          g_assert_true (error->domain == GOSSIP_WIRE_ERROR);
        }
    }
  g_test_message ("%u of 10000 random inputs decoded", decoded);
}

static void
test_payload_mutations (void)
{
  g_autoptr(GRand) rand = g_rand_new_with_seed (42);
  GVariantBuilder b;
  GVariant *items[4];
  g_autoptr(GVariant) value = NULL;
  g_autoptr(GBytes) bytes = NULL;
  const guint8 *data;
  gsize len;

  items[0] = g_variant_new_string ("héllo");
  items[1] = g_variant_new_double (-0.0);
  items[2] = gossip_payload_new_bytes ((const guint8 *) "xyz", 3);
  items[3] = gossip_payload_none ();
  g_variant_builder_init (&b, G_VARIANT_TYPE_VARDICT);
  g_variant_builder_add (&b, "{sv}", "list", gossip_payload_new_list (items, 4));
  g_variant_builder_add (&b, "{sv}", "n", g_variant_new_int64 (G_MININT64));
  g_variant_builder_add (&b, "{sv}", "t", g_variant_new_boolean (TRUE));
  value = g_variant_ref_sink (g_variant_builder_end (&b));
  bytes = gossip_payload_encode (value, G_MAXSIZE, NULL);
  data = g_bytes_get_data (bytes, &len);

  for (guint i = 0; i < 5000; i++)
    {
      g_autofree guint8 *buf = g_memdup2 (data, len);
      gsize cut = len;
      guint flips = (guint) g_rand_int_range (rand, 1, 4);
      g_autoptr(GVariant) back = NULL;
      g_autoptr(GError) error = NULL;

      for (guint f = 0; f < flips; f++)
        buf[g_rand_int_range (rand, 0, (gint32) len)] ^= (guint8) g_rand_int_range (rand, 1, 256);
      if (g_rand_int_range (rand, 0, 4) == 0)
        cut = (gsize) g_rand_int_range (rand, 0, (gint32) len);

      back = gossip_payload_decode (buf, cut, &error);
      if (back != NULL)
        check_decoded (back);
      else
        g_assert_true (error->domain == GOSSIP_WIRE_ERROR);
    }
}

static void
test_payload_to_string (void)
{
  const struct { GVariant *value; const char *text; } cases[] = {
    { gossip_payload_none (), "null" },
    { g_variant_new_boolean (FALSE), "false" },
    { g_variant_new_int64 (G_MININT64), "-9223372036854775808" },
    { g_variant_new_double (2.0), "2.0" },
    { g_variant_new_double (-0.0), "-0.0" },
    { g_variant_new_double (0.1), "0.1" },
    { g_variant_new_double (1e300), "1e+300" },
    { g_variant_new_double (NAN), "NaN" },
    { g_variant_new_double (-INFINITY), "-Infinity" },
    { g_variant_new_string ("a\"b\\c\n\x01é"), "\"a\\\"b\\\\c\\n\\u0001é\"" },
    { gossip_payload_new_bytes ((const guint8 *) "a\"\x00\xff", 4), "b\"a\\\"\\x00\\xff\"" },
    { gossip_payload_new_list (NULL, 0), "[]" },
    { g_variant_new_int32 (3), "<3>" },
  };

  for (gsize i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      g_autoptr(GVariant) value = g_variant_ref_sink (cases[i].value);
      g_autofree char *text = gossip_payload_to_string (value);

      g_assert_cmpstr (text, ==, cases[i].text);
    }

  /* Never-validated deep values are elided, not recursed into. */
  {
    g_autoptr(GVariant) deep = g_variant_ref_sink (nest_lists (500, g_variant_new_int64 (1)));
    g_autofree char *text = gossip_payload_to_string (deep);

    g_assert_nonnull (strstr (text, "..."));
  }
}

static void
test_payload_from_json (void)
{
  const struct { const char *json; const char *type; const char *text; } cases[] = {
    { "null", "()", "null" },
    { "true", "b", "true" },
    { "2", "x", "2" },
    { "2.0", "d", "2.0" },
    { "-0.0", "d", "-0.0" },
    { "1e3", "d", "1000.0" },
    { "9223372036854775807", "x", "9223372036854775807" },
    { "-9223372036854775808", "x", "-9223372036854775808" },
    { "\"h\\u00e9\\ud83d\\ude00\"", "s", "\"hé\xf0\x9f\x98\x80\"" },
    { "[]", "av", "[]" },
    { "{}", "a{sv}", "{}" },
    { " [1, 2.5, \"x\", null, [true], {\"k\": {}}] ", "av", "[1,2.5,\"x\",null,[true],{\"k\":{}}]" },
    { "{\"b\": 1, \"a\": [\"[{\"]}", "a{sv}", "{\"b\":1,\"a\":[\"[{\"]}" },
    { "{\"a\": 1, \"a\": 2}", "a{sv}", "{\"a\":2}" },
  };
  const char *bad[] = {
    "", "   ", "[1,", "{\"a\"}", "NaN", "1 2", "9223372036854775808", "-9223372036854775809",
    "[123456789012345678901234567890]", "{\"a\": [99999999999999999999]}",
  };

  for (gsize i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      g_autoptr(GError) error = NULL;
      g_autoptr(GVariant) value = gossip_payload_from_json (cases[i].json, &error);
      g_autofree char *text = NULL;

      g_test_message ("%s", cases[i].json);
      g_assert_no_error (error);
      g_assert_false (g_variant_is_floating (value));
      g_assert_cmpstr (g_variant_get_type_string (value), ==, cases[i].type);
      text = gossip_payload_to_string (value);
      g_assert_cmpstr (text, ==, cases[i].text);
    }

  for (gsize i = 0; i < G_N_ELEMENTS (bad); i++)
    {
      g_autoptr(GError) error = NULL;

      g_test_message ("bad: %s", bad[i]);
      g_assert_null (gossip_payload_from_json (bad[i], &error));
      g_assert_error (error, GOSSIP_CLUSTER_ERROR, GOSSIP_CLUSTER_ERROR_INVALID_ARGUMENT);
    }

  /* 64 nested arrays are fine, 65 are not; 43 nested objects exceed
   * GVariant's limit. Deep input is refused before json-glib recurses. */
  {
    g_autoptr(GString) ok = g_string_new (NULL);
    g_autoptr(GString) deep = g_string_new (NULL);
    g_autoptr(GString) objects = g_string_new (NULL);
    g_autoptr(GString) huge = g_string_new (NULL);
    g_autoptr(GVariant) value = NULL;
    g_autoptr(GError) error = NULL;

    for (guint i = 0; i < 63; i++)
      g_string_append_c (ok, '[');
    g_string_append_c (ok, '1');
    for (guint i = 0; i < 63; i++)
      g_string_append_c (ok, ']');
    value = gossip_payload_from_json (ok->str, &error);
    g_assert_no_error (error);

    g_string_append_printf (deep, "[%s]", ok->str);
    g_assert_null (gossip_payload_from_json (deep->str, &error));
    g_assert_error (error, GOSSIP_CLUSTER_ERROR, GOSSIP_CLUSTER_ERROR_INVALID_ARGUMENT);
    g_clear_error (&error);

    for (guint i = 0; i < 43; i++)
      g_string_append (objects, "{\"k\":");
    g_string_append_c (objects, '1');
    for (guint i = 0; i < 43; i++)
      g_string_append_c (objects, '}');
    g_assert_null (gossip_payload_from_json (objects->str, &error));
    g_assert_error (error, GOSSIP_CLUSTER_ERROR, GOSSIP_CLUSTER_ERROR_INVALID_ARGUMENT);
    g_clear_error (&error);

    for (guint i = 0; i < 100000; i++)
      g_string_append_c (huge, '[');
    g_assert_null (gossip_payload_from_json (huge->str, &error));
    g_assert_error (error, GOSSIP_CLUSTER_ERROR, GOSSIP_CLUSTER_ERROR_INVALID_ARGUMENT);
  }

  /* From JSON straight onto the wire and back. */
  {
    g_autoptr(GVariant) value = gossip_payload_from_json ("{\"n\": 1, \"f\": 1.0, \"s\": [null]}", NULL);

    g_variant_unref (payload_round_trip (value));
  }
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);

  g_test_add_func ("/codec/buffer/round-trip", test_buffer_round_trip);
  g_test_add_func ("/codec/buffer/truncation", test_buffer_truncation);
  g_test_add_func ("/codec/buffer/message-truncation", test_buffer_message_truncation);
  g_test_add_func ("/codec/buffer/limits", test_buffer_limits);
  g_test_add_func ("/codec/buffer/writer-oversized", test_buffer_writer_oversized);

  g_test_add_func ("/codec/crypto/round-trip", test_crypto_round_trip);
  g_test_add_func ("/codec/crypto/seal-appends", test_crypto_seal_appends);
  g_test_add_func ("/codec/crypto/wrong-key", test_crypto_wrong_key);
  g_test_add_func ("/codec/crypto/secondary", test_crypto_secondary);
  g_test_add_func ("/codec/crypto/tamper", test_crypto_tamper);
  g_test_add_func ("/codec/crypto/truncated", test_crypto_truncated);
  g_test_add_func ("/codec/crypto/key-lengths", test_crypto_key_lengths);
  g_test_add_func ("/codec/crypto/threads", test_crypto_threads);

  g_test_add_func ("/codec/snappy/round-trip", test_snappy_round_trip);
  g_test_add_func ("/codec/snappy/incompressible", test_snappy_incompressible);
  g_test_add_func ("/codec/snappy/corrupt", test_snappy_corrupt);
  g_test_add_func ("/codec/snappy/bomb", test_snappy_bomb);
  g_test_add_func ("/codec/snappy/bomb-no-allocation", test_snappy_bomb_no_allocation);

  g_test_add_func ("/codec/frame/combinations", test_frame_combinations);
  g_test_add_func ("/codec/frame/compress-threshold", test_frame_compress_threshold);
  g_test_add_func ("/codec/frame/mixed-compression", test_frame_mixed_compression);
  g_test_add_func ("/codec/frame/key-mismatch", test_frame_key_mismatch);
  g_test_add_func ("/codec/frame/header-rejects", test_frame_header_rejects);
  g_test_add_func ("/codec/frame/truncation", test_frame_truncation);
  g_test_add_func ("/codec/frame/compressed-rejects", test_frame_compressed_rejects);
  g_test_add_func ("/codec/frame/size-limits", test_frame_size_limits);

  g_test_add_func ("/codec/payload/scalars", test_payload_scalars);
  g_test_add_func ("/codec/payload/containers", test_payload_containers);
  g_test_add_func ("/codec/payload/depth", test_payload_depth);
  g_test_add_func ("/codec/payload/invalid-types", test_payload_invalid_types);
  g_test_add_func ("/codec/payload/duplicate-keys", test_payload_duplicate_keys);
  g_test_add_func ("/codec/payload/too-large", test_payload_too_large);
  g_test_add_func ("/codec/payload/non-normal", test_payload_non_normal);
  g_test_add_func ("/codec/payload/misaligned", test_payload_misaligned);
  g_test_add_func ("/codec/payload/garbage", test_payload_garbage);
  g_test_add_func ("/codec/payload/mutations", test_payload_mutations);
  g_test_add_func ("/codec/payload/to-string", test_payload_to_string);
  g_test_add_func ("/codec/payload/from-json", test_payload_from_json);

  return g_test_run ();
}
