/* gossip-config.h — validated configuration of a GossipCluster.
 *
 * SPDX-License-Identifier: MIT
 */
#pragma once

#if !defined(__GOSSIP_H_INSIDE__) && !defined(GOSSIP_COMPILATION)
#error "Only <gossip/gossip.h> can be included directly."
#endif

#include <glib-object.h>

G_BEGIN_DECLS

/**
 * GossipParamKind:
 * @GOSSIP_PARAM_UNKNOWN: no such parameter
 * @GOSSIP_PARAM_STRING: a UTF-8 string
 * @GOSSIP_PARAM_BYTES: a byte string (encryption_key); a UTF-8 string is taken as its bytes
 * @GOSSIP_PARAM_INT: an integer
 * @GOSSIP_PARAM_DOUBLE: a finite floating point number (ints accepted)
 * @GOSSIP_PARAM_BOOLEAN: a boolean (no truthiness)
 * @GOSSIP_PARAM_STRV: a list of strings
 * @GOSSIP_PARAM_DURATION: a Go duration string ("1.5s", "500ms", "1h30m") or a number of seconds
 *
 * What kind of value a configuration parameter takes.
 */
typedef enum {
  GOSSIP_PARAM_UNKNOWN,
  GOSSIP_PARAM_STRING,
  GOSSIP_PARAM_BYTES,
  GOSSIP_PARAM_INT,
  GOSSIP_PARAM_DOUBLE,
  GOSSIP_PARAM_BOOLEAN,
  GOSSIP_PARAM_STRV,
  GOSSIP_PARAM_DURATION,
} GossipParamKind;

/**
 * GossipTransportKind:
 * @GOSSIP_TRANSPORT_SOCKET: UDP + TCP sockets on one port
 * @GOSSIP_TRANSPORT_HTTP: HTTP(S) POSTs of frames
 *
 * The value of the `transport` parameter.
 */
typedef enum {
  GOSSIP_TRANSPORT_SOCKET,
  GOSSIP_TRANSPORT_HTTP,
} GossipTransportKind;

#define GOSSIP_TYPE_CONFIG (gossip_config_get_type ())

/**
 * GossipConfig:
 *
 * A set of cluster parameters, one per keyword of the script API's
 * `create()`, with the same names and defaults. Every setter validates its
 * value and fails with a %GOSSIP_CONFIG_ERROR naming the parameter and what
 * is allowed; nothing is silently coerced or replaced by a default.
 * Cross-parameter rules are checked by gossip_config_validate().
 *
 * A #GossipConfig is not thread-safe; a cluster takes a private copy.
 */
typedef struct _GossipConfig GossipConfig;

GType              gossip_config_get_type        (void) G_GNUC_CONST;
GossipConfig      *gossip_config_new             (void);
GossipConfig      *gossip_config_copy            (const GossipConfig *config);
void               gossip_config_free            (GossipConfig *config);

GossipParamKind    gossip_config_param_kind      (const char *name);
const char * const*gossip_config_list_params     (void);

gboolean           gossip_config_set_string      (GossipConfig *config, const char *name, const char *value, GError **error);
gboolean           gossip_config_set_bytes       (GossipConfig *config, const char *name, const guint8 *data, gsize len, GError **error);
gboolean           gossip_config_set_int         (GossipConfig *config, const char *name, gint64 value, GError **error);
gboolean           gossip_config_set_double      (GossipConfig *config, const char *name, double value, GError **error);
gboolean           gossip_config_set_boolean     (GossipConfig *config, const char *name, gboolean value, GError **error);
gboolean           gossip_config_set_strv        (GossipConfig *config, const char *name, const char * const *value, GError **error);

gboolean           gossip_config_add_secondary_key (GossipConfig *config, const guint8 *key, gsize len, GError **error);

gboolean           gossip_config_validate        (const GossipConfig *config, GError **error);

const char        *gossip_config_get_string      (const GossipConfig *config, const char *name);
gint64             gossip_config_get_int         (const GossipConfig *config, const char *name);
double             gossip_config_get_double      (const GossipConfig *config, const char *name);
gboolean           gossip_config_get_boolean     (const GossipConfig *config, const char *name);
const char * const*gossip_config_get_strv        (const GossipConfig *config, const char *name);
gint64             gossip_config_get_duration    (const GossipConfig *config, const char *name);

gboolean           gossip_parse_duration         (const char *text, gint64 *out_usec, GError **error);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (GossipConfig, gossip_config_free)

G_END_DECLS
