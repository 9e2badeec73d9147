/* gossip-frame.c — placeholder, being written. */
#include "config.h"
