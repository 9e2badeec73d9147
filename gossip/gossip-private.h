/* gossip-private.h — engine internals shared by the cluster's source files.
 *
 * Threading: everything below the "engine thread only" line is touched only
 * on the cluster's engine context. The snapshot block is shared with API
 * callers on any thread and guarded by GossipCluster.lock, which is never
 * held while a signal is emitted or user code runs.
 *
 * SPDX-License-Identifier: MIT
 */
#pragma once

#include <glib/gi18n-lib.h>

#include "gossip-cluster.h"
#include "gossip-leader-election.h"
#include "gossip-config-private.h"
#include "gossip-frame-private.h"
#include "gossip-replay-private.h"
#include "gossip-uuid-private.h"
#include "gossip-buffer-private.h"

G_BEGIN_DECLS

void _gossip_i18n_init (void);

/* ---- snapshots ---------------------------------------------------------- */

typedef struct {
  gint    ref_count;
  char  **strv;
} GossipStrv;

/* One allocation per snapshot: the id and the address are stored inline,
 * the app version is an interned GRefString (nearly always the same across
 * a cluster), and tags and metadata are shared immutable references (the
 * empty ones are process-wide singletons). */
struct _GossipNode
{
  gint             ref_count;
  GossipNodeState  state;
  guint64          incarnation;
  gboolean         is_local;
  guint64          metadata_version;
  char            *app_version;       /* GRefString */
  GossipStrv      *tags;              /* may be NULL */
  GHashTable      *metadata;          /* immutable once published */
  char             id[GOSSIP_UUID_STRING_SIZE];
  char             address[];
};

GossipNode  *_gossip_node_new      (const guint8 *uuid, const char *address, GossipNodeState state,
                                    guint64 incarnation, const char *app_version, GossipStrv *tags,
                                    GHashTable *metadata, guint64 metadata_version, gboolean is_local);
GossipStrv  *_gossip_strv_new      (const char * const *strv);
GossipStrv  *_gossip_strv_ref      (GossipStrv *s);
void         _gossip_strv_unref    (GossipStrv *s);
GossipStrv  *_gossip_strv_empty    (void);
GHashTable  *_gossip_metadata_new  (void);
GHashTable  *_gossip_metadata_empty (void);

/* ---- messages ----------------------------------------------------------- */

typedef void (*GossipReplyFunc) (GossipMessage *message, GBytes *payload_or_null,
                                 const char *error_or_null, gpointer user_data);

GossipMessage *_gossip_message_new (guint16 type, GossipNode *sender, GVariant *payload,
                                    gint64 deadline, GossipReplyFunc reply_func,
                                    gpointer reply_data, GDestroyNotify reply_notify);

/* ---- wire packets (gossip-packet.c) -------------------------------------- */

#define GOSSIP_PROTOCOL_VERSION 1

/* Every body starts with [u8 kind][u8 header flags]; no header flag is
 * defined (the bearer token of version 1 is now a frame MAC). */

typedef enum {
  GOSSIP_PACKET_PING      = 1,
  GOSSIP_PACKET_ACK       = 2,
  GOSSIP_PACKET_PING_REQ  = 3,
  GOSSIP_PACKET_NACK      = 4,
  GOSSIP_PACKET_GOSSIP    = 5,
  GOSSIP_PACKET_JOIN      = 6,
  GOSSIP_PACKET_JOIN_REPLY= 7,
  GOSSIP_PACKET_PUSH_PULL = 8,
  GOSSIP_PACKET_USER      = 9,
  GOSSIP_PACKET_REPLY     = 10,
} GossipPacketKind;

typedef enum {
  GOSSIP_UPDATE_ALIVE   = 1,
  GOSSIP_UPDATE_SUSPECT = 2,
  GOSSIP_UPDATE_DEAD    = 3,
  GOSSIP_UPDATE_LEAVE   = 4,
} GossipUpdateKind;

