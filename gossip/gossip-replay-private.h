/* gossip-replay-private.h — the replay window: authenticated frames seen.
 *
 * See gossip/PROTOCOL.md, "Replay window".
 *
 * SPDX-License-Identifier: MIT
 */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

/* How far a frame's wall-clock stamp may be from the receiver's clock. */
#define GOSSIP_REPLAY_SKEW_MS     (30 * 1000)
/* Frames remembered at most, over all senders. */
#define GOSSIP_REPLAY_MAX_ENTRIES 65536

typedef enum {
  GOSSIP_REPLAY_FRESH,        /* first sight: accepted and remembered */
  GOSSIP_REPLAY_STALE,        /* stamped too far from now */
  GOSSIP_REPLAY_REPEATED,     /* seen before, or below the sender's floor */
} GossipReplayVerdict;

typedef struct _GossipReplayWindow GossipReplayWindow;

/* @max_entries: frames remembered; when full the oldest is forgotten and
 * its sender's floor raised to it, so it still cannot be replayed. Not
 * thread-safe: one owner thread. */
GossipReplayWindow  *gossip_replay_window_new   (guint max_entries, gint64 skew_ms);
void                 gossip_replay_window_free  (GossipReplayWindow *window);
GossipReplayVerdict  gossip_replay_window_check (GossipReplayWindow *window, const guint8 *sender_id,
                                                 guint64 epoch, guint64 seq, gint64 wall_ms, gint64 now_ms);
/* Frames and senders currently remembered (tests). */
guint                gossip_replay_window_size  (GossipReplayWindow *window, guint *senders);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (GossipReplayWindow, gossip_replay_window_free)

G_END_DECLS
