// vxmicro: per-stage micro-benchmarks (parser/decap, lane lookup, capture
// filter, pcap record encoding). A custom main because the EAL must be up
// before the filter and mbuf benchmarks run.
#include <benchmark/benchmark.h>
#include <rte_eal.h>
#include <rte_errno.h>
#include <rte_mbuf.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <string>

#include "eal.h"
#include "micro_frames.h"

namespace vxc::micro {
namespace {
rte_mempool* g_pool = nullptr;
}

const std::vector<rte_mbuf*>& inner_mbufs() {
  static const std::vector<rte_mbuf*> mbufs = [] {
    std::vector<rte_mbuf*> out;
    for (const std::vector<uint8_t>& f : inner_frames()) {
      rte_mbuf* m = rte_pktmbuf_alloc(g_pool);
      char* p = m != nullptr ? rte_pktmbuf_append(m, static_cast<uint16_t>(f.size())) : nullptr;
      if (p == nullptr) {
        std::fprintf(stderr, "vxmicro: mbuf pool too small\n");
        std::exit(1);
      }
      std::memcpy(p, f.data(), f.size());
      out.push_back(m);
    }
    return out;
  }();
  return mbufs;
}

}  // namespace vxc::micro

int main(int argc, char** argv) {
  const std::string prefix = "vxmicro_" + std::to_string(getpid());
  // clang-format off
  std::string args[] = {"vxmicro", "--no-huge", "--no-pci", "--no-shconf", "--no-telemetry",
                        "-l", "0", "-m", "256", "--file-prefix", prefix,
                        "--log-level=lib.*:error"};
  // clang-format on
  char* eal_argv[std::size(args)];
  for (size_t i = 0; i < std::size(args); ++i) eal_argv[i] = args[i].data();
  if (rte_eal_init(static_cast<int>(std::size(args)), eal_argv) < 0) {
    std::fprintf(stderr, "vxmicro: rte_eal_init: %s\n", rte_strerror(rte_errno));
    return 1;
  }
  const std::string runtime_dir = rte_eal_get_runtime_dir();
  vxc::micro::g_pool =
      rte_pktmbuf_pool_create("vxmicro", 4095, 0, 0, RTE_MBUF_DEFAULT_BUF_SIZE, SOCKET_ID_ANY);
  if (vxc::micro::g_pool == nullptr) {
    std::fprintf(stderr, "vxmicro: mempool: %s\n", rte_strerror(rte_errno));
    return 1;
  }

  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();

  rte_eal_cleanup();
  rmdir(runtime_dir.c_str());  // empty with --no-shconf; leave nothing in /var/run/dpdk
  return 0;
}
