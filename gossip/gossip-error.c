/* gossip-error.c
 *
 * SPDX-License-Identifier: MIT
 */
#include "config.h"

#include <glib/gi18n-lib.h>

#include "gossip-error.h"
#include "gossip-private.h"

/**
 * SECTION:gossip-error
 * @title: Errors
 * @short_description: the error domains of libgossip
 *
 * Functions that can fail take a #GError and report configuration problems
 * in %GOSSIP_CONFIG_ERROR, runtime failures of a cluster in
 * %GOSSIP_CLUSTER_ERROR and undecodable network input in
 * %GOSSIP_WIRE_ERROR. Messages are translated and name what was wrong.
 */

/**
 * gossip_config_error_quark:
 *
 * The error domain of configuration errors; use %GOSSIP_CONFIG_ERROR.
 *
 * Returns: the #GQuark of %GOSSIP_CONFIG_ERROR
 */

/**
 * gossip_cluster_error_quark:
 *
 * The error domain of cluster errors; use %GOSSIP_CLUSTER_ERROR.
 *
 * Returns: the #GQuark of %GOSSIP_CLUSTER_ERROR
 */

/**
 * gossip_wire_error_quark:
 *
 * The error domain of wire-format errors; use %GOSSIP_WIRE_ERROR.
 *
 * Returns: the #GQuark of %GOSSIP_WIRE_ERROR
 */

G_DEFINE_QUARK (gossip-config-error-quark, gossip_config_error)
G_DEFINE_QUARK (gossip-cluster-error-quark, gossip_cluster_error)
G_DEFINE_QUARK (gossip-wire-error-quark, gossip_wire_error)

/* The library's messages are translated through its own gettext domain,
 * bound once to the installation's locale directory (so it works whatever
 * the application binds for itself). */
void
_gossip_i18n_init (void)
{
  static gsize done = 0;

  if (g_once_init_enter (&done))
    {
      bindtextdomain (GETTEXT_PACKAGE, LOCALEDIR);
      bind_textdomain_codeset (GETTEXT_PACKAGE, "UTF-8");
      g_once_init_leave (&done, 1);
    }
}
