/* gossip-frame.c — the outer frame: version, flags, compression, encryption.
 *
 * Layout (gossip/PROTOCOL.md, "Frame"):
 *
 *   u8 version | u8 flags | [sender block] | rest | [mac]
 *
 * The sender block (flags has SENDER) is the sealer's node id, epoch,
 * sequence number and wall-clock ms. rest is the inner body, or
 * nonce || AES-GCM(inner body) || tag with the header and sender block as
 * AAD when flags has ENCRYPTED. The inner body is the packet, or
 * u32 length || snappy block when flags has COMPRESSED. mac (flags has
 * SIGNED) is HMAC-SHA256 of everything before it, truncated to 16 bytes,
 * under a key derived from the bearer token.
 *
 * SPDX-License-Identifier: MIT
 */
#include "config.h"

#include <stdatomic.h>
#include <string.h>

#include <glib/gi18n-lib.h>

#include "gossip-buffer-private.h"
#include "gossip-compress-private.h"
#include "gossip-error.h"
#include "gossip-frame-private.h"

#define FRAME_HEADER_SIZE 2
#define COMPRESSED_LENGTH_SIZE 4

struct _GossipCodec {
  gatomicrefcount ref_count;
  GossipKeyring  *keyring;            /* owned, may be NULL */
  gboolean        compress;
  gsize           compress_min_size;
  gboolean        has_mac;
  guint8          mac_key[GOSSIP_MAC_KEY_SIZE];
  gboolean        has_sender;
  guint8          sender_id[16];
  guint64         epoch;
  atomic_uint_fast64_t seq;
  GossipCodecWallFunc wall;
  gpointer        wall_data;
};

GossipCodec *
gossip_codec_new (GossipKeyring *keyring, gboolean compress, gsize compress_min_size)
{
  GossipCodec *codec = g_new0 (GossipCodec, 1);

  g_atomic_ref_count_init (&codec->ref_count);
  codec->keyring = keyring != NULL ? gossip_keyring_ref (keyring) : NULL;
  codec->compress = compress;
  codec->compress_min_size = compress_min_size;
  return codec;
}

GossipCodec *
gossip_codec_ref (GossipCodec *codec)
{
  g_return_val_if_fail (codec != NULL, NULL);

  g_atomic_ref_count_inc (&codec->ref_count);
  return codec;
}

void
gossip_codec_unref (GossipCodec *codec)
{
  g_return_if_fail (codec != NULL);

  if (g_atomic_ref_count_dec (&codec->ref_count))
    {
      g_clear_pointer (&codec->keyring, gossip_keyring_unref);
      if (codec->has_mac)
        gossip_crypto_cleanse (codec->mac_key, sizeof codec->mac_key);
      g_free (codec);
    }
}

gboolean
gossip_codec_is_encrypted (GossipCodec *codec)
{
  g_return_val_if_fail (codec != NULL, FALSE);

  return codec->keyring != NULL;
}

gboolean
gossip_codec_set_token (GossipCodec *codec,
                        const char  *token,
                        GError     **error)
{
  g_return_val_if_fail (codec != NULL, FALSE);
  g_return_val_if_fail (error == NULL || *error == NULL, FALSE);

  if (token == NULL || *token == '\0')
    {
      codec->has_mac = FALSE;
      return TRUE;
    }
  if (!gossip_crypto_derive (token, "frame-mac v2", codec->mac_key, sizeof codec->mac_key, error))
    return FALSE;
  codec->has_mac = TRUE;
  return TRUE;
}

gboolean
gossip_codec_is_authenticated (GossipCodec *codec)
{
  g_return_val_if_fail (codec != NULL, FALSE);

  return codec->has_mac || codec->keyring != NULL;
}

void
gossip_codec_set_sender (GossipCodec         *codec,
                         const guint8        *id,
                         guint64              epoch,
                         GossipCodecWallFunc  wall,
                         gpointer             wall_data)
{
  g_return_if_fail (codec != NULL && id != NULL && wall != NULL);

  codec->has_sender = TRUE;
  memcpy (codec->sender_id, id, sizeof codec->sender_id);
  codec->epoch = epoch;
  atomic_init (&codec->seq, 0);
  codec->wall = wall;
  codec->wall_data = wall_data;
}

/* Returns the compressed inner body (u32 length || snappy block), or NULL
 * when compression is off, the body is below the threshold, or the result
 * would not be strictly smaller than @body. */
