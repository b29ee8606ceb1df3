#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include <cstdio>
#include <exception>

#include "collector/app.h"
#include "collector/options.h"

int main(int argc, char** argv) {
  // Logs go to stderr: stdout carries only the JSON summary.
  spdlog::set_default_logger(spdlog::stderr_color_mt("vxcollector"));
  vxc::Options options;
  try {
    if (!vxc::parse_options(argc, argv, options)) return 0;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "vxcollector: %s (see --help)\n", e.what());
    return 2;
  }
  try {
    return vxc::run_collector(options);
  } catch (const std::exception& e) {
    spdlog::critical("{}", e.what());
    return 1;
  }
}
