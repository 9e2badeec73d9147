/* gossip-plugin-private.h — internals of the scriptling.net.gossip plugin.
 *
 * SPDX-License-Identifier: MIT
 *
 * Threads.  Plugin entry points run on the host's script thread.  The
 * gossip engine emits signals and runs message handlers on its own thread;
 * there they only build plain C snapshots (GpEvent) and queue them on the
 * owning cluster's FIFO under gp_lock, then wake the host up.  Script values
 * are only ever built on the script thread, from those snapshots.  Blocking
 * operations (join, leave, stop, send_request, election stop, waiting for
 * events) run on short-lived worker threads (GpOp) and complete their
 * deferred call in the pump hook.
 */
#pragma once

#include <glib.h>
#include <glib/gi18n-lib.h>
#include <gossip/gossip.h>

/* The parameter table and quoting helpers (libgossip is linked in statically). */
#include "gossip-config-private.h"

#include "scriptling-plugin.h"

G_BEGIN_DECLS

/* The module's name, as scripts import it. */
#define GP_MODULE_NAME "scriptling.net.gossip"

/* Most events one cluster keeps queued for the script; more are dropped and
 * counted (the count is logged when delivery resumes). */
#define GP_MAX_EVENTS 10000

extern const ScriptlingHostApi *gp_api;
extern ScriptlingHost *gp_host;
extern ScriptlingClass *gp_cluster_class;
extern ScriptlingClass *gp_group_class;
extern ScriptlingClass *gp_election_class;

/* Guards every event FIFO and the worker-thread completion flags. */
extern GMutex gp_lock;

/* ---- snapshots crossing from the engine thread ---------------------------- */

typedef struct {
  char   *id;
  char   *addr;
  const char *state;        /* static string */
  char  **meta_keys;        /* sorted, NULL-terminated */
  char  **meta_values;      /* matching meta_keys */
  char  **tags;             /* NULL-terminated */
} GpNodeSnap;

GpNodeSnap      *gp_node_snap_new      (GossipNode *node);
void             gp_node_snap_free     (GpNodeSnap *snap);
ScriptlingValue *gp_node_snap_to_value (const GpNodeSnap *snap);
ScriptlingValue *gp_node_to_value      (GossipNode *node);
ScriptlingValue *gp_node_list_to_value (GPtrArray *nodes);

typedef enum {
  GP_EVENT_MESSAGE,
  GP_EVENT_STATE,
  GP_EVENT_METADATA,
  GP_EVENT_TICK,
  GP_EVENT_NODE_ADDED,
  GP_EVENT_NODE_REMOVED,
  GP_EVENT_ELECTION,
} GpEventKind;

typedef struct {
  GpEventKind    kind;
  guint          sub_key;       /* group or election key */
  GpNodeSnap    *node;          /* state (id only used), metadata, group, message sender */
  const char    *state;         /* state events: the new state */
  guint16        msg_type;
  GVariant      *payload;
  GossipMessage *request;       /* a message awaiting our reply */
  GossipTick    *tick;
  const char    *election_event;/* static string */
  char          *node_id;       /* election events */
} GpEvent;

void gp_event_free (GpEvent *ev);

/* ---- clusters, groups, elections ----------------------------------------- */

typedef struct _GpCluster GpCluster;

struct _GpCluster {
  gint            ref_count;     /* atomic */
  guint           key;
  GossipCluster  *cluster;
  gboolean        destroyed;     /* the host released the object (script thread) */
  gboolean        stopping;      /* stop() was called (script thread) */
  gulong          signal_ids[3];
  /* Under gp_lock: */
  GQueue          events;        /* GpEvent* */
  guint           n_dropped;
  gboolean        closed;        /* no more events are accepted */
  gboolean        want_state;
  gboolean        want_metadata;
  gboolean        want_tick;
  gboolean        tick_pending;
};

GpCluster *gp_cluster_ref   (GpCluster *c);
void       gp_cluster_unref (GpCluster *c);
void       gp_cluster_push_event (GpCluster *c, GpEvent *ev);
void       gp_cluster_close_events (GpCluster *c, const char *reason);
GpCluster *gp_cluster_from_value (ScriptlingCall *call, const char *fn, const ScriptlingValue *v);
void       gp_cluster_shutdown (GpCluster *c);
void       gp_cluster_stop_once (GossipCluster *cluster);

extern GPtrArray *gp_clusters;   /* GpCluster*, live ones, creation order (script thread) */

guint gp_next_key (void);