/* How far an update may raise what we know of a member's incarnation
 * (PROTOCOL.md, "Updates"): a node adds one per refutation or change, so a
 * claim 2^32 above what we know is a forgery meant to pin the member (a
 * DEAD at the maximum could never be refuted). Refused and counted. */
#define GOSSIP_MAX_INCARNATION_JUMP (G_GUINT64_CONSTANT (1) << 32)

/* One membership update ("alive node X at incarnation N with this address,
 * metadata and tags", "X suspected at N", ...). */
typedef struct {
  GossipUpdateKind kind;
  guint8      id[GOSSIP_UUID_SIZE];
  guint64     incarnation;
  guint8      from[GOSSIP_UUID_SIZE];  /* accuser (suspect/dead) */
  /* alive only: */
  char       *address;
  guint64     meta_version;
  GHashTable *metadata;                /* may be NULL */
  GossipStrv *tags;                    /* may be NULL */
  char       *app_version;
} GossipUpdate;

/* A full-state record: an ALIVE update followed by the state it is in. */
typedef struct {
  GossipUpdate    alive;
  GossipNodeState state;
} GossipRecord;

void      _gossip_update_clear   (GossipUpdate *u);
void      _gossip_update_write   (GossipWriter *w, const GossipUpdate *u);
gboolean  _gossip_update_read    (GossipReader *r, GossipUpdate *u);
/* A record: an ALIVE update and a u8 state. */
gboolean  _gossip_record_read    (GossipReader *r, GossipRecord *rec);

/* State pages (PROTOCOL.md, "State pages"): [u8 flags][id cursor][u32
 * count][records in strictly increasing id order after the cursor]. */
#define GOSSIP_STATE_PAGE_MORE    0x01
#define GOSSIP_MAX_STATE_RECORDS  100000
typedef void (*GossipRecordFunc) (GossipRecord *rec, gpointer data);
/* Reads one page, calling @func (may be NULL) with each record in order;
 * FALSE when malformed, out of order, or MORE on an empty page (records
 * before the fault have been passed to @func). @last receives the last
 * id (the cursor when empty), @more the MORE flag. */
gboolean  _gossip_state_page_read (GossipReader *r, guint8 *last, gboolean *more,
                                   GossipRecordFunc func, gpointer data);

#define GOSSIP_USER_FLAG_WANT_REPLY 0x01
#define GOSSIP_USER_FLAG_RELIABLE   0x02
#define GOSSIP_USER_FLAG_TARGET     0x04
#define GOSSIP_USER_FLAG_TAG        0x08
#define GOSSIP_USER_FLAG_BROADCAST  0x10

typedef struct {
  guint8      flags;
  guint16     type;
  guint8      origin[GOSSIP_UUID_SIZE];
  guint64     msg_id;
  guint8      ttl;
  guint32     timeout_ms;              /* requests: requester's deadline */
  guint8      target[GOSSIP_UUID_SIZE];
  char       *tag;
  const guint8 *payload;               /* points into the decoded body */
  gsize       payload_len;
} GossipUserPacket;

typedef enum {
  GOSSIP_REPLY_OK         = 0,
  GOSSIP_REPLY_NO_HANDLER = 1,
  GOSSIP_REPLY_FAILED     = 2,
  GOSSIP_REPLY_REJECTED   = 3,
} GossipReplyStatus;

/* ---- the engine thread and the node-id registry (gossip-engine.c) ------- */

typedef struct _GossipEngine GossipEngine;
GossipEngine *_gossip_engine_acquire (void);
void          _gossip_engine_release (GossipEngine *engine);
GMainContext *_gossip_engine_get_context (GossipEngine *engine);
gboolean      _gossip_registry_add    (GossipCluster *self, GError **error);
void          _gossip_registry_remove (GossipCluster *self);

/* ---- members (engine thread only) ---------------------------------------- */

/* The engine's view of one member. What the published snapshot already
 * holds (id, address, app version, tags, metadata) is read from it; state
 * and incarnation are the engine's own, copied into each new snapshot.
 * The uuid comes first: GossipCluster.members is a set of members keyed by
 * it, looked up with a bare uuid. */
