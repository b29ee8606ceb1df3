// Per-lane capture filter: a tcpdump expression over the inner Ethernet frame,
// compiled by libpcap's compiler (pcap_compile on a dead LINKTYPE_ETHERNET
// handle), converted to eBPF with rte_bpf_convert, loaded with rte_bpf_load
// and run through the JIT when DPDK offers one for this CPU, else by DPDK's
// interpreter. The classic program is also kept for cbpf.h's interpreter.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "cbpf.h"

struct rte_bpf;
struct rte_mbuf;

namespace vxc {

class BpfFilter {
 public:
  // Throws std::runtime_error carrying libpcap's or DPDK's message on a bad
  // expression. Needs the EAL (rte_bpf_convert allocates with rte_malloc).
  explicit BpfFilter(const std::string& expression);
  ~BpfFilter();
  BpfFilter(const BpfFilter&) = delete;
  BpfFilter& operator=(const BpfFilter&) = delete;

  const std::string& expression() const;
  bool jit() const;  // true when the JIT compiled it

  // Runs over `n` mbufs whose data starts at the inner Ethernet header;
  // rc[i] != 0 when pkts[i] matches. noexcept, no allocation. Inline so the
  // worker's loop makes one call a packet, straight into the JIT's code.
  void run(rte_mbuf* const* pkts, uint32_t n, uint64_t* rc) const noexcept {
    if (jit_func_ == nullptr) return interpret(pkts, n, rc);
    for (uint32_t i = 0; i < n; ++i) rc[i] = jit_func_(pkts[i]);
  }

  // run() for one mbuf.
  bool matches(rte_mbuf* m) const noexcept {
    uint64_t rc = 0;
    run(&m, 1, &rc);
    return rc != 0;
  }

  // The same verdict from the classic BPF program interpreted (cbpf.h; a
  // chained mbuf takes matches()). Slower than the JIT's code while that is
  // in the instruction cache, but the same code for every program: the
  // worker uses it when lanes have different programs, whose JIT code
  // evicts each other's (vxmicro BM_BpfPrograms has the figures).
  bool matches_interpreted(rte_mbuf* m) const noexcept;
  // Asks for the interpreted program's first instructions to be cached.
  void prefetch_interpreted() const noexcept { interpreted_->prefetch(); }

 private:
  friend struct BpfFilterTestPeer;  // tests run DPDK's interpreter on bpf_ beside the JIT

  void interpret(rte_mbuf* const* pkts, uint32_t n, uint64_t* rc) const noexcept;

  std::string expression_;
  std::optional<CbpfProgram> interpreted_;  // the classic program, for matches_interpreted
  rte_bpf* bpf_ = nullptr;                  // owned; rte_bpf_destroy
  uint64_t (*jit_func_)(void*) = nullptr;   // native code inside bpf_, or null
};

}  // namespace vxc
