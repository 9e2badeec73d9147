/* fuzz-frame.c — libFuzzer target for gossip_codec_open().
 *
 * Every input is opened by a codec without a key and by one with a key.
 * Random bytes never carry a valid tag, so the input is also sealed with
 * the header bytes it starts with as AAD: that reaches what lies behind
 * decryption (the decompressor), and must decode exactly like the same
 * frame sent in the clear. A datagram's open (body limited to
 * GOSSIP_MAX_DATAGRAM_BODY) must agree with the stream's wherever the body
 * fits, and refuse it as too large where it does not. Likewise an input
 * with the SIGNED flag is given a valid bearer-token MAC: it must open
 * with the token exactly as it opens in the clear without the flag.
 * Finally the input is used as a body and must survive seal + open with
 * compression on, with a key and with a token (and a sender block).
 *
 * SPDX-License-Identifier: MIT
 */
#include <string.h>

#include "fuzz-common.h"
#include "gossip-crypto-private.h"
#include "gossip-error.h"
#include "gossip-frame-private.h"

static GossipKeyring *frame_ring;
static GossipCodec *frame_plain;
static GossipCodec *frame_keyed;
static GossipCodec *frame_squeeze;
static GossipCodec *frame_keyed_squeeze;
static GossipCodec *frame_token;
static GossipCodec *frame_token_squeeze;
static guint8 frame_mac_key[GOSSIP_MAC_KEY_SIZE];

#define FUZZ_TOKEN "fuzzing token"

static gint64
fuzz_wall (gpointer data)
{
  return 1700000000000;
}

static void
frame_init (void)
{
  if (frame_ring != NULL)
    return;
  frame_ring = gossip_keyring_new (FUZZ_KEY, FUZZ_KEY_LEN, NULL);
  FUZZ_CHECK (frame_ring != NULL);
  frame_plain = gossip_codec_new (NULL, FALSE, 0);
  frame_keyed = gossip_codec_new (frame_ring, FALSE, 0);
  frame_squeeze = gossip_codec_new (NULL, TRUE, 16);
  frame_keyed_squeeze = gossip_codec_new (frame_ring, TRUE, 16);
  frame_token = gossip_codec_new (NULL, FALSE, 0);
  FUZZ_CHECK (gossip_codec_set_token (frame_token, FUZZ_TOKEN, NULL));
  frame_token_squeeze = gossip_codec_new (NULL, TRUE, 16);
  FUZZ_CHECK (gossip_codec_set_token (frame_token_squeeze, FUZZ_TOKEN, NULL));
  gossip_codec_set_sender (frame_token_squeeze, (const guint8 *) "0123456789abcdef", 7, fuzz_wall, NULL);
  FUZZ_CHECK (gossip_crypto_derive (FUZZ_TOKEN, "frame-mac v2", frame_mac_key, sizeof frame_mac_key, NULL));
}

static GBytes *
frame_open (GossipCodec *codec, const guint8 *data, gsize size)
{
  g_autoptr(GError) error = NULL;
  GBytes *body = gossip_codec_open (codec, data, size, &error);

  FUZZ_CHECK ((body == NULL) == (error != NULL));
  if (body != NULL)
    FUZZ_CHECK (g_bytes_get_size (body) <= GOSSIP_MAX_FRAME_SIZE);
  else
    FUZZ_CHECK (error->domain == GOSSIP_WIRE_ERROR);
  return body;
}