static GByteArray *
maybe_compress (GossipCodec *codec, const guint8 *body, gsize len)
{
  g_autoptr(GBytes) block = NULL;
  GByteArray *inner;
  gsize block_len;

  if (!codec->compress || len < codec->compress_min_size || len <= COMPRESSED_LENGTH_SIZE)
    return NULL;

  block = gossip_snappy_compress (body, len);
  if (block == NULL)
    return NULL;
  block_len = g_bytes_get_size (block);
  if (block_len >= len - COMPRESSED_LENGTH_SIZE)
    return NULL;

  inner = g_byte_array_sized_new ((guint) (COMPRESSED_LENGTH_SIZE + block_len));
  {
    GossipWriter w = { inner };

    gossip_writer_put_u32 (&w, (guint32) len);
    gossip_writer_put_raw (&w, g_bytes_get_data (block, NULL), block_len);
  }
  return inner;
}

GBytes *
gossip_codec_seal (GossipCodec *codec, const guint8 *body, gsize len, GError **error)
{
  g_autoptr(GByteArray) inner = NULL;
  g_autoptr(GByteArray) frame = NULL;
  const guint8 *inner_data;
  gsize inner_len;
  guint8 header[FRAME_HEADER_SIZE + GOSSIP_FRAME_SENDER_SIZE];
  gsize header_len = FRAME_HEADER_SIZE;

  g_return_val_if_fail (codec != NULL, NULL);
  g_return_val_if_fail (body != NULL || len == 0, NULL);
  g_return_val_if_fail (error == NULL || *error == NULL, NULL);

  /* The receiver refuses bodies above the limit even when they arrive
   * compressed, so refuse them here rather than send them into the void. */
  if (len > GOSSIP_MAX_FRAME_SIZE)
    goto too_large;

  header[0] = GOSSIP_FRAME_VERSION;
  header[1] = 0;

  inner = maybe_compress (codec, body, len);
  if (inner != NULL)
    {
      header[1] |= GOSSIP_FRAME_FLAG_COMPRESSED;
      inner_data = inner->data;
      inner_len = inner->len;
    }
  else
    {
      inner_data = body;
      inner_len = len;
    }

  if (codec->keyring != NULL)
    header[1] |= GOSSIP_FRAME_FLAG_ENCRYPTED;
  if (codec->has_mac)
    header[1] |= GOSSIP_FRAME_FLAG_SIGNED;
  if (codec->has_sender)
    {
      guint64 fields[3];

      header[1] |= GOSSIP_FRAME_FLAG_SENDER;
      fields[0] = GUINT64_TO_BE (codec->epoch);
      fields[1] = GUINT64_TO_BE ((guint64) atomic_fetch_add (&codec->seq, 1) + 1);
      fields[2] = GUINT64_TO_BE ((guint64) codec->wall (codec->wall_data));
      memcpy (header + header_len, codec->sender_id, 16);
      memcpy (header + header_len + 16, fields, sizeof fields);
      header_len += GOSSIP_FRAME_SENDER_SIZE;
    }

  frame = g_byte_array_sized_new ((guint) (header_len + inner_len + GOSSIP_GCM_NONCE_SIZE +
                                           GOSSIP_GCM_TAG_SIZE + GOSSIP_MAC_SIZE));
  g_byte_array_append (frame, header, (guint) header_len);

  if (codec->keyring != NULL)
    {
      /* The header and sender block are the AAD: flipping a flag bit or
       * claiming another sender breaks the tag. */
      if (!gossip_keyring_seal (codec->keyring, header, header_len,
                                inner_data, inner_len, frame, error))
        return NULL;
    }
  else if (inner_len > 0)
    {
      g_byte_array_append (frame, inner_data, (guint) inner_len);
    }

  if (codec->has_mac)
    {
      guint8 mac[GOSSIP_MAC_SIZE];

      if (!gossip_crypto_mac (codec->mac_key, frame->data, frame->len, mac))
        {
          g_set_error_literal (error, GOSSIP_CLUSTER_ERROR, GOSSIP_CLUSTER_ERROR_FAILED,
                               _("authentication failed (OpenSSL error)"));
          return NULL;
        }
      g_byte_array_append (frame, mac, GOSSIP_MAC_SIZE);
    }

  /* Encryption overhead can push a body just under the limit over it. */
  if (frame->len > GOSSIP_MAX_FRAME_SIZE)
    goto too_large;

  return g_byte_array_free_to_bytes (g_steal_pointer (&frame));

too_large:
  g_set_error (error, GOSSIP_CLUSTER_ERROR, GOSSIP_CLUSTER_ERROR_PAYLOAD_TOO_LARGE,
               _("message of %lu bytes does not fit in a frame (at most %lu bytes)"),
               (unsigned long) len, (unsigned long) GOSSIP_MAX_FRAME_SIZE);
  return NULL;
}

