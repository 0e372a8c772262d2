/* The one version string of ratchet's programs. */
#ifndef RATCHET_VERSION_H
#define RATCHET_VERSION_H

#define RATCHET_VERSION "0.1.0"

#endif
