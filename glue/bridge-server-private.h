/* bridge-server-private.h — state shared by the bridge's source files.
 *
 * Copyright the scriptling-gossip authors.
 * SPDX-License-Identifier: MIT
 */

#pragma once

#include <gmodule.h>
#include <json-glib/json-glib.h>

#include "bridge-registry.h"
#include "bridge-server.h"
#include "bridge-value.h"

G_BEGIN_DECLS

/* GLib's mutexes are futexes inside an uninstrumented library, so
 * ThreadSanitizer cannot see that the event queue and the write lock order
 * memory accesses.  These annotations tell it; they vanish otherwise. */
#if defined(__SANITIZE_THREAD__)
#define BRIDGE_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define BRIDGE_TSAN 1
#endif
#endif
#ifdef BRIDGE_TSAN
void __tsan_acquire (void *addr);
void __tsan_release (void *addr);
#define tsan_acquire(p) __tsan_acquire (p)
#define tsan_release(p) __tsan_release (p)
#else
#define tsan_acquire(p) ((void) 0)
#define tsan_release(p) ((void) 0)
#endif

/* How many plugin calls may be stacked on the script thread by nested
 * callback waits before further requests are refused. */
#define BRIDGE_MAX_NESTING 64
/* Longest accepted message line; longer ones are dropped with an error. */
#define BRIDGE_MAX_LINE (64u * 1024u * 1024u)
/* Our own request ids, distinct from the host's for readable traces. */
#define BRIDGE_FIRST_OUTBOUND_ID 100001

#define RPC_PARSE_ERROR -32700
#define RPC_INVALID_REQUEST -32600
#define RPC_METHOD_NOT_FOUND -32601
#define RPC_INVALID_PARAMS -32602
#define RPC_APPLICATION_ERROR -32000

typedef enum {
  EVENT_MESSAGE,   /* a request object or a batch array */
  EVENT_RESPONSE,  /* a response to one of our requests */
  EVENT_DESTROY,   /* object.destroy, already answered */
  EVENT_WAKEUP,    /* the plugin asked for its pump hook */
  EVENT_EOF,       /* stdin is closed */
} BridgeEventType;

typedef struct {
  BridgeEventType type;
  JsonNode *node;
  gint64 id;
  char *object_id;
} BridgeEvent;

typedef struct {
  guint pending;          /* elements not answered yet, + 1 while dispatching */
  JsonArray *responses;
} BridgeBatch;

typedef struct {
  gboolean done;
  JsonNode *response;
} BridgeOutbound;

typedef struct {
  char *id;
  guint64 serial;
  ScriptlingClass *klass;
  void *instance;
  guint busy;             /* plugin frames currently using the instance */
  gboolean destroyed;     /* no longer in the table; finalise when idle */
} BridgeObject;

typedef enum {
  CALL_FUNCTION,
  CALL_CONSTRUCTOR,
  CALL_METHOD,
  CALL_GETTER,
  CALL_SETTER,
} BridgeCallKind;

struct ScriptlingCall {
  BridgeServer *server;
  BridgeCallKind kind;
  char *name;
  JsonNode *id;            /* NULL for a notification */
  BridgeBatch *batch;
  BridgeCallbackScope *scope;
  gboolean running;
  gboolean deferred;
  gboolean completed;
  gboolean failed;
  ScriptlingValue *result;
  ScriptlingErrorKind error_kind;
  char *error_message;
  guint callbacks_in_flight;  /* callback.call requests awaiting replies */
  gboolean reply_held;        /* completed while callbacks were in flight */
};

struct ScriptlingHost {
  ScriptlingHostApi api;
  GThread *script_thread;
  gboolean debug;

  /* The plugin. */
  GModule *module;
  BridgeRegistry *registry;
  char *load_error;
  JsonNode *handshake;
  ScriptlingHookFunc pump_func;
  void *pump_data;
  ScriptlingHookFunc shutdown_func;
  void *shutdown_data;

  /* I/O. */
  int in_fd;
  int out_fd;
  GThread *reader;
  GAsyncQueue *events;
  GMutex write_lock;
  gint output_broken;          /* atomic; set under write_lock */
  gint next_outbound_id;       /* atomic */

  /* Script-thread state. */
  GHashTable *outbound;        /* gint64 id → BridgeOutbound */
  GHashTable *objects;         /* id → BridgeObject */
  guint64 next_object_serial;
  GPtrArray *deferred;         /* ScriptlingCall */
  guint depth;
  guint waits;
  gboolean in_pump;
  gboolean pump_again;
  gboolean shutdown_done;
  gboolean eof;

  /* Any thread. */
  gint wakeup_pending;
  gint handshake_done;
  gint shut_down;
};

/* Request envelope, validated by bridge_parse_envelope(). */
typedef struct {
  JsonNode *id;           /* borrowed from the request; NULL if absent */
  gboolean has_id;
  const char *method;
  JsonObject *params;     /* borrowed; NULL if absent or null */
} BridgeRequest;

/* bridge-rpc.c: the wire. Any thread unless noted. */
void bridge_event_free (gpointer data);
void bridge_push_event (BridgeServer *server,
                        BridgeEventType type,
                        JsonNode *node,
                        gint64 id,
                        const char *object_id);
const char *bridge_member_string (JsonObject *object,
                                  const char *name);
gboolean bridge_write_message (BridgeServer *server,
                               JsonNode *message);
JsonNode *bridge_make_result (JsonNode *id,
                              JsonNode *result);
/* An error response.  @error_type ("TypeError", "ValueError", or NULL /
 * "RuntimeError") goes into error.data and, as a prefix, into the message
 * text, the only part Scriptling classifies by (see bridge-rpc.c). */
JsonNode *bridge_make_error (JsonNode *id,
                             int code,
                             const char *message,
                             const char *error_type);
BridgeBatch *bridge_batch_new (void);
void bridge_batch_release (BridgeServer *server,
                           BridgeBatch *batch);
void bridge_reply (BridgeServer *server,
                   gboolean has_id,
                   BridgeBatch *batch,
                   JsonNode *response);
void bridge_reply_result (BridgeServer *server,
                          JsonNode *id,
                          gboolean has_id,
                          BridgeBatch *batch,
                          JsonNode *result);
void bridge_reply_error (BridgeServer *server,
                         JsonNode *id,
                         gboolean has_id,
                         BridgeBatch *batch,
                         int code,
                         const char *message);
void bridge_reply_error_printf (BridgeServer *server,
                                JsonNode *id,
                                gboolean has_id,
                                BridgeBatch *batch,
                                int code,
                                const char *format,
                                ...) G_GNUC_PRINTF (6, 7);
gboolean bridge_parse_envelope (JsonObject *object,
                                BridgeRequest *request,
                                int *code,
                                char **message);
gpointer bridge_reader_thread (gpointer data);

G_END_DECLS