static void
frame_round_trip (GossipCodec *codec, const guint8 *data, gsize size)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GBytes) frame = gossip_codec_seal (codec, data, size, &error);
  g_autoptr(GBytes) body = NULL;

  FUZZ_CHECK (frame != NULL);
  body = frame_open (codec, g_bytes_get_data (frame, NULL), g_bytes_get_size (frame));
  FUZZ_CHECK (body != NULL);
  FUZZ_CHECK (g_bytes_get_size (body) == size);
  FUZZ_CHECK (size == 0 || memcmp (g_bytes_get_data (body, NULL), data, size) == 0);
}

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  g_autoptr(GBytes) plain_body = NULL;
  g_autoptr(GBytes) keyed_body = NULL;

  fuzz_setup ();
  frame_init ();

  plain_body = frame_open (frame_plain, data, size);
  keyed_body = frame_open (frame_keyed, data, size);

  {
    g_autoptr(GError) error = NULL;
    g_autoptr(GBytes) dgram = gossip_codec_open_max (frame_plain, data, size, GOSSIP_MAX_DATAGRAM_BODY, &error);

    FUZZ_CHECK ((dgram == NULL) == (error != NULL));
    if (plain_body == NULL)
      FUZZ_CHECK (dgram == NULL);
    else if (g_bytes_get_size (plain_body) <= GOSSIP_MAX_DATAGRAM_BODY)
      FUZZ_CHECK (dgram != NULL && g_bytes_equal (dgram, plain_body));
    else
      FUZZ_CHECK (g_error_matches (error, GOSSIP_WIRE_ERROR, GOSSIP_WIRE_ERROR_TOO_LARGE));
  }

  if (size >= 2 && size <= GOSSIP_MAX_FRAME_SIZE - GOSSIP_GCM_NONCE_SIZE - GOSSIP_GCM_TAG_SIZE &&
      (data[1] & GOSSIP_FRAME_FLAG_ENCRYPTED) != 0)
    {
      g_autoptr(GByteArray) sealed = g_byte_array_new ();
      g_autofree guint8 *clear = g_memdup2 (data, size);
      g_autoptr(GBytes) via_key = NULL;
      g_autoptr(GBytes) via_clear = NULL;

      /* The AAD is the header and, when flagged, the sender block. */
      gsize aad = (data[1] & GOSSIP_FRAME_FLAG_SENDER) != 0 ? 2 + GOSSIP_FRAME_SENDER_SIZE : 2;

      aad = MIN (aad, size);
      g_byte_array_append (sealed, data, (guint) aad);
      FUZZ_CHECK (gossip_keyring_seal (frame_ring, data, aad, data + aad, size - aad, sealed, NULL));
      via_key = frame_open (frame_keyed, sealed->data, sealed->len);

      clear[1] &= (guint8) ~GOSSIP_FRAME_FLAG_ENCRYPTED;
      via_clear = frame_open (frame_plain, clear, size);

      FUZZ_CHECK ((via_key == NULL) == (via_clear == NULL));
      if (via_key != NULL)
        FUZZ_CHECK (g_bytes_equal (via_key, via_clear));
    }

  if (size >= 2 && size <= GOSSIP_MAX_FRAME_SIZE - GOSSIP_MAC_SIZE &&
      (data[1] & GOSSIP_FRAME_FLAG_SIGNED) != 0)
    {
      g_autofree guint8 *signed_frame = g_malloc (size + GOSSIP_MAC_SIZE);
      g_autofree guint8 *clear = g_memdup2 (data, size);
      g_autoptr(GBytes) via_token = NULL;
      g_autoptr(GBytes) via_clear = NULL;

      memcpy (signed_frame, data, size);
      FUZZ_CHECK (gossip_crypto_mac (frame_mac_key, data, size, signed_frame + size));
      via_token = frame_open (frame_token, signed_frame, size + GOSSIP_MAC_SIZE);
      clear[1] &= (guint8) ~GOSSIP_FRAME_FLAG_SIGNED;
      via_clear = frame_open (frame_plain, clear, size);
      FUZZ_CHECK ((via_token == NULL) == (via_clear == NULL));
      if (via_token != NULL)
        FUZZ_CHECK (g_bytes_equal (via_token, via_clear));
    }

  /* Random bytes never carry a valid MAC. */
  {
    g_autoptr(GBytes) forged = frame_open (frame_token, data, size);
    FUZZ_CHECK (forged == NULL);
  }

  if (size <= 64 * 1024)
    {
      frame_round_trip (frame_squeeze, data, size);
      frame_round_trip (frame_keyed_squeeze, data, size);
      frame_round_trip (frame_token_squeeze, data, size);
    }

  return 0;
}
