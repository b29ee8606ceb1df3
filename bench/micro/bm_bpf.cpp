// Capture filter: BpfFilter::run on one inner frame at a time, as the worker
// calls it, over 2048 inner frames in mbufs (TCP port 443 data and ACKs,
// inner IPv4 and IPv6). Every frame matches both expressions, so each run
// goes the full length of the program.
#include <benchmark/benchmark.h>
#include <rte_bpf.h>

#include <memory>
#include <string>
#include <vector>

#include "dataplane/bpf_filter.h"
#include "eal.h"

namespace vxc {

// BpfFilter runs the JIT whenever DPDK has one; its test peer is the only way
// to reach DPDK's interpreter on the same loaded program.
struct BpfFilterTestPeer {
  static uint64_t interpret(const BpfFilter& f, rte_mbuf* m) { return rte_bpf_exec(f.bpf_, m); }
};

namespace micro {
namespace {

enum class Mode { none, jit, interpreter };

void BM_Bpf(benchmark::State& state, const char* expression, Mode mode) {
  const std::vector<rte_mbuf*>& pkts = inner_mbufs();
  uint64_t matches = 0;
  size_t i = 0;
  if (mode == Mode::none) {
    // No filter: the worker skips the call, so this is the loop's own cost.
    for (auto _ : state) {
      rte_mbuf* m = pkts[i];
      benchmark::DoNotOptimize(m);
      ++matches;
      if (++i == pkts.size()) i = 0;
    }
  } else {
    const BpfFilter filter(expression);
    if (mode == Mode::jit && !filter.jit()) {
      state.SkipWithError("DPDK has no BPF JIT for this CPU");
      return;
    }
    for (auto _ : state) {
      uint64_t rc = 0;
      if (mode == Mode::jit) {
        filter.run(&pkts[i], 1, &rc);
      } else {
        rc = BpfFilterTestPeer::interpret(filter, pkts[i]);
      }
      matches += rc != 0;
      if (++i == pkts.size()) i = 0;
    }
  }
  benchmark::DoNotOptimize(matches);
  state.SetItemsProcessed(state.iterations());
  // 1.0 expected: a lower figure means the program exits early and the timing is not comparable.
  state.counters["matched"] =
      static_cast<double>(matches) / static_cast<double>(state.iterations());
}

// The worker's two ways to judge a burst whose lanes have their own programs:
// each packet calls the next of `programs` programs ('tcp or vlan <n>', as
// vxbench's own-programs cases), through the JIT or the classic BPF
// interpreter (BpfFilter::matches_interpreted). One program stays in the
// instruction cache; 64 JIT programs evict each other, interpreted ones are data.
void BM_BpfPrograms(benchmark::State& state, int programs, bool interpreted) {
  const std::vector<rte_mbuf*>& pkts = inner_mbufs();
  std::vector<std::unique_ptr<BpfFilter>> filters;
  for (int p = 0; p < programs; ++p)
    filters.push_back(std::make_unique<BpfFilter>("tcp or vlan " + std::to_string(p + 1)));
  if (!interpreted && !filters[0]->jit()) {
    state.SkipWithError("DPDK has no BPF JIT for this CPU");
    return;
  }
  uint64_t matches = 0;
  size_t i = 0;
  size_t p = 0;
  for (auto _ : state) {
    const BpfFilter& f = *filters[p];
    matches += interpreted ? f.matches_interpreted(pkts[i]) : f.matches(pkts[i]);
    if (++i == pkts.size()) i = 0;
    if (++p == filters.size()) p = 0;
  }
  benchmark::DoNotOptimize(matches);
  state.SetItemsProcessed(state.iterations());
  state.counters["matched"] =
      static_cast<double>(matches) / static_cast<double>(state.iterations());
}

BENCHMARK_CAPTURE(BM_Bpf, none, "", Mode::none);
BENCHMARK_CAPTURE(BM_Bpf, tcp_jit, "tcp", Mode::jit);
BENCHMARK_CAPTURE(BM_Bpf, tcp_interp, "tcp", Mode::interpreter);
BENCHMARK_CAPTURE(BM_Bpf, tcp443_jit, "tcp port 443", Mode::jit);
BENCHMARK_CAPTURE(BM_Bpf, tcp443_interp, "tcp port 443", Mode::interpreter);
BENCHMARK_CAPTURE(BM_BpfPrograms, one_jit, 1, false);
BENCHMARK_CAPTURE(BM_BpfPrograms, one_cbpf, 1, true);
BENCHMARK_CAPTURE(BM_BpfPrograms, own64_jit, 64, false);
BENCHMARK_CAPTURE(BM_BpfPrograms, own64_cbpf, 64, true);

}  // namespace
}  // namespace micro
}  // namespace vxc
