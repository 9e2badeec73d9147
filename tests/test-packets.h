/* test-packets.h — packets built by hand for the hostile and paging tests.
 *
 * Bodies only (kind, header flags, fields); seal them with a codec.
 *
 * SPDX-License-Identifier: MIT
 */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

/* A USER packet from @origin (best effort), a broadcast or direct, with
 * TTL 1; @payload is consumed if floating. */
GBytes *test_user_packet     (const guint8 *origin, guint16 type, guint64 msg_id, gboolean broadcast,
                              GVariant *payload);
/* A PING_REQ from @requester about @target, with no updates. */
GBytes *test_ping_req_packet (guint32 seq, const guint8 *target, const char *target_addr,
                              const guint8 *requester, const char *requester_addr);

G_END_DECLS
