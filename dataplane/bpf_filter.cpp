#include "bpf_filter.h"

#include <pcap/pcap.h>
#include <rte_bpf.h>
#include <rte_errno.h>
#include <rte_malloc.h>
#include <rte_mbuf.h>

#include <cstdint>
#include <memory>
#include <stdexcept>
#include <vector>

namespace vxc {
namespace {

// libpcap's snap length for the dead handle: the compiled program returns it
// for a match (and 0 for a miss), so any non-zero value means "matches".
constexpr int kCompileSnapLen = 65535;

// An mbuf segment's data buffer is described by a uint16_t, so no segment can
// hold more than this many bytes.
constexpr size_t kMaxSegmentData = UINT16_MAX;

struct PcapCloser {
  void operator()(pcap_t* p) const { pcap_close(p); }
};
struct PcapCodeFreer {
  void operator()(bpf_program* prog) const { pcap_freecode(prog); }
};
// rte_bpf_convert allocates its result with rte_malloc.
struct RteFreer {
  void operator()(rte_bpf_prm* prm) const { rte_free(prm); }
};

[[noreturn]] void Fail(const std::string& expression, const std::string& what) {
  throw std::runtime_error("capture filter '" + expression + "': " + what);
}

// Two DPDK 22.11 bugs are worked around on the converted program, before
// loading. Both rewrites keep the program's meaning, so they stay harmless
// once DPDK is fixed. The unit tests judge every verdict against libpcap.
//
// 1. rte_bpf_convert takes the index register of an indirect load from the
//    opcode's size bits, so `ldb [x + k]` and `ld [x + k]` come out indexed by
//    A; only `ldh [x + k]` gets X. A cBPF indirect load always indexes by X.
//    The converter's prologue clears X in its second instruction
//    (`xor X, X`), which names X's register.
void IndexIndirectLoadsByX(const std::string& expression, std::vector<ebpf_insn>& ins) {
  constexpr uint8_t kClearReg = EBPF_ALU64 | BPF_XOR | BPF_X;
  if (ins.size() < 2 || ins[1].code != kClearReg || ins[1].dst_reg != ins[1].src_reg) {
    Fail(expression, "rte_bpf_convert: unexpected prologue, cannot locate register X");
  }
  const uint8_t x = ins[1].dst_reg;
  for (ebpf_insn& insn : ins) {
    if (BPF_CLASS(insn.code) == BPF_LD && BPF_MODE(insn.code) == BPF_IND) insn.src_reg = x;
  }
}

bool IsJump(const ebpf_insn& insn) {
  return BPF_CLASS(insn.code) == BPF_JMP && BPF_OP(insn.code) != EBPF_CALL &&
         BPF_OP(insn.code) != EBPF_EXIT;
}

// 2. The x86 JIT encodes `jset reg, #k` with k in int8 range as `test` with a
//    one-byte immediate, which x86 does not have: the code that follows is
//    garbage (tcp[tcpflags] & tcp-rst crashes). Such a jset becomes
//    `mov32 r9, #k; jset reg, r9` (r9: a register the converter never uses),
//    and every jump offset is recomputed for the longer program.
std::vector<ebpf_insn> AvoidShortJsetImmediates(const std::string& expression,
                                                const std::vector<ebpf_insn>& in) {
  constexpr uint8_t kScratch = EBPF_REG_9;
  auto split = [](const ebpf_insn& insn) {
    return insn.code == (BPF_JMP | BPF_JSET | BPF_K) && insn.imm == static_cast<int8_t>(insn.imm);
  };
  std::vector<size_t> new_index(in.size() + 1);  // old index -> index in the result
  for (size_t i = 0, at = 0; i <= in.size(); ++i) {
    new_index[i] = at;
    if (i < in.size()) at += split(in[i]) ? 2 : 1;
  }
  std::vector<ebpf_insn> out;
  out.reserve(new_index.back());
  for (size_t i = 0; i < in.size(); ++i) {
    ebpf_insn insn = in[i];
    if (split(insn)) {
      out.push_back({.code = BPF_ALU | EBPF_MOV | BPF_K, .dst_reg = kScratch, .imm = insn.imm});
      insn.code = BPF_JMP | BPF_JSET | BPF_X;
      insn.src_reg = kScratch;
      insn.imm = 0;
    }
    if (IsJump(insn)) {
      const size_t target = i + 1 + insn.off;  // the loader has not checked it yet
      if (target > in.size()) Fail(expression, "rte_bpf_convert: jump out of the program");
      insn.off = static_cast<int16_t>(new_index[target] - (out.size() + 1));
    }
    out.push_back(insn);
  }
  return out;
}

}  // namespace

BpfFilter::BpfFilter(const std::string& expression) : expression_(expression) {
  std::unique_ptr<pcap_t, PcapCloser> pcap(pcap_open_dead(DLT_EN10MB, kCompileSnapLen));
  if (!pcap) Fail(expression_, "pcap_open_dead failed");

  bpf_program cbpf{};
  const int compiled =
      pcap_compile(pcap.get(), &cbpf, expression_.c_str(), /*optimize=*/1, PCAP_NETMASK_UNKNOWN);
  if (compiled != 0) Fail(expression_, pcap_geterr(pcap.get()));
  std::unique_ptr<bpf_program, PcapCodeFreer> cbpf_owner(&cbpf);
  try {
    interpreted_.emplace(cbpf);
  } catch (const std::invalid_argument& e) {  // a program libpcap would run: not expected
    Fail(expression_, e.what());
  }

  rte_errno = 0;
  std::unique_ptr<rte_bpf_prm, RteFreer> prm(rte_bpf_convert(&cbpf));
  if (!prm) {
    // ENOMEM here usually means no EAL yet: the conversion uses rte_malloc.
    Fail(expression_, std::string("rte_bpf_convert: ") + rte_strerror(rte_errno) +
                          (rte_errno == ENOMEM ? " (is the EAL initialised?)" : ""));
  }
  std::vector<ebpf_insn> ins(prm->ins, prm->ins + prm->nb_ins);
  IndexIndirectLoadsByX(expression_, ins);
  ins = AvoidShortJsetImmediates(expression_, ins);
  prm->ins = ins.data();
  prm->nb_ins = static_cast<uint32_t>(ins.size());
  // The program's argument is the mbuf itself; converted packet loads read
  // through rte_pktmbuf_read, so chained segments are followed.
  prm->prog_arg.type = RTE_BPF_ARG_PTR_MBUF;
  prm->prog_arg.size = sizeof(rte_mbuf);
  prm->prog_arg.buf_size = kMaxSegmentData;

  rte_errno = 0;
  bpf_ = rte_bpf_load(prm.get());  // copies the instructions
  if (bpf_ == nullptr) Fail(expression_, std::string("rte_bpf_load: ") + rte_strerror(rte_errno));

  rte_bpf_jit jit{};
  if (rte_bpf_get_jit(bpf_, &jit) == 0 && jit.func != nullptr) jit_func_ = jit.func;
}

BpfFilter::~BpfFilter() { rte_bpf_destroy(bpf_); }

const std::string& BpfFilter::expression() const { return expression_; }

bool BpfFilter::jit() const { return jit_func_ != nullptr; }

bool BpfFilter::matches_interpreted(rte_mbuf* m) const noexcept {
  if (m->nb_segs != 1) return matches(m);  // the interpreter reads one buffer
  return interpreted_->matches(rte_pktmbuf_mtod(m, const uint8_t*), m->pkt_len, m->data_len);
}

void BpfFilter::interpret(rte_mbuf* const* pkts, uint32_t n, uint64_t* rc) const noexcept {
  for (uint32_t i = 0; i < n; ++i) rc[i] = rte_bpf_exec(bpf_, pkts[i]);
}

}  // namespace vxc
