#include "cbpf.h"

#include <pcap/pcap.h>

#include <algorithm>
#include <cstring>
#include <iterator>
#include <stdexcept>
#include <string>

namespace vxc {

// clang-format off
enum class CbpfOp : uint8_t {
  ret_k, ret_a,
  ld_w_abs, ld_h_abs, ld_b_abs, ld_w_ind, ld_h_ind, ld_b_ind, ld_len, ldx_len, ldx_msh,
  ld_imm, ldx_imm, ld_mem, ldx_mem, st, stx,
  ja, jgt_k, jge_k, jeq_k, jset_k, jgt_x, jge_x, jeq_x, jset_x,
  add_k, sub_k, mul_k, div_k, mod_k, and_k, or_k, xor_k, lsh_k, rsh_k,
  add_x, sub_x, mul_x, div_x, mod_x, and_x, or_x, xor_x, lsh_x, rsh_x,
  neg, tax, txa,
  // A packet load whose next instruction is `jeq #k`, run in the same step
  // (the jeq stays in place for jumps that land on it). pcap_compile's
  // programs are mostly such pairs: half the dispatches.
  ld_w_abs_jeq, ld_h_abs_jeq, ld_b_abs_jeq, ld_w_ind_jeq, ld_h_ind_jeq, ld_b_ind_jeq,
};
// clang-format on

namespace {

using Op = CbpfOp;

struct OpCode {
  uint16_t code;  // classic BPF
  Op op;
};

// clang-format off
constexpr OpCode kOpCodes[] = {
  {BPF_RET | BPF_K, Op::ret_k}, {BPF_RET | BPF_A, Op::ret_a},
  {BPF_LD | BPF_W | BPF_ABS, Op::ld_w_abs}, {BPF_LD | BPF_H | BPF_ABS, Op::ld_h_abs},
  {BPF_LD | BPF_B | BPF_ABS, Op::ld_b_abs}, {BPF_LD | BPF_W | BPF_IND, Op::ld_w_ind},
  {BPF_LD | BPF_H | BPF_IND, Op::ld_h_ind}, {BPF_LD | BPF_B | BPF_IND, Op::ld_b_ind},
  {BPF_LD | BPF_W | BPF_LEN, Op::ld_len}, {BPF_LDX | BPF_W | BPF_LEN, Op::ldx_len},
  {BPF_LDX | BPF_B | BPF_MSH, Op::ldx_msh},
  {BPF_LD | BPF_IMM, Op::ld_imm}, {BPF_LDX | BPF_IMM, Op::ldx_imm},
  {BPF_LD | BPF_MEM, Op::ld_mem}, {BPF_LDX | BPF_MEM, Op::ldx_mem},
  {BPF_ST, Op::st}, {BPF_STX, Op::stx},
  {BPF_JMP | BPF_JA, Op::ja},
  {BPF_JMP | BPF_JGT | BPF_K, Op::jgt_k}, {BPF_JMP | BPF_JGE | BPF_K, Op::jge_k},
  {BPF_JMP | BPF_JEQ | BPF_K, Op::jeq_k}, {BPF_JMP | BPF_JSET | BPF_K, Op::jset_k},
  {BPF_JMP | BPF_JGT | BPF_X, Op::jgt_x}, {BPF_JMP | BPF_JGE | BPF_X, Op::jge_x},
  {BPF_JMP | BPF_JEQ | BPF_X, Op::jeq_x}, {BPF_JMP | BPF_JSET | BPF_X, Op::jset_x},
  {BPF_ALU | BPF_ADD | BPF_K, Op::add_k}, {BPF_ALU | BPF_SUB | BPF_K, Op::sub_k},
  {BPF_ALU | BPF_MUL | BPF_K, Op::mul_k}, {BPF_ALU | BPF_DIV | BPF_K, Op::div_k},
  {BPF_ALU | BPF_MOD | BPF_K, Op::mod_k}, {BPF_ALU | BPF_AND | BPF_K, Op::and_k},
  {BPF_ALU | BPF_OR | BPF_K, Op::or_k}, {BPF_ALU | BPF_XOR | BPF_K, Op::xor_k},
  {BPF_ALU | BPF_LSH | BPF_K, Op::lsh_k}, {BPF_ALU | BPF_RSH | BPF_K, Op::rsh_k},
  {BPF_ALU | BPF_ADD | BPF_X, Op::add_x}, {BPF_ALU | BPF_SUB | BPF_X, Op::sub_x},
  {BPF_ALU | BPF_MUL | BPF_X, Op::mul_x}, {BPF_ALU | BPF_DIV | BPF_X, Op::div_x},
  {BPF_ALU | BPF_MOD | BPF_X, Op::mod_x}, {BPF_ALU | BPF_AND | BPF_X, Op::and_x},
  {BPF_ALU | BPF_OR | BPF_X, Op::or_x}, {BPF_ALU | BPF_XOR | BPF_X, Op::xor_x},
  {BPF_ALU | BPF_LSH | BPF_X, Op::lsh_x}, {BPF_ALU | BPF_RSH | BPF_X, Op::rsh_x},
  {BPF_ALU | BPF_NEG, Op::neg}, {BPF_MISC | BPF_TAX, Op::tax}, {BPF_MISC | BPF_TXA, Op::txa},
};
// clang-format on

// The enum lists the conditional jumps together, jgt_k to jset_x.
bool is_conditional_jump(Op op) { return op >= Op::jgt_k && op <= Op::jset_x; }

// The fused form of a load followed by `jeq #k`, or the load itself. The
// enum lists the six packet loads and their fused forms in the same order.
static_assert(static_cast<int>(Op::ld_b_ind) - static_cast<int>(Op::ld_w_abs) ==
              static_cast<int>(Op::ld_b_ind_jeq) - static_cast<int>(Op::ld_w_abs_jeq));
Op with_jeq(Op load) {
  if (load < Op::ld_w_abs || load > Op::ld_b_ind) return load;
  return static_cast<Op>(static_cast<int>(Op::ld_w_abs_jeq) + static_cast<int>(load) -
                         static_cast<int>(Op::ld_w_abs));
}

// Insn::folds of a conditional jump: two bits for where it lands when true,
// the same two shifted left by 2 for when false. kReturns: on `ret #k`;
// kMatches: that k is not 0.
constexpr uint8_t kReturns = 1, kMatches = 2;

// The two bits for a jump landing on `target`.
template <typename Insn>
uint8_t fold_of(const Insn& target) {
  if (target.op != CbpfOp::ret_k) return 0;
  return kReturns | (target.k != 0 ? kMatches : 0);
}

// Moves pc past the conditional jump at pc, `taken` or not. Verdict runs
// stop at a jump that lands on `ret #k` instead: true, with `verdict` set.
template <bool kVerdictOnly, typename Insn>
inline bool take_jump(const Insn*& pc, bool taken, uint32_t& verdict) noexcept {
  if constexpr (kVerdictOnly) {
    const unsigned side = taken ? pc->folds : pc->folds >> 2;
    if ((side & kReturns) != 0) {
      verdict = (side & kMatches) != 0;
      return true;
    }
  }
  pc += taken ? pc->jt : pc->jf;
  return false;
}

// Loads the N big-endian bytes at p[offset] into a; false when they do not
// all lie within the first len bytes. 64-bit: X + k cannot wrap.
template <unsigned N>
inline bool load(const uint8_t* p, uint64_t len, uint64_t offset, uint32_t& a) noexcept {
  if (offset + N > len) return false;
  if constexpr (N == 1) {
    a = p[offset];
  } else if constexpr (N == 2) {
    uint16_t v;
    std::memcpy(&v, p + offset, 2);
    a = __builtin_bswap16(v);
  } else {
    uint32_t v;
    std::memcpy(&v, p + offset, 4);
    a = __builtin_bswap32(v);
  }
  return true;
}

}  // namespace

CbpfProgram::CbpfProgram(const bpf_program& program) {
  const uint32_t n = program.bf_len;
  if (n == 0 || program.bf_insns == nullptr)
    throw std::invalid_argument("classic BPF: a program of " + std::to_string(n) + " instructions");
  // [i] the scratch words written on every path to instruction i (0xffff
  // while no path is known: jumps only go forward, so one pass in order
  // sees every path into i before i).
  std::vector<uint16_t> written(n, 0xffff);
  written[0] = 0;
  insns_.reserve(n);
  for (uint32_t i = 0; i < n; ++i) {
    const bpf_insn& in = program.bf_insns[i];
    auto fail = [&](const std::string& why) {
      throw std::invalid_argument("classic BPF instruction " + std::to_string(i) + " (code " +
                                  std::to_string(in.code) + "): " + why);
    };
    const OpCode* oc = std::find_if(std::begin(kOpCodes), std::end(kOpCodes),
                                    [&](const OpCode& c) { return c.code == in.code; });
    if (oc == std::end(kOpCodes)) fail("not an instruction libpcap runs");
    const Op op = oc->op;
    uint16_t w = written[i];
    switch (op) {
      case Op::ld_mem:
      case Op::ldx_mem:
        if (in.k >= BPF_MEMWORDS) fail("scratch memory index out of range");
        if ((w >> in.k & 1) == 0) fail("scratch memory read before it is written");
        break;
      case Op::st:
      case Op::stx:
        if (in.k >= BPF_MEMWORDS) fail("scratch memory index out of range");
        w = static_cast<uint16_t>(w | 1u << in.k);
        break;
      case Op::div_k:
      case Op::mod_k:
        if (in.k == 0) fail("division by 0");
        break;
      case Op::lsh_k:
      case Op::rsh_k:
        if (in.k >= 32) fail("shift by 32 or more");
        break;
      default:
        break;
    }
    const uint32_t after = n - 1 - i;  // instructions after this one
    if (op == Op::ja) {
      if (in.k >= after) fail("jump past the end");
      written[i + 1 + in.k] &= w;
    } else if (is_conditional_jump(op)) {
      if (in.jt >= after || in.jf >= after) fail("jump past the end");
      written[i + 1 + in.jt] &= w;
      written[i + 1 + in.jf] &= w;
    } else if (op != Op::ret_k && op != Op::ret_a) {
      if (after == 0) fail("the program does not end with a return");
      written[i + 1] &= w;
    }
    insns_.push_back({op, in.jt, in.jf, 0, in.k});
  }
  for (uint32_t i = 0; i + 1 < n; ++i)
    if (insns_[i + 1].op == Op::jeq_k) insns_[i].op = with_jeq(insns_[i].op);
  for (uint32_t i = 0; i < n; ++i) {
    Insn& in = insns_[i];
    if (is_conditional_jump(in.op))
      in.folds = static_cast<uint8_t>(fold_of(insns_[i + 1 + in.jt]) |
                                      fold_of(insns_[i + 1 + in.jf]) << 2);
  }
}

uint32_t CbpfProgram::run(const uint8_t* p, uint32_t wire_len, uint32_t len) const noexcept {
  return execute<false>(p, wire_len, len);
}

bool CbpfProgram::matches(const uint8_t* p, uint32_t wire_len, uint32_t len) const noexcept {
  return execute<true>(p, wire_len, len) != 0;
}

template <bool kVerdictOnly>
uint32_t CbpfProgram::execute(const uint8_t* p, uint32_t wire_len, uint32_t length) const noexcept {
  const uint64_t len = length;  // widened once, not at every load
  uint32_t a = 0;
  uint32_t x = 0;
  // Not zeroed: the constructor proved that every path writes a word before
  // it reads it (zeroing them cost 7 instructions a packet in the pipeline).
  uint32_t mem[BPF_MEMWORDS];
  uint32_t verdict = 0;  // set by take_jump when it ends the run
  // Every path ends at a return (the constructor's checks), so pc stays
  // inside the program.
  for (const Insn* pc = insns_.data();; ++pc) {
    const uint32_t k = pc->k;
    // A conditional jump at pc: moves pc, or returns the verdict it carries.
#define VXC_CBPF_JUMP(taken)                                         \
  if (take_jump<kVerdictOnly>(pc, (taken), verdict)) return verdict; \
  break
    // clang-format off
    switch (pc->op) {
      case Op::ret_k: return k;
      case Op::ret_a: return a;
      case Op::ld_w_abs: if (!load<4>(p, len, k, a)) return 0; break;
      case Op::ld_h_abs: if (!load<2>(p, len, k, a)) return 0; break;
      case Op::ld_b_abs: if (!load<1>(p, len, k, a)) return 0; break;
      case Op::ld_w_ind: if (!load<4>(p, len, uint64_t{x} + k, a)) return 0; break;
      case Op::ld_h_ind: if (!load<2>(p, len, uint64_t{x} + k, a)) return 0; break;
      case Op::ld_b_ind: if (!load<1>(p, len, uint64_t{x} + k, a)) return 0; break;
      case Op::ld_w_abs_jeq: if (!load<4>(p, len, k, a)) return 0; ++pc; VXC_CBPF_JUMP(a == pc->k);
      case Op::ld_h_abs_jeq: if (!load<2>(p, len, k, a)) return 0; ++pc; VXC_CBPF_JUMP(a == pc->k);
      case Op::ld_b_abs_jeq: if (!load<1>(p, len, k, a)) return 0; ++pc; VXC_CBPF_JUMP(a == pc->k);
      case Op::ld_w_ind_jeq: if (!load<4>(p, len, uint64_t{x} + k, a)) return 0; ++pc; VXC_CBPF_JUMP(a == pc->k);
      case Op::ld_h_ind_jeq: if (!load<2>(p, len, uint64_t{x} + k, a)) return 0; ++pc; VXC_CBPF_JUMP(a == pc->k);
      case Op::ld_b_ind_jeq: if (!load<1>(p, len, uint64_t{x} + k, a)) return 0; ++pc; VXC_CBPF_JUMP(a == pc->k);
      case Op::ld_len: a = wire_len; break;
      case Op::ldx_len: x = wire_len; break;
      case Op::ldx_msh: if (!load<1>(p, len, k, x)) return 0; x = (x & 0xf) << 2; break;
      case Op::ld_imm: a = k; break;
      case Op::ldx_imm: x = k; break;
      case Op::ld_mem: a = mem[k]; break;
      case Op::ldx_mem: x = mem[k]; break;
      case Op::st: mem[k] = a; break;
      case Op::stx: mem[k] = x; break;
      case Op::ja: pc += k; break;
      case Op::jgt_k: VXC_CBPF_JUMP(a > k);
      case Op::jge_k: VXC_CBPF_JUMP(a >= k);
      case Op::jeq_k: VXC_CBPF_JUMP(a == k);
      case Op::jset_k: VXC_CBPF_JUMP((a & k) != 0);
      case Op::jgt_x: VXC_CBPF_JUMP(a > x);
      case Op::jge_x: VXC_CBPF_JUMP(a >= x);
      case Op::jeq_x: VXC_CBPF_JUMP(a == x);
      case Op::jset_x: VXC_CBPF_JUMP((a & x) != 0);
      case Op::add_k: a += k; break;
      case Op::sub_k: a -= k; break;
      case Op::mul_k: a *= k; break;
      case Op::div_k: a /= k; break;
      case Op::mod_k: a %= k; break;
      case Op::and_k: a &= k; break;
      case Op::or_k: a |= k; break;
      case Op::xor_k: a ^= k; break;
      case Op::lsh_k: a <<= k; break;
      case Op::rsh_k: a >>= k; break;
      case Op::add_x: a += x; break;
      case Op::sub_x: a -= x; break;
      case Op::mul_x: a *= x; break;
      case Op::div_x: if (x == 0) return 0; a /= x; break;
      case Op::mod_x: if (x == 0) return 0; a %= x; break;
      case Op::and_x: a &= x; break;
      case Op::or_x: a |= x; break;
      case Op::xor_x: a ^= x; break;
      case Op::lsh_x: a = x < 32 ? a << x : 0; break;
      case Op::rsh_x: a = x < 32 ? a >> x : 0; break;
      case Op::neg: a = 0u - a; break;
      case Op::tax: x = a; break;
      case Op::txa: a = x; break;
      // Every op is one the constructor made: no range check before the
      // jump table.
      default: __builtin_unreachable();
    }
    // clang-format on
  }
}
#undef VXC_CBPF_JUMP

}  // namespace vxc
