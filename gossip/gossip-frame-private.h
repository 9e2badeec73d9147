/* gossip-frame-private.h — the outer frame: version, flags, compression, encryption.
 *
 * See gossip/PROTOCOL.md, "Frame".
 *
 * SPDX-License-Identifier: MIT
 */
#pragma once

#include <glib.h>
#include "gossip-crypto-private.h"

G_BEGIN_DECLS

#define GOSSIP_FRAME_VERSION        2
#define GOSSIP_FRAME_FLAG_ENCRYPTED 0x01
#define GOSSIP_FRAME_FLAG_COMPRESSED 0x02
#define GOSSIP_FRAME_FLAG_SIGNED    0x04   /* an HMAC trailer (bearer token) */
#define GOSSIP_FRAME_FLAG_SENDER    0x08   /* a sender block after the header */
#define GOSSIP_FRAME_KNOWN_FLAGS    0x0f
/* Sender block: node id, epoch, sequence number, wall-clock ms. */
#define GOSSIP_FRAME_SENDER_SIZE    (16 + 8 + 8 + 8)
/* Largest frame accepted from the network, and the largest body after decompression. */
#define GOSSIP_MAX_FRAME_SIZE       (8 * 1024 * 1024)
/* Largest body a datagram may carry, after decompression: a datagram is at
 * most 65,507 bytes on the wire, and Snappy expands up to ~21x, so without
 * this bound a few crafted datagrams would cost megabytes each. Larger
 * bodies are sent over a stream. */
#define GOSSIP_MAX_DATAGRAM_BODY    (64 * 1024)

typedef struct _GossipCodec GossipCodec;

/* Who sealed a frame, from its sender block. */
typedef struct {
  gboolean present;            /* the frame had a sender block */
  gboolean authenticated;      /* ... and a MAC or GCM tag covered it */
  guint8   id[16];
  guint64  epoch;              /* random per cluster start */
  guint64  seq;                /* per epoch, from 1 */
  gint64   wall_ms;            /* sender's clock when sealed */
} GossipFrameSender;

/* The sender's wall clock in ms for sender blocks. */
typedef gint64 (*GossipCodecWallFunc) (gpointer data);

/* @keyring may be NULL (no encryption). @compress: compress bodies of at least
 * @compress_min_size bytes when that makes them smaller. Decoding always
 * understands compressed frames, whatever @compress says. Immutable and
 * thread-safe once created. */
GossipCodec *gossip_codec_new   (GossipKeyring *keyring, gboolean compress, gsize compress_min_size);
GossipCodec *gossip_codec_ref   (GossipCodec *codec);
void         gossip_codec_unref (GossipCodec *codec);
gboolean     gossip_codec_is_encrypted (GossipCodec *codec);
/* Part of construction (before the codec is shared). With a token, every
 * frame sealed carries an HMAC-SHA256 under a key derived from it and
 * every frame opened must carry a valid one; fails when the crypto module
 * cannot be loaded. */
gboolean     gossip_codec_set_token  (GossipCodec *codec, const char *token, GError **error);
gboolean     gossip_codec_is_authenticated (GossipCodec *codec);
/* Part of construction: frames sealed carry a sender block with @id,
 * @epoch, a sequence number and the time @wall returns. */
void         gossip_codec_set_sender (GossipCodec *codec, const guint8 *id, guint64 epoch,
                                      GossipCodecWallFunc wall, gpointer wall_data);

/* body -> frame */
GBytes      *gossip_codec_seal  (GossipCodec *codec, const guint8 *body, gsize len, GError **error);
/* frame -> body. With a keyring, a plaintext frame fails with
 * GOSSIP_WIRE_ERROR_NOT_ENCRYPTED and a frame no key opens with
 * GOSSIP_WIRE_ERROR_DECRYPT. Every length is checked before use. */
GBytes      *gossip_codec_open  (GossipCodec *codec, const guint8 *frame, gsize len, GError **error);
/* Same, with the body limited to @max_body bytes (at most
 * GOSSIP_MAX_FRAME_SIZE): a larger body, or a compressed one that declares
 * more, fails with GOSSIP_WIRE_ERROR_TOO_LARGE before anything is
 * decompressed. gossip_codec_open() is this with GOSSIP_MAX_FRAME_SIZE. */
GBytes      *gossip_codec_open_max (GossipCodec *codec, const guint8 *frame, gsize len, gsize max_body,
                                    GError **error);
/* Same, and fills @sender (may be NULL). With a token, a frame without a
 * valid MAC fails with GOSSIP_WIRE_ERROR_UNAUTHENTICATED; so does a signed
 * frame on a codec without a token. */
GBytes      *gossip_codec_open_full (GossipCodec *codec, const guint8 *frame, gsize len, gsize max_body,
                                     GossipFrameSender *sender, GError **error);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (GossipCodec, gossip_codec_unref)

G_END_DECLS
