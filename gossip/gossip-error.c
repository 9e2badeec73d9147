/* gossip-error.c
 *
 * SPDX-License-Identifier: MIT
 */
#include "config.h"

#include "gossip-error.h"

G_DEFINE_QUARK (gossip-config-error-quark, gossip_config_error)
G_DEFINE_QUARK (gossip-cluster-error-quark, gossip_cluster_error)
G_DEFINE_QUARK (gossip-wire-error-quark, gossip_wire_error)
