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
};

G_END_DECLS
