/* gossip-error.h — error domains of libgossip.
 *
 * SPDX-License-Identifier: MIT
 */
#pragma once

#if !defined(__GOSSIP_H_INSIDE__) && !defined(GOSSIP_COMPILATION)
#error "Only <gossip/gossip.h> can be included directly."
#endif

#include <glib.h>

G_BEGIN_DECLS

/**
 * GOSSIP_CONFIG_ERROR:
 *
 * Error domain for configuration problems: a parameter with the wrong type,
 * out of range, unparsable, or inconsistent with another parameter. Errors in
 * this domain use #GossipConfigError codes; the message names the parameter
 * and what is allowed.
 */
#define GOSSIP_CONFIG_ERROR (gossip_config_error_quark ())
GQuark gossip_config_error_quark (void);

/**
 * GossipConfigError:
 * @GOSSIP_CONFIG_ERROR_UNKNOWN_KEY: no parameter of that name exists
 * @GOSSIP_CONFIG_ERROR_INVALID_TYPE: the value has the wrong type (maps to a script TypeError)
 * @GOSSIP_CONFIG_ERROR_INVALID_VALUE: the value is unparsable or out of range (maps to ValueError)
 * @GOSSIP_CONFIG_ERROR_INCONSISTENT: two parameters contradict each other (ValueError)
 *
 * Error codes of %GOSSIP_CONFIG_ERROR.
 */
typedef enum {
  GOSSIP_CONFIG_ERROR_UNKNOWN_KEY,
  GOSSIP_CONFIG_ERROR_INVALID_TYPE,
  GOSSIP_CONFIG_ERROR_INVALID_VALUE,
  GOSSIP_CONFIG_ERROR_INCONSISTENT,
} GossipConfigError;

/**
 * GOSSIP_CLUSTER_ERROR:
 *
 * Error domain for runtime failures of a #GossipCluster.
 */
#define GOSSIP_CLUSTER_ERROR (gossip_cluster_error_quark ())
GQuark gossip_cluster_error_quark (void);

/**
 * GossipClusterError:
 * @GOSSIP_CLUSTER_ERROR_FAILED: generic failure
 * @GOSSIP_CLUSTER_ERROR_STOPPED: the cluster was stopped ("cluster is stopped")
 * @GOSSIP_CLUSTER_ERROR_BIND_FAILED: a listener could not be bound
 * @GOSSIP_CLUSTER_ERROR_INVALID_ARGUMENT: an argument is out of range or malformed (ValueError)
 * @GOSSIP_CLUSTER_ERROR_INVALID_TYPE: an argument has the wrong type (TypeError)
 * @GOSSIP_CLUSTER_ERROR_NODE_NOT_FOUND: no such node, or it is dead
 * @GOSSIP_CLUSTER_ERROR_HANDLER_EXISTS: a handler is already registered for the message type
 * @GOSSIP_CLUSTER_ERROR_TYPE_OWNED: the message type is owned by a running election
 * @GOSSIP_CLUSTER_ERROR_PAYLOAD_TOO_LARGE: the encoded payload exceeds the limit
 * @GOSSIP_CLUSTER_ERROR_TIMED_OUT: a request got no reply before its deadline
 * @GOSSIP_CLUSTER_ERROR_NO_REPLY: the peer answered without a reply (no handler, handler raised)
 * @GOSSIP_CLUSTER_ERROR_ID_IN_USE: another running cluster in this process has this node id
 * @GOSSIP_CLUSTER_ERROR_REJECTED: a peer rejected us (bad token, incompatible version)
 *
 * Error codes of %GOSSIP_CLUSTER_ERROR.
 */
typedef enum {
  GOSSIP_CLUSTER_ERROR_FAILED,
  GOSSIP_CLUSTER_ERROR_STOPPED,
  GOSSIP_CLUSTER_ERROR_BIND_FAILED,
  GOSSIP_CLUSTER_ERROR_INVALID_ARGUMENT,
  GOSSIP_CLUSTER_ERROR_INVALID_TYPE,
  GOSSIP_CLUSTER_ERROR_NODE_NOT_FOUND,
  GOSSIP_CLUSTER_ERROR_HANDLER_EXISTS,
  GOSSIP_CLUSTER_ERROR_TYPE_OWNED,
  GOSSIP_CLUSTER_ERROR_PAYLOAD_TOO_LARGE,
  GOSSIP_CLUSTER_ERROR_TIMED_OUT,
  GOSSIP_CLUSTER_ERROR_NO_REPLY,
  GOSSIP_CLUSTER_ERROR_ID_IN_USE,
  GOSSIP_CLUSTER_ERROR_REJECTED,
} GossipClusterError;

/**
 * GOSSIP_WIRE_ERROR:
 *
 * Error domain for undecodable network input (frames, packets, payloads).
 * Such input is dropped and counted; the error only explains why.
 */
#define GOSSIP_WIRE_ERROR (gossip_wire_error_quark ())
GQuark gossip_wire_error_quark (void);

/**
 * GossipWireError:
 * @GOSSIP_WIRE_ERROR_TRUNCATED: input ended before a declared length
 * @GOSSIP_WIRE_ERROR_MALFORMED: a field has an impossible value
 * @GOSSIP_WIRE_ERROR_VERSION: unknown wire version
 * @GOSSIP_WIRE_ERROR_TOO_LARGE: a declared length exceeds its limit
 * @GOSSIP_WIRE_ERROR_DECRYPT: authentication failed or no key matched
 * @GOSSIP_WIRE_ERROR_NOT_ENCRYPTED: plaintext input while a key is required
 * @GOSSIP_WIRE_ERROR_DECOMPRESS: corrupt compressed data
 * @GOSSIP_WIRE_ERROR_UNAUTHENTICATED: no valid bearer-token MAC, or a MAC
 *   where no bearer token is configured
 *
 * Error codes of %GOSSIP_WIRE_ERROR.
 */
typedef enum {
  GOSSIP_WIRE_ERROR_TRUNCATED,
  GOSSIP_WIRE_ERROR_MALFORMED,
  GOSSIP_WIRE_ERROR_VERSION,
  GOSSIP_WIRE_ERROR_TOO_LARGE,
  GOSSIP_WIRE_ERROR_DECRYPT,
  GOSSIP_WIRE_ERROR_NOT_ENCRYPTED,
  GOSSIP_WIRE_ERROR_DECOMPRESS,
  GOSSIP_WIRE_ERROR_UNAUTHENTICATED,
} GossipWireError;

G_END_DECLS