typedef struct {
  guint8           uuid[GOSSIP_UUID_SIZE];
  GossipNode      *snapshot;          /* replaced under GossipCluster.lock */
  gint64           state_time;        /* clock time of the last state change */
  struct _GossipSuspicion *suspicion; /* while suspect: timer, accusers */
  guint64          incarnation;
  guint32          heard_ms;          /* clock ms (truncated) of its last packet, 0: never */
  gint             live_index;        /* index in GossipCluster.live, or -1 */
  /* Two halves of one word, so that a member fits a 64-byte allocation. */
  guint16          state;             /* a GossipNodeState */
  guint16          is_local;          /* boolean */
} GossipMember;

/* The frame being handled (PROTOCOL.md, "Strangers"). */
typedef struct {
  const char        *from;            /* source address as the transport saw it */
  GossipFrameSender  sender;          /* its sender block */
  GossipMember      *member;          /* the known node it is from, or NULL */
  gboolean           trusted;         /* from a member, or authenticated by key or token */
} GossipInbound;

typedef struct {
  guint            id;
  guint16          type;
  gboolean         with_reply;
  gboolean         internal;          /* owned by an election: unhandle refuses */
  GMainContext    *context;
  GossipMessageFunc func;
  gpointer         user_data;
  GDestroyNotify   notify;
  gint             ref_count;
} GossipHandler;

typedef enum {
  GOSSIP_LIFECYCLE_NEW,
  GOSSIP_LIFECYCLE_RUNNING,
  GOSSIP_LIFECYCLE_STOPPED,
} GossipLifecycle;

struct _GossipCluster
{
  GObject           parent_instance;

  GossipConfig     *config;
  GMainContext     *context;
  GossipEngine     *engine;           /* NULL when the context was injected */
  GossipClock      *clock;
  GossipTransport  *transport;
  gboolean          own_transport;
  GossipCodec      *codec;
  GossipReplayWindow *replay;         /* engine thread only */
  GossipInbound    *inbound;          /* engine thread, while a received frame is handled */
  GRand            *rand;

  guint8            local_uuid[GOSSIP_UUID_SIZE];
  char             *local_id;
  GossipStrv       *local_tags;

  /* ---- shared with callers, under @lock -------------------------------- */
  GMutex            lock;
  GossipLifecycle   lifecycle;
  gboolean          left;
  char             *advertise;
  /* Members (owned), keyed by uuid: changed by the engine thread under
   * @lock, read by other threads under it (member->snapshot only). */
  GHashTable       *members;
  guint             snap_counts[4];
  GossipNode       *snap_local;
  GHashTable       *local_metadata;   /* current local map (immutable, replaced) */
  guint64           local_meta_version;
  GHashTable       *handlers;         /* GUINT_TO_POINTER(type) -> GossipHandler* */
  GossipClusterStats stats;

  /* ---- engine thread only ----------------------------------------------- */
  GossipMember     *local;
  /* Alive/suspect remote members (borrowed), also the probe rotation:
   * [0, probe_index) were probed this round, the order is shuffled for
   * each round. */
  GPtrArray        *live;
  guint             probe_index;
  GHashTable       *probes;           /* seq -> GossipProbe* */
  guint32           next_seq;
  guint             local_health;
  gint64            srtt, rttvar;     /* round trip of direct acks (µs; 0: none yet) */
  GQueue            broadcasts;       /* GossipBroadcast* for piggybacking */
  gsize             broadcast_bytes;  /* their encodings, in total */
  GHashTable       *history;          /* dedup keys (point into history_order entries) */
  GQueue            history_order;    /* oldest first */
  GHashTable       *requests;         /* msg id -> GossipRequest* */
  GPtrArray        *seeds;            /* addresses given to join() */
  GQueue            events;           /* deferred emissions (linked Events) */
  gboolean          flushing;
  guint             timers[8];
  guint             recovery_rounds;
  gint64            fast_probe_until;
  gboolean          early_push_pull;  /* the post-join state exchange was scheduled */
  guint64           push_pulls_started; /* state exchanges initiated (tests) */
  gint              pending_sends;    /* atomic: sends queued to the engine */
  GossipTick       *tick;             /* outstanding tick, if any */
  GPtrArray        *children;         /* ChildEntry*, under @lock */
  gint64            tick_period;
  gint64            tick_emitted_at;
};

