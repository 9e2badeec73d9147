/* gossip-config-private.h — the GossipConfig structure (engine side).
 *
 * SPDX-License-Identifier: MIT
 */
#pragma once

#include "gossip-config.h"

G_BEGIN_DECLS

/* All durations in microseconds. Defaults are those of the script API's create(). */
struct _GossipConfig
{
  char     *bind_addr;                /* "127.0.0.1:8000" */
  char     *node_id;                  /* "" = generate UUIDv7; else canonical lowercase form */
  char     *advertise_addr;           /* "" = bound address */
  GBytes   *encryption_key;           /* NULL = off; else 16/24/32 bytes */
  GPtrArray *secondary_keys;          /* GBytes*, accepted for decryption (keyring) */
  char    **tags;                     /* NULL-terminated, never NULL */
  gboolean  compression;              /* FALSE */
  char     *bearer_token;             /* "" */
  char     *app_version;              /* "" */
  GossipTransportKind transport;      /* socket */
  gint64    compress_min_size;        /* 256 */
  gint64    gossip_interval;          /* 5s */
  gint64    gossip_max_interval;      /* 20s */
  gint64    metadata_gossip_interval; /* 500ms */
  gint64    state_gossip_interval;    /* 45s */
  double    fan_out_multiplier;       /* 1.0 */
  double    ttl_multiplier;           /* 1.0 */
  double    state_exchange_multiplier;/* 0.8 */
  gboolean  force_reliable_transport; /* FALSE */
  gboolean  prefer_ipv6;              /* FALSE */
  gint64    node_cleanup_interval;    /* 20s */
  gint64    node_retention_time;      /* 1h */
  gint64    leaving_node_timeout;     /* 30s */
  gint64    health_check_interval;    /* 2s */
  gint64    suspect_timeout;          /* 1.5s */
  gint64    suspect_retry_interval;   /* 1s */
  gint64    dead_node_timeout;        /* 15s */
  gint64    peer_recovery_interval;   /* 30s */
  gboolean  insecure_skip_verify;     /* FALSE */
  /* Additions beyond create() (documented in the API reference): */
  gint64    indirect_checks;          /* 3: members asked to probe indirectly */
  gint64    request_timeout;          /* 5s: default send_request deadline */
  gint64    udp_max_packet_size;      /* 1400: larger frames go by stream */
  /* Bounds (PROTOCOL.md, "Limits"): */
  gint64    max_members;              /* 100000 */
  gint64    max_broadcast_bytes;      /* 4 MiB of queued updates */
  gint64    max_dedup_entries;        /* 65536 */
  gint64    max_probes;               /* 1024 */
  gint64    max_pending_lookups;      /* 64 */
  gint64    max_incoming_streams;     /* 512 */
  gint64    max_incoming_streams_per_peer; /* 32, once half of the above are open */
  gint64    stream_read_timeout;      /* 10s */
  gint64    state_page_max_bytes;     /* 256 KiB */
};

/* Parameter table access, for generated front ends (CLI options, script
 * keyword lists, documentation). The table in gossip-config.c is the single
 * source of truth for names, kinds, defaults and descriptions: the defaults of
 * gossip_config_new() are applied from default_text by
 * gossip_config_set_from_text(). */

/**
 * GossipConfigParamInfo:
 * @name: the parameter name, same as the create() keyword
 * @kind: what kind of value it takes
 * @default_text: the default, in the text form gossip_config_set_from_text()
 *   accepts (strings verbatim, "" for empty; integers in decimal; numbers in
 *   C locale; "true"/"false"; durations in Go syntax such as "1.5s"; lists
 *   comma-separated, "" for the empty list)
 * @description: one-line description in English, marked with N_(); translate
 *   it with g_dgettext (GETTEXT_PACKAGE, description)
 * @allowed: one-line description of the accepted values, English, N_()-marked
 * @create_kwarg: %TRUE for a keyword of the script API's create(); %FALSE for
 *   the additions beyond it (indirect_checks, request_timeout,
 *   udp_max_packet_size)
 * @min: smallest accepted value (%GOSSIP_PARAM_INT only)
 * @max: largest accepted value (%GOSSIP_PARAM_INT only)
 *
 * Description of one configuration parameter. Rows are static and listed in
 * the order of create()'s documentation, additions last.
 */
typedef struct
{
  const char      *name;
  GossipParamKind  kind;
  const char      *default_text;
  const char      *description;
  const char      *allowed;
  gboolean         create_kwarg;
  gint64           min;
  gint64           max;
} GossipConfigParamInfo;

guint                        gossip_config_n_params      (void);
const GossipConfigParamInfo *gossip_config_param_nth     (guint index);
const GossipConfigParamInfo *gossip_config_param_lookup  (const char *name);

gboolean  gossip_config_set_from_text (GossipConfig *config, const char *name,
                                       const char *text, GError **error);

/* Go time.Duration.String() form of a duration in microseconds ("1h30m0s",
 * "1.5s", "500ms", "0s"), newly allocated (gossip-duration.c). */
char     *gossip_format_duration      (gint64 usec);

/* Go's time.ParseDuration() to nanoseconds (gossip-duration.c); @out_unit
 * receives the unknown unit for GOSSIP_DURATION_UNKNOWN_UNIT. */
typedef enum {
  GOSSIP_DURATION_OK,
  GOSSIP_DURATION_INVALID,
  GOSSIP_DURATION_MISSING_UNIT,
  GOSSIP_DURATION_UNKNOWN_UNIT,
  GOSSIP_DURATION_OVERFLOW,
} GossipDurationStatus;
GossipDurationStatus _gossip_parse_duration_ns (const char *text, gint64 *out_ns, char **out_unit);

/* @value quoted for an error message: double quotes, control characters,
 * quotes and backslashes escaped, cut after 64 characters with "…";
 * "(invalid UTF-8)" when not UTF-8. Newly allocated. */
char     *gossip_config_quote         (const char *value);

G_END_DECLS