void gp_register_cluster_class  (ScriptlingModule *module);
void gp_register_group_classes  (ScriptlingModule *module);

/* ---- calls: arguments, errors, delivery ----------------------------------- */

/* A parameter list: names in positional order; the first @n_required are
 * required. Parses positional and keyword arguments (never both for one
 * name), rejects unknown keywords and surplus positional arguments, and
 * takes the internal "_dispatch" keyword (a callback or None). */
gboolean gp_parse_args (ScriptlingCall                 *call,
                        const char                     *fn,
                        size_t                          n_args,
                        const ScriptlingValue *const   *args,
                        const ScriptlingValue          *kwargs,
                        const char * const             *names,
                        guint                           n_required,
                        const ScriptlingValue         **out,
                        const ScriptlingValue         **dispatch);

void        gp_raise        (ScriptlingCall *call, ScriptlingErrorKind kind, const char *format, ...) G_GNUC_PRINTF (3, 4);
void        gp_raise_error  (ScriptlingCall *call, const GError *error);
const char *gp_type_name    (const ScriptlingValue *v);

gboolean gp_get_string       (ScriptlingCall *call, const char *name, const ScriptlingValue *v, const char **out);
gboolean gp_get_bool         (ScriptlingCall *call, const char *name, const ScriptlingValue *v, gboolean def, gboolean *out);
gboolean gp_get_int          (ScriptlingCall *call, const char *name, const ScriptlingValue *v, gint64 *out);
gboolean gp_get_message_type (ScriptlingCall *call, const char *name, const ScriptlingValue *v, guint *out);
gboolean gp_get_duration     (ScriptlingCall *call, const char *name, const ScriptlingValue *v, gint64 *out_usec);
gboolean gp_get_callable     (ScriptlingCall *call, const char *name, const ScriptlingValue *v, gboolean allow_none, gboolean *present);
GHashTable *gp_get_criteria  (ScriptlingCall *call, const char *name, const ScriptlingValue *v);

/* Payloads: script value <-> GVariant of the payload types. */
GVariant        *gp_value_to_payload (const ScriptlingValue *v, const char *what, GError **error);
ScriptlingValue *gp_payload_to_value (GVariant *payload);

/* Metadata string view (gossip-protocol.md §14.5). */
char *gp_format_float        (double value);
char *gp_metadata_string     (ScriptlingCall *call, const char *name, const ScriptlingValue *v);

/* Delivers queued events of every cluster through @dispatch (a callback of
 * a call in flight). Returns how many were delivered. Does nothing while a
 * delivery is already running (handlers never nest). */
guint gp_deliver_events (const ScriptlingValue *dispatch);
/* Whether a handler is running (a delivery is in progress). */
gboolean gp_in_handler (void);
gint gp_compare_strings (gconstpointer a, gconstpointer b, gpointer user_data);

/* ---- blocking operations -------------------------------------------------- */

typedef enum {
  GP_OP_JOIN,
  GP_OP_LEAVE,
  GP_OP_STOP,
  GP_OP_REQUEST,
  GP_OP_ELECTION_STOP,
  GP_OP_WAIT,
} GpOpKind;

typedef struct _GpOp GpOp;
struct _GpOp {
  GpOpKind          kind;
  ScriptlingCall   *call;        /* NULL once completed or abandoned */
  ScriptlingValue  *dispatch;    /* ref, or NULL */
  guint             busy;        /* deliveries using @dispatch right now */
  GThread          *thread;
  GossipCluster    *cluster;     /* ref */
  GossipLeaderElection *election;/* ref */
  GpCluster        *owner;       /* ref, for stop */
  char            **peers;
  char             *node_id;
  guint             msg_type;
  GVariant         *payload;
  gint64            timeout_us;
  gint64            deadline;    /* GP_OP_WAIT, monotonic */
  guint             delivered;   /* GP_OP_WAIT: events delivered while waiting */
  /* Under gp_lock: */
  gboolean          done;
  gboolean          cancelled;
  GCond             cond;
  GError           *error;
  GVariant         *result;
  gint              n_joined;
};

GpOp *gp_op_new     (GpOpKind kind, ScriptlingCall *call, const ScriptlingValue *dispatch);
/* Defers @op->call and starts the worker. Returns FALSE (error raised) if
 * the call cannot be deferred. */
gboolean gp_op_start (GpOp *op);
/* Raises on every pending operation of @cluster and forgets its call. */
void  gp_ops_abandon_for (GossipCluster *cluster, const char *reason);
void  gp_wakeup (void);

G_END_DECLS