enum {
  GOSSIP_TIMER_PROBE,
  GOSSIP_TIMER_GOSSIP,
  GOSSIP_TIMER_PUSH_PULL,
  GOSSIP_TIMER_CLEANUP,
  GOSSIP_TIMER_RECOVERY,
  GOSSIP_TIMER_TICK,
  GOSSIP_TIMER_HISTORY,
  GOSSIP_TIMER_SUSPECT_RETRY,
};

/* gossip-cluster.c */
void      _gossip_cluster_invoke_sync   (GossipCluster *self, GSourceFunc func, gpointer data);
void      _gossip_cluster_invoke_async  (GossipCluster *self, GSourceFunc func, gpointer data);
gboolean  _gossip_cluster_on_engine     (GossipCluster *self);
void      _gossip_cluster_flush_events  (GossipCluster *self);
void      _gossip_cluster_discard_events (GossipCluster *self);
void      _gossip_cluster_emit_state    (GossipCluster *self, GossipNode *node, GossipNodeState old_state);
void      _gossip_cluster_emit_metadata (GossipCluster *self, GossipNode *node);
void      _gossip_cluster_emit_tick     (GossipCluster *self, GossipTick *tick);
void      _gossip_cluster_publish       (GossipCluster *self, GossipMember *m, const GossipUpdate *info);
void      _gossip_cluster_unpublish     (GossipCluster *self, GossipMember *m);
guint     _gossip_cluster_timer         (GossipCluster *self, gint64 delay_us, GossipTimeoutFunc func);
void      _gossip_cluster_send_body     (GossipCluster *self, const char *address, GossipWriter *body, gboolean reliable);
void      _gossip_cluster_begin_body    (GossipCluster *self, GossipWriter *w, GossipPacketKind kind, gboolean stream);
GBytes   *_gossip_cluster_seal          (GossipCluster *self, GossipWriter *body);
/* The one way in for a received frame (PROTOCOL.md, "Authentication"). */
typedef enum {
  GOSSIP_OPEN_OK,
  GOSSIP_OPEN_DROPPED,                /* malformed, oversized, unexpected kind */
  GOSSIP_OPEN_UNAUTHENTICATED,        /* wrong key or token, none where one is needed */
  GOSSIP_OPEN_REPLAYED,               /* stale stamp or seen before */
  GOSSIP_OPEN_PEER_REFUSED,           /* the peer's "authentication failed" notice */
} GossipOpenResult;
GBytes   *_gossip_cluster_open          (GossipCluster *self, GBytes *frame, gboolean reliable, guint8 expected,
                                         GossipReader *r, guint8 *kind, GossipFrameSender *sender,
                                         GossipOpenResult *result);
gint64    _gossip_cluster_jitter        (GossipCluster *self, gint64 period, guint divisor);
gboolean  _gossip_cluster_check_running (GossipCluster *self, gboolean allow_new, GError **error);

/* gossip-tick.c */
void      _gossip_cluster_start_ticks   (GossipCluster *self);

/* gossip-membership.c */
void      _gossip_membership_init       (GossipCluster *self);
void      _gossip_membership_finalize   (GossipCluster *self);
void      _gossip_membership_start      (GossipCluster *self);
void      _gossip_membership_stop       (GossipCluster *self);
void      _gossip_membership_receive    (GossipCluster *self, GossipPacketKind kind, GossipReader *r,
                                         gboolean reliable, GossipTransportReply *reply);