/* Undoes maybe_compress(). */
static GBytes *
decompress_inner (const guint8 *inner, gsize inner_len, gsize max_body, GError **error)
{
  g_autoptr(GBytes) body = NULL;
  g_autoptr(GError) local_error = NULL;
  GossipReader r;
  guint32 declared = 0;
  gsize block_len;
  const guint8 *block = NULL;

  gossip_reader_init (&r, inner, inner_len);
  if (!gossip_reader_get_u32 (&r, &declared))
    {
      g_set_error (error, GOSSIP_WIRE_ERROR, GOSSIP_WIRE_ERROR_TRUNCATED,
                   _("compressed frame body is truncated (%lu bytes)"),
                   (unsigned long) inner_len);
      return NULL;
    }
  if (declared > max_body)
    {
      g_set_error (error, GOSSIP_WIRE_ERROR, GOSSIP_WIRE_ERROR_TOO_LARGE,
                   _("compressed frame declares %lu bytes, more than the limit of %lu"),
                   (unsigned long) declared, (unsigned long) max_body);
      return NULL;
    }

  block_len = gossip_reader_remaining (&r);
  gossip_reader_get_raw (&r, block_len, &block);

  /* Snappy's own header must agree with ours. Passing our length as the
   * limit means nothing larger is ever allocated; a larger claim comes back
   * as TOO_LARGE and a smaller one as a short body, and both are the same
   * malformed frame. */
  body = gossip_snappy_decompress (block, block_len, declared, &local_error);
  if (body == NULL &&
      !g_error_matches (local_error, GOSSIP_WIRE_ERROR, GOSSIP_WIRE_ERROR_TOO_LARGE))
    {
      g_propagate_error (error, g_steal_pointer (&local_error));
      return NULL;
    }
  if (body == NULL || g_bytes_get_size (body) != declared)
    {
      g_set_error (error, GOSSIP_WIRE_ERROR, GOSSIP_WIRE_ERROR_MALFORMED,
                   _("compressed frame declares %lu bytes but its Snappy block holds a different length"),
                   (unsigned long) declared);
      return NULL;
    }

  return g_steal_pointer (&body);
}

GBytes *
gossip_codec_open (GossipCodec *codec, const guint8 *frame, gsize len, GError **error)
{
  return gossip_codec_open_max (codec, frame, len, GOSSIP_MAX_FRAME_SIZE, error);
}

GBytes *
gossip_codec_open_max (GossipCodec *codec, const guint8 *frame, gsize len, gsize max_body, GError **error)
{
  return gossip_codec_open_full (codec, frame, len, max_body, NULL, error);
}

