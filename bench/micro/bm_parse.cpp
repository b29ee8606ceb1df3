// Parser/decap: parse_outer once per frame of one encapsulation (many flows,
// 8 VNIs, data segments and ACKs); BM_ParsePlain: parse_plain_vxlan, which
// the RX lcore calls inline for plain VXLAN before it would call parse_outer. The argument is how many frames it cycles
// through: 32 (one RX burst, headers in L1: the parser's own cost) or 2048
// (3 MB of frames, headers mostly in L3: closer to frames fresh from the NIC).
#include <benchmark/benchmark.h>

#include "dataplane/outer_parse.h"
#include "micro_frames.h"

namespace vxc::micro {
namespace {

void BM_Parse(benchmark::State& state, Wrap wrap) {
  const std::vector<OuterFrame>& all = outer_frames(wrap);
  const std::vector<OuterFrame> frames(all.begin(), all.begin() + state.range(0));
  const ParseConfig config;
  size_t i = 0;
  for (auto _ : state) {
    const OuterFrame& f = frames[i];
    OuterResult r = parse_outer(f.bytes.data(), f.bytes.size(), config);
    benchmark::DoNotOptimize(r);
    if (++i == frames.size()) i = 0;
  }
  state.SetItemsProcessed(state.iterations());
}

void BM_ParsePlain(benchmark::State& state, Wrap wrap) {
  const std::vector<OuterFrame>& all = outer_frames(wrap);
  const std::vector<OuterFrame> frames(all.begin(), all.begin() + state.range(0));
  const ParseConfig config;
  size_t i = 0, plain = 0;
  for (auto _ : state) {
    const OuterFrame& f = frames[i];
    PlainVxlan p;
    plain += parse_plain_vxlan(f.bytes.data(), f.bytes.size(), f.bytes.size(), config, p);
    benchmark::DoNotOptimize(p);
    if (++i == frames.size()) i = 0;
  }
  state.SetItemsProcessed(state.iterations());
  // 1.0 expected: every frame of these feeds is plain VXLAN.
  state.counters["plain"] = static_cast<double>(plain) / static_cast<double>(state.iterations());
}

BENCHMARK_CAPTURE(BM_ParsePlain, vxlan4, Wrap::vxlan4)->Arg(32)->Arg(2048);
BENCHMARK_CAPTURE(BM_ParsePlain, vxlan6, Wrap::vxlan6)->Arg(32)->Arg(2048);
BENCHMARK_CAPTURE(BM_Parse, vxlan4, Wrap::vxlan4)->Arg(32)->Arg(2048);
BENCHMARK_CAPTURE(BM_Parse, vxlan6, Wrap::vxlan6)->Arg(32)->Arg(2048);
BENCHMARK_CAPTURE(BM_Parse, vlan, Wrap::vlan)->Arg(32)->Arg(2048);
BENCHMARK_CAPTURE(BM_Parse, geneve, Wrap::geneve)->Arg(32)->Arg(2048);
BENCHMARK_CAPTURE(BM_Parse, geneve_vxlan, Wrap::geneve_vxlan)->Arg(32)->Arg(2048);
BENCHMARK_CAPTURE(BM_Parse, mixed, Wrap::mixed)->Arg(32)->Arg(2048);

}  // namespace
}  // namespace vxc::micro