void      _gossip_membership_join       (GossipCluster *self, char **peers, GTask *task);
void      _gossip_membership_leave      (GossipCluster *self, GTask *task);
void      _gossip_membership_local_changed (GossipCluster *self);
void      _gossip_membership_reject_join (GossipCluster *self, GossipTransportReply *reply, const char *reason);
guint     _gossip_fanout_for            (guint t, double multiplier);
guint     _gossip_membership_fanout     (GossipCluster *self);
guint     _gossip_membership_ttl        (GossipCluster *self);
gint64    _gossip_push_pull_period_for  (gint64 interval, guint known, double multiplier);
typedef enum {
  GOSSIP_PICK_RECENT_DEAD = 1 << 0,   /* also one member dead for less than 30 s */
  GOSSIP_PICK_ALIVE_ONLY  = 1 << 1,   /* no suspects (they are likely unreachable) */
} GossipPickFlags;
GPtrArray*_gossip_membership_pick       (GossipCluster *self, guint n, const char *tag,
                                         const guint8 *exclude1, const guint8 *exclude2,
                                         GossipPickFlags flags);
GossipMember *_gossip_membership_lookup (GossipCluster *self, const guint8 *uuid);
gboolean  _gossip_membership_is_local   (GossipCluster *self, const guint8 *uuid);
guint     _gossip_membership_count_alive_suspect (GossipCluster *self);
void      _gossip_membership_live_swap  (GossipCluster *self, guint i, guint j);
void      _gossip_membership_set_state  (GossipCluster *self, GossipMember *m, GossipNodeState state);
GPtrArray*_gossip_membership_read_updates (GossipCluster *self, GossipReader *r, gboolean *stale_about_us);
/* Benchmarks and tests (engine thread): merges one state page
 * ([u8 flags][id cursor][u32 count][records]) as if a member sent it. */
gboolean  _gossip_membership_merge_page (GossipCluster *self, GossipReader *r);
/* Validates updates without applying them (what a stranger piggybacks). */
gboolean  _gossip_membership_skip_updates (GossipReader *r);
/* Whether the frame being handled is from a stranger (not trusted); when
 * @claimed is given, also refuses (and counts) a frame whose sender block
 * names another node than the packet's own sender field. */
gboolean  _gossip_cluster_inbound_refused (GossipCluster *self, const guint8 *claimed);
/* Same host in two "host:port" (or URL) addresses; a host name matches
 * anything (it is not resolved). */
gboolean  _gossip_address_same_host     (const char *a, const char *b);

/* gossip-dissemination.c */
#define GOSSIP_MAX_PIGGYBACK_UPDATES 1024
#define GOSSIP_PIGGYBACK_BUDGET      900    /* bytes of updates added to a datagram */
typedef struct _GossipBroadcast GossipBroadcast;
void      _gossip_broadcast_free        (GossipBroadcast *b);
void      _gossip_update_from_member    (GossipMember *m, GossipUpdateKind kind, const guint8 *from,
                                         GossipUpdate *u);
GBytes   *_gossip_update_encode         (const GossipUpdate *u);
void      _gossip_dissemination_queue   (GossipCluster *self, const guint8 *id, GBytes *encoded);
void      _gossip_dissemination_queue_news (GossipCluster *self, GPtrArray *news);
void      _gossip_dissemination_spread  (GossipCluster *self, const GossipUpdate *u, const guint8 *exclude);
void      _gossip_dissemination_announce_local (GossipCluster *self);
void      _gossip_dissemination_write_piggyback (GossipCluster *self, GossipWriter *w, gsize budget,
                                                 GPtrArray *extra);
GBytes   *_gossip_dissemination_view_of (GossipCluster *self, GossipMember *m);
void      _gossip_dissemination_correct_stale_view (GossipCluster *self, const char *address);
void      _gossip_dissemination_handle_gossip (GossipCluster *self, GossipReader *r);
void      _gossip_dissemination_timer_fire (gpointer data);

