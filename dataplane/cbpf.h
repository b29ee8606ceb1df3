// Classic BPF, interpreted: the capture filter's path when lanes have
// different programs (pipeline.cpp's passes() says when and why). The
// semantics are libpcap's bpf_filter(), what tcpdump runs in user space:
// the same return value (run) and verdict (matches) for every program the
// constructor accepts and every frame (tests/unit/cbpf_test.cpp compares
// them on random programs and frames, tests/fuzz/cbpf_fuzzer.cpp on any,
// tests/unit/bpf_filter_test.cpp on tcpdump's programs).
#pragma once

#include <cstdint>
#include <vector>

struct bpf_program;

namespace vxc {

enum class CbpfOp : uint8_t;  // cbpf.cpp: an instruction as the interpreter runs it

class CbpfProgram {
 public:
  // Checks and translates a classic BPF program, e.g. pcap_compile's: every
  // opcode one of libpcap's (no Linux extensions, which pcap_compile emits
  // for live Linux handles only), every jump inside the program, scratch
  // memory indexes below 16 and never read before written on any path, no
  // constant divisor of 0 or shift of 32 or more, a return at the end.
  // Throws std::invalid_argument naming the instruction otherwise.
  explicit CbpfProgram(const bpf_program& program);

  // The program's return value over the first `len` bytes at `p` of a frame
  // `wire_len` bytes long (0: no match). A load past `len` returns 0.
  // noexcept, no allocation.
  uint32_t run(const uint8_t* p, uint32_t wire_len, uint32_t len) const noexcept;

  // run(p, wire_len, len) != 0, a step shorter where a conditional jump lands
  // on `ret #k`: the jump carries that return's verdict, so its instruction
  // is neither dispatched nor read (in a pcap_compile program, usually a
  // cache line of its own). noexcept, no allocation.
  bool matches(const uint8_t* p, uint32_t wire_len, uint32_t len) const noexcept;

  // Asks for the program's first instructions to be cached (a hint: no effect
  // on any result).
  void prefetch() const noexcept { __builtin_prefetch(insns_.data()); }

 private:
  struct Insn {
    CbpfOp op;
    uint8_t jt;  // conditional jumps: instructions skipped when true / false
    uint8_t jf;
    uint8_t folds;  // conditional jumps: what their targets return (cbpf.cpp, fold_of)
    uint32_t k;
  };
  static_assert(sizeof(Insn) == 8);

  template <bool kVerdictOnly>
  uint32_t execute(const uint8_t* p, uint32_t wire_len, uint32_t len) const noexcept;

  std::vector<Insn> insns_;
};

}  // namespace vxc