GBytes *
gossip_codec_open_full (GossipCodec       *codec,
                        const guint8      *frame,
                        gsize              len,
                        gsize              max_body,
                        GossipFrameSender *sender,
                        GError           **error)
{
  g_autoptr(GBytes) plain = NULL;
  const guint8 *inner;
  gsize inner_len;
  gsize header_len = FRAME_HEADER_SIZE;
  guint8 version, flags;

  g_return_val_if_fail (codec != NULL, NULL);
  g_return_val_if_fail (frame != NULL || len == 0, NULL);
  g_return_val_if_fail (error == NULL || *error == NULL, NULL);

  max_body = MIN (max_body, GOSSIP_MAX_FRAME_SIZE);
  if (len > GOSSIP_MAX_FRAME_SIZE)
    {
      g_set_error (error, GOSSIP_WIRE_ERROR, GOSSIP_WIRE_ERROR_TOO_LARGE,
                   _("frame of %lu bytes exceeds the limit of %lu"),
                   (unsigned long) len, (unsigned long) GOSSIP_MAX_FRAME_SIZE);
      return NULL;
    }
  if (len < FRAME_HEADER_SIZE)
    {
      g_set_error (error, GOSSIP_WIRE_ERROR, GOSSIP_WIRE_ERROR_TRUNCATED,
                   _("frame is truncated (%lu bytes, at least %d needed)"),
                   (unsigned long) len, FRAME_HEADER_SIZE);
      return NULL;
    }

  version = frame[0];
  flags = frame[1];

  if (version != GOSSIP_FRAME_VERSION)
    {
      g_set_error (error, GOSSIP_WIRE_ERROR, GOSSIP_WIRE_ERROR_VERSION,
                   _("unsupported frame version %u (this node speaks version %u)"),
                   (guint) version, (guint) GOSSIP_FRAME_VERSION);
      return NULL;
    }
  if ((flags & ~GOSSIP_FRAME_KNOWN_FLAGS) != 0)
    {
      g_set_error (error, GOSSIP_WIRE_ERROR, GOSSIP_WIRE_ERROR_MALFORMED,
                   _("frame has unknown flags 0x%02x"),
                   (guint) (flags & ~GOSSIP_FRAME_KNOWN_FLAGS));
      return NULL;
    }

  if (sender != NULL)
    memset (sender, 0, sizeof *sender);
  if ((flags & GOSSIP_FRAME_FLAG_SENDER) != 0)
    {
      if (len < FRAME_HEADER_SIZE + GOSSIP_FRAME_SENDER_SIZE)
        {
          g_set_error (error, GOSSIP_WIRE_ERROR, GOSSIP_WIRE_ERROR_TRUNCATED,
                       _("frame is truncated (%lu bytes, at least %d needed)"),
                       (unsigned long) len, FRAME_HEADER_SIZE + GOSSIP_FRAME_SENDER_SIZE);
          return NULL;
        }
      header_len += GOSSIP_FRAME_SENDER_SIZE;
    }

  /* The MAC first: nothing else about an unauthenticated frame is looked
   * at, and a node without the token refuses signed frames rather than
   * take part in a cluster it cannot authenticate. */
  if ((flags & GOSSIP_FRAME_FLAG_SIGNED) != 0 && !codec->has_mac)
    {
      g_set_error_literal (error, GOSSIP_WIRE_ERROR, GOSSIP_WIRE_ERROR_UNAUTHENTICATED,
                           _("frame is signed with a bearer token but none is configured"));
      return NULL;
    }
  if (codec->has_mac)
    {
      guint8 mac[GOSSIP_MAC_SIZE];

      if ((flags & GOSSIP_FRAME_FLAG_SIGNED) == 0)
        {
          g_set_error_literal (error, GOSSIP_WIRE_ERROR, GOSSIP_WIRE_ERROR_UNAUTHENTICATED,
                               _("frame is not signed but a bearer token is required"));
          return NULL;
        }
      if (len < header_len + GOSSIP_MAC_SIZE)
        {
          g_set_error (error, GOSSIP_WIRE_ERROR, GOSSIP_WIRE_ERROR_TRUNCATED,
                       _("frame is truncated (%lu bytes, at least %d needed)"),
                       (unsigned long) len, (int) (header_len + GOSSIP_MAC_SIZE));
          return NULL;
        }
      len -= GOSSIP_MAC_SIZE;
      if (!gossip_crypto_mac (codec->mac_key, frame, len, mac) ||
          !gossip_crypto_equal (mac, frame + len, GOSSIP_MAC_SIZE))
        {
          g_set_error_literal (error, GOSSIP_WIRE_ERROR, GOSSIP_WIRE_ERROR_UNAUTHENTICATED,
                               _("frame has no valid bearer-token MAC"));
          return NULL;
        }
    }

  if ((flags & GOSSIP_FRAME_FLAG_ENCRYPTED) != 0)
    {
      if (codec->keyring == NULL)
        {
          g_set_error_literal (error, GOSSIP_WIRE_ERROR, GOSSIP_WIRE_ERROR_DECRYPT,
                               _("frame is encrypted but no encryption key is configured"));
          return NULL;
        }

      plain = gossip_keyring_open (codec->keyring, frame, header_len,
                                   frame + header_len, len - header_len,
                                   error);
      if (plain == NULL)
        return NULL;
      inner = g_bytes_get_data (plain, &inner_len);
    }
  else
    {
      /* Accepting plaintext on a keyed node would let anyone on the path
       * inject packets, which is what the key is there to prevent. */
      if (codec->keyring != NULL)
        {
          g_set_error_literal (error, GOSSIP_WIRE_ERROR, GOSSIP_WIRE_ERROR_NOT_ENCRYPTED,
                               _("frame is not encrypted but an encryption key is required"));
          return NULL;
        }

      inner = frame + header_len;
      inner_len = len - header_len;
    }

  if (sender != NULL && (flags & GOSSIP_FRAME_FLAG_SENDER) != 0)
    {
      guint64 fields[3];

      sender->present = TRUE;
      sender->authenticated = codec->has_mac || codec->keyring != NULL;
      memcpy (sender->id, frame + FRAME_HEADER_SIZE, 16);
      memcpy (fields, frame + FRAME_HEADER_SIZE + 16, sizeof fields);
      sender->epoch = GUINT64_FROM_BE (fields[0]);
      sender->seq = GUINT64_FROM_BE (fields[1]);
      sender->wall_ms = (gint64) GUINT64_FROM_BE (fields[2]);
    }

  if ((flags & GOSSIP_FRAME_FLAG_COMPRESSED) != 0)
    return decompress_inner (inner, inner_len, max_body, error);

  if (inner_len > max_body)
    {
      g_set_error (error, GOSSIP_WIRE_ERROR, GOSSIP_WIRE_ERROR_TOO_LARGE,
                   _("frame body of %lu bytes exceeds the limit of %lu"),
                   (unsigned long) inner_len, (unsigned long) max_body);
      return NULL;
    }

  if (plain != NULL)
    return g_steal_pointer (&plain);
  return g_bytes_new (inner, inner_len);
}