/* gossip-probe.c */
#define GOSSIP_MAX_LOCAL_HEALTH 8
/* Most hops a GOSSIP or broadcast USER packet is sent: the cap of
 * _gossip_membership_ttl(). A received TTL is clamped to it, so a forged
 * huge TTL is not relayed further than one of ours would be. */
#define GOSSIP_MAX_TTL 8
void      _gossip_probe_free            (gpointer probe);
void      _gossip_probe_stop            (GossipCluster *self);
void      _gossip_probe_timer_fire      (gpointer data);
void      _gossip_probe_suspect_retry_fire (gpointer data);
void      _gossip_probe_heard           (GossipCluster *self, const guint8 *uuid);
void      _gossip_probe_handle_ping     (GossipCluster *self, GossipReader *r, GossipTransportReply *reply);
void      _gossip_probe_handle_ack      (GossipCluster *self, GossipReader *r);
void      _gossip_probe_handle_ping_req (GossipCluster *self, GossipReader *r);
void      _gossip_probe_handle_nack     (GossipCluster *self, GossipReader *r);
void      _gossip_suspicion_start       (GossipCluster *self, GossipMember *m, const guint8 *accuser);
gboolean  _gossip_suspicion_confirm     (GossipCluster *self, GossipMember *m, const guint8 *accuser);
void      _gossip_suspicion_clear       (GossipCluster *self, GossipMember *m);
const guint8 *_gossip_suspicion_first_accuser (GossipMember *m);
/* Whether @m's suspicion is confirmed enough to be shown. */
gboolean  _gossip_suspicion_visible     (GossipCluster *self, GossipMember *m);
/* The state a member is shown in: its own, but alive while a suspicion
 * is not confirmed enough to be shown. */
GossipNodeState _gossip_member_shown_state (GossipCluster *self, GossipMember *m);
/* Republishes @m in the state it is shown in now, emitting the change. */
void      _gossip_membership_show_state (GossipCluster *self, GossipMember *m);
/* For tests (engine thread): the suspicion of a member, if any. */
gboolean  _gossip_membership_suspicion_info (GossipCluster *self, const guint8 *uuid,
                                             guint *accusers, gint64 *timeout);

/* gossip-messaging.c */
void      _gossip_messaging_init        (GossipCluster *self);
void      _gossip_messaging_finalize    (GossipCluster *self);
void      _gossip_messaging_stop        (GossipCluster *self);
void      _gossip_messaging_receive     (GossipCluster *self, GossipPacketKind kind, GossipReader *r,
                                         gboolean reliable, GossipTransportReply *reply);
void      _gossip_messaging_start       (GossipCluster *self);
void      _gossip_handler_unref         (GossipHandler *h);
gboolean  _gossip_cluster_handle_internal (GossipCluster *self, guint type, gboolean internal,
                                           gboolean with_reply, GMainContext *context, GossipMessageFunc func,
                                           gpointer user_data, GDestroyNotify notify, GError **error);

/* Groups and elections owned by a cluster are stopped when it stops. */
typedef void (*GossipChildStop) (GObject *child);
void      _gossip_cluster_add_child     (GossipCluster *self, GObject *child, GossipChildStop stop);
void      _gossip_cluster_remove_child  (GossipCluster *self, GObject *child);
gboolean  _gossip_cluster_unhandle_internal (GossipCluster *self, guint type);
/* Sends with any message type (elections use the reserved range). */
gboolean  _gossip_cluster_send_internal (GossipCluster *self, const char *node_id_or_null, guint type,
                                         GVariant *payload, GossipSendFlags flags, GError **error);
GossipClock *_gossip_cluster_get_clock  (GossipCluster *self);

/* Tests: a smaller cap than GOSSIP_ELECTION_MAX_ELIGIBLE (before start);
 * a term known, as if heard (the end of the term space is out of reach). */
void      _gossip_leader_election_set_max_eligible (GossipLeaderElection *election, guint max);
void      _gossip_leader_election_set_term         (GossipLeaderElection *election, guint64 term);

G_END_DECLS
