// CbpfProgram against libpcap: its checks (every program it accepts, libpcap's
// bpf_validate accepts too) and its verdicts (libpcap's bpf_filter returns the
// same value for every accepted program and frame). No DPDK here: DPDK's
// static bpf library defines a bpf_validate of its own.
#include "cbpf.h"

#include <gtest/gtest.h>
#include <pcap/pcap.h>

#include <cstdint>
#include <random>
#include <stdexcept>
#include <string>
#include <vector>

namespace vxc {
namespace {

using Program = std::vector<bpf_insn>;

bpf_insn Stmt(uint16_t code, uint32_t k) { return {code, 0, 0, k}; }
bpf_insn Jump(uint16_t code, uint32_t k, uint8_t jt, uint8_t jf) { return {code, jt, jf, k}; }

// Builds a CbpfProgram; returns its error message, "" when it was accepted.
std::string Check(Program p) {
  const bpf_program program{static_cast<u_int>(p.size()), p.data()};
  try {
    CbpfProgram accepted(program);
    return "";
  } catch (const std::invalid_argument& e) {
    return e.what();
  }
}

bool LibpcapValidates(Program p) { return bpf_validate(p.data(), static_cast<int>(p.size())) != 0; }

TEST(Cbpf, RejectsWhatItCannotRunSafely) {
  const bpf_insn ret = Stmt(BPF_RET | BPF_K, 1);
  struct Case {
    const char* name;
    Program program;
    const char* error;
  };
  // clang-format off
  const Case cases[] = {
    {"empty", {}, "a program of 0 instructions"},
    {"no return at the end", {Stmt(BPF_LD | BPF_IMM, 1)}, "does not end with a return"},
    {"ja past the end", {Stmt(BPF_JMP | BPF_JA, 1), ret}, "jump past the end"},
    {"jt past the end", {Jump(BPF_JMP | BPF_JEQ | BPF_K, 0, 1, 0), ret}, "jump past the end"},
    {"jf past the end", {Jump(BPF_JMP | BPF_JGT | BPF_X, 0, 0, 2), ret, ret}, "jump past the end"},
    {"scratch index 16", {Stmt(BPF_ST, 16), ret}, "scratch memory index out of range"},
    {"scratch read first", {Stmt(BPF_LDX | BPF_MEM, 3), ret}, "read before it is written"},
    {"written on one path only",
     {Jump(BPF_JMP | BPF_JEQ | BPF_K, 0, 0, 1), Stmt(BPF_ST, 2), Stmt(BPF_LD | BPF_MEM, 2), ret},
     "read before it is written"},
    {"division by constant 0", {Stmt(BPF_ALU | BPF_DIV | BPF_K, 0), ret}, "division by 0"},
    {"modulo by constant 0", {Stmt(BPF_ALU | BPF_MOD | BPF_K, 0), ret}, "division by 0"},
    {"shift by 32", {Stmt(BPF_ALU | BPF_LSH | BPF_K, 32), ret}, "shift by 32 or more"},
    {"unknown opcode", {Stmt(0xffff, 0), ret}, "not an instruction libpcap runs"},
    {"64-bit load", {Stmt(BPF_LD | 0x18 | BPF_ABS, 0), ret}, "not an instruction libpcap runs"},
  };
  // clang-format on
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    EXPECT_NE(Check(c.program).find(c.error), std::string::npos) << Check(c.program);
  }
  // Written on both paths, or before the branch: fine.
  EXPECT_EQ(
      Check({Jump(BPF_JMP | BPF_JEQ | BPF_K, 0, 0, 2), Stmt(BPF_ST, 2), Stmt(BPF_JMP | BPF_JA, 1),
             Stmt(BPF_STX, 2), Stmt(BPF_LD | BPF_MEM, 2), Stmt(BPF_RET | BPF_A, 0)}),
      "");
  EXPECT_EQ(Check({Stmt(BPF_ST, 15), Jump(BPF_JMP | BPF_JEQ | BPF_K, 0, 0, 1),
                   Stmt(BPF_LD | BPF_IMM, 7), Stmt(BPF_LDX | BPF_MEM, 15), ret}),
            "");
}

// What tcpdump writes, through pcap_compile: accepted, and each one's verdict
// on one frame is libpcap's.
TEST(Cbpf, RunsPcapCompilePrograms) {
  // An IPv4 TCP ACK from 10.0.0.1:40000 to 10.0.0.2:443 behind a VLAN tag.
  const std::vector<uint8_t> frame = {
      0x02, 0,    0,    0,    0,    2,    0x02, 0,    0,    0,    0,    1,    0x81, 0x00, 0x00,
      0x64, 0x08, 0x00, 0x45, 0,    0,    40,   0,    1,    0x40, 0,    64,   6,    0,    0,
      10,   0,    0,    1,    10,   0,    0,    2,    0x9c, 0x40, 0x01, 0xbb, 0,    0,    0x03,
      0xe8, 0,    0,    0x07, 0xd0, 0x50, 0x10, 0xff, 0xff, 0,    0,    0,    0};
  const char* expressions[] = {"",
                               "vlan 100 and tcp port 443",
                               "vlan 101",
                               "tcp or vlan 42",
                               "vlan and host 10.0.0.2",
                               "vlan and tcp[tcpflags] & tcp-ack != 0",
                               "vlan and ip[2:2] - ((ip[0] & 0xf) << 2) > 10",
                               "len > 40",
                               "vlan and ip[2:2] * 3 / 7 % 5 = 2",
                               "ip6 or arp"};
  pcap_t* pcap = pcap_open_dead(DLT_EN10MB, 65535);
  ASSERT_NE(pcap, nullptr);
  size_t matched = 0;
  for (const char* expression : expressions) {
    SCOPED_TRACE(expression);
    bpf_program code{};
    ASSERT_EQ(pcap_compile(pcap, &code, expression, 1, PCAP_NETMASK_UNKNOWN), 0)
        << pcap_geterr(pcap);
    const CbpfProgram program(code);
    const auto len = static_cast<uint32_t>(frame.size());
    for (uint32_t cut : {len, len - 10, 30u, 14u, 0u}) {
      SCOPED_TRACE("first " + std::to_string(cut) + " bytes");
      const uint32_t expected = bpf_filter(code.bf_insns, frame.data(), len, cut);
      EXPECT_EQ(program.run(frame.data(), len, cut), expected);
      EXPECT_EQ(program.matches(frame.data(), len, cut), expected != 0);
      matched += expected != 0;
    }
    pcap_freecode(&code);
  }
  pcap_close(pcap);
  EXPECT_GT(matched, 10u);  // not a table of misses
}

// Random programs of every instruction libpcap runs, on random frames: every
// program CbpfProgram accepts, bpf_validate accepts, and bpf_filter returns
// the same value on every frame and every cut of it.
TEST(Cbpf, AgreesWithLibpcapOnRandomPrograms) {
  std::mt19937 rng(20261127);
  // clang-format off
  const uint16_t codes[] = {
      BPF_RET | BPF_K, BPF_RET | BPF_A,
      BPF_LD | BPF_W | BPF_ABS, BPF_LD | BPF_H | BPF_ABS, BPF_LD | BPF_B | BPF_ABS,
      BPF_LD | BPF_W | BPF_IND, BPF_LD | BPF_H | BPF_IND, BPF_LD | BPF_B | BPF_IND,
      BPF_LD | BPF_W | BPF_LEN, BPF_LDX | BPF_W | BPF_LEN, BPF_LDX | BPF_B | BPF_MSH,
      BPF_LD | BPF_IMM, BPF_LDX | BPF_IMM, BPF_LD | BPF_MEM, BPF_LDX | BPF_MEM, BPF_ST, BPF_STX,
      BPF_JMP | BPF_JA,
      BPF_JMP | BPF_JGT | BPF_K, BPF_JMP | BPF_JGE | BPF_K, BPF_JMP | BPF_JEQ | BPF_K,
      BPF_JMP | BPF_JSET | BPF_K, BPF_JMP | BPF_JGT | BPF_X, BPF_JMP | BPF_JGE | BPF_X,
      BPF_JMP | BPF_JEQ | BPF_X, BPF_JMP | BPF_JSET | BPF_X,
      BPF_ALU | BPF_ADD | BPF_K, BPF_ALU | BPF_SUB | BPF_K, BPF_ALU | BPF_MUL | BPF_K,
      BPF_ALU | BPF_DIV | BPF_K, BPF_ALU | BPF_MOD | BPF_K, BPF_ALU | BPF_AND | BPF_K,
      BPF_ALU | BPF_OR | BPF_K, BPF_ALU | BPF_XOR | BPF_K, BPF_ALU | BPF_LSH | BPF_K,
      BPF_ALU | BPF_RSH | BPF_K,
      BPF_ALU | BPF_ADD | BPF_X, BPF_ALU | BPF_SUB | BPF_X, BPF_ALU | BPF_MUL | BPF_X,
      BPF_ALU | BPF_DIV | BPF_X, BPF_ALU | BPF_MOD | BPF_X, BPF_ALU | BPF_AND | BPF_X,
      BPF_ALU | BPF_OR | BPF_X, BPF_ALU | BPF_XOR | BPF_X, BPF_ALU | BPF_LSH | BPF_X,
      BPF_ALU | BPF_RSH | BPF_X,
      BPF_ALU | BPF_NEG, BPF_MISC | BPF_TAX, BPF_MISC | BPF_TXA,
  };
  // clang-format on
  // Constants: packet offsets near the frames' lengths, scratch indexes,
  // shift counts, and values that wrap.
  auto constant = [&]() -> uint32_t {
    switch (rng() % 6) {
      case 0:
        return rng() % 80;
      case 1:
        return rng() % 16;
      case 2:
        return rng() % 40;
      case 3:
        return 0xffffffffu - rng() % 4;
      case 4:
        return 0xfffff000u + rng() % 64;  // Linux's extension offsets
      default:
        return rng();
    }
  };
  std::vector<std::vector<uint8_t>> frames;
  for (int i = 0; i < 12; ++i) {
    std::vector<uint8_t> f(rng() % 90);
    for (auto& b : f) b = static_cast<uint8_t>(rng() % 4 == 0 ? rng() % 8 : rng());
    frames.push_back(std::move(f));
  }

  size_t accepted = 0, compared = 0, nonzero = 0;
  for (int n = 0; n < 40000; ++n) {
    const size_t len = 1 + rng() % 14;
    Program p;
    for (size_t i = 0; i < len; ++i) {
      const auto after = static_cast<uint32_t>(len - 1 - i);
      const uint16_t code = i + 1 == len ? codes[rng() % 2] : codes[rng() % std::size(codes)];
      bpf_insn in{code, 0, 0, constant()};
      if (after > 0) {
        in.jt = static_cast<uint8_t>(rng() % after);
        in.jf = static_cast<uint8_t>(rng() % after);
        if (code == (BPF_JMP | BPF_JA)) in.k = rng() % after;
      }
      p.push_back(in);
    }
    if (!Check(p).empty()) continue;
    ++accepted;
    ASSERT_TRUE(LibpcapValidates(p)) << "program " << n;
    const bpf_program program{static_cast<u_int>(p.size()), p.data()};
    const CbpfProgram ours(program);
    for (const auto& f : frames) {
      const auto wire = static_cast<uint32_t>(f.size());
      for (uint32_t cut : {wire, wire / 2}) {
        const uint32_t expected = bpf_filter(p.data(), f.data(), wire, cut);
        ASSERT_EQ(ours.run(f.data(), wire, cut), expected)
            << "program " << n << ", frame of " << wire << " bytes, first " << cut;
        ASSERT_EQ(ours.matches(f.data(), wire, cut), expected != 0)
            << "program " << n << ", frame of " << wire << " bytes, first " << cut;
        ++compared;
        nonzero += expected != 0;
      }
    }
  }
  std::printf("random programs: %zu of 40000 accepted, %zu runs compared, %zu non-zero\n", accepted,
              compared, nonzero);
  EXPECT_GT(accepted, 4000u);         // the generator is not mostly rejected
  EXPECT_GT(nonzero, compared / 10);  // nor mostly returns 0
}

}  // namespace
}  // namespace vxc
