// The program: EAL, pipeline, writers, HTTP endpoint, signals, summary.
#pragma once

#include "collector/options.h"

namespace vxc {

// Runs the collector until SIGTERM/SIGINT (or, with --read-pcap, until the
// capture has been processed and --linger-seconds have passed). Prints the JSON
// summary on stdout. Returns the exit code. Throws std::runtime_error on a
// start-up failure.
int run_collector(const Options& options);

}  // namespace vxc
