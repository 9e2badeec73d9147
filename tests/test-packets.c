/* test-packets.c — packets built by hand for the hostile and paging tests.
 *
 * SPDX-License-Identifier: MIT
 */
#include "config.h"

#include "test-packets.h"
#include "gossip-private.h"
#include "gossip-payload-private.h"

GBytes *
test_user_packet (const guint8 *origin,
                  guint16       type,
                  guint64       msg_id,
                  gboolean      broadcast,
                  GVariant     *payload)
{
  GossipWriter w;
  g_autoptr(GBytes) encoded = gossip_payload_encode (payload, GOSSIP_MAX_PAYLOAD_SIZE, NULL);
  gsize len;
  const guint8 *data;

  g_assert_nonnull (encoded);
  data = g_bytes_get_data (encoded, &len);
  gossip_writer_init (&w);
  gossip_writer_put_u8 (&w, GOSSIP_PACKET_USER);
  gossip_writer_put_u8 (&w, 0);
  gossip_writer_put_u8 (&w, broadcast ? GOSSIP_USER_FLAG_BROADCAST : 0);
  gossip_writer_put_u16 (&w, type);
  gossip_writer_put_raw (&w, origin, GOSSIP_UUID_SIZE);
  gossip_writer_put_u64 (&w, msg_id);
  gossip_writer_put_u8 (&w, 1);
  gossip_writer_put_blob (&w, data, len);
  return gossip_writer_steal_bytes (&w);
}

GBytes *
test_ping_req_packet (guint32       seq,
                      const guint8 *target,
                      const char   *target_addr,
                      const guint8 *requester,
                      const char   *requester_addr)
{
  GossipWriter w;

  gossip_writer_init (&w);
  gossip_writer_put_u8 (&w, GOSSIP_PACKET_PING_REQ);
  gossip_writer_put_u8 (&w, 0);
  gossip_writer_put_u32 (&w, seq);
  gossip_writer_put_raw (&w, target, GOSSIP_UUID_SIZE);
  gossip_writer_put_string (&w, target_addr);
  gossip_writer_put_raw (&w, requester, GOSSIP_UUID_SIZE);
  gossip_writer_put_string (&w, requester_addr);
  gossip_writer_put_u16 (&w, 0);
  return gossip_writer_steal_bytes (&w);
}
