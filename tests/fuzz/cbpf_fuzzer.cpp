// libFuzzer target: the worker's classic BPF interpreter (dataplane/cbpf.h)
// against libpcap's, on any program and any frame.
//
// Input: [0] instruction count n (1..64, taken modulo 64, 0 meaning 64),
// then n instructions of 8 bytes as struct bpf_insn lays them out (code
// little-endian 16 bits, jt, jf, k little-endian 32 bits), then [1] how many
// of the frame's bytes are in the buffer (clamped to the frame), then the
// frame. Short inputs are ignored.
//
// Checked: CbpfProgram's constructor either throws std::invalid_argument or
// accepts a program libpcap's bpf_validate accepts too; an accepted program
// returns what libpcap's bpf_filter returns over the same bytes. The buffer
// is its own allocation of exactly the in-buffer bytes, so ASan reports any
// read past them; UBSan any undefined arithmetic.
#include <pcap/pcap.h>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <stdexcept>
#include <vector>

#include "cbpf.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1) return 0;
  const size_t n = data[0] % 64 == 0 ? 64 : data[0] % 64;
  if (size < 1 + n * 8 + 1) return 0;
  std::vector<bpf_insn> insns(n);
  for (size_t i = 0; i < n; ++i) {
    const uint8_t* in = data + 1 + i * 8;
    insns[i].code = static_cast<u_short>(in[0] | in[1] << 8);
    insns[i].jt = in[2];
    insns[i].jf = in[3];
    insns[i].k = static_cast<bpf_u_int32>(in[4] | in[5] << 8 | in[6] << 16 | uint32_t{in[7]} << 24);
  }
  const uint8_t* frame = data + 1 + n * 8 + 1;
  const auto wire = static_cast<uint32_t>(size - (1 + n * 8 + 1));
  const uint32_t cut = std::min<uint32_t>(data[1 + n * 8], wire);

  const bpf_program program{static_cast<u_int>(n), insns.data()};
  std::unique_ptr<vxc::CbpfProgram> ours;
  try {
    ours = std::make_unique<vxc::CbpfProgram>(program);
  } catch (const std::invalid_argument&) {
    return 0;
  }
  if (bpf_validate(insns.data(), static_cast<int>(n)) == 0) {
    std::fprintf(stderr, "cbpf_fuzzer: accepted a program bpf_validate rejects\n");
    std::abort();
  }
  // Exactly `cut` bytes of its own (at least one, for a valid pointer).
  std::unique_ptr<uint8_t[]> buffer(new uint8_t[cut == 0 ? 1 : cut]);
  std::memcpy(buffer.get(), frame, cut);
  const uint32_t got = ours->run(buffer.get(), wire, cut);
  const u_int want = bpf_filter(insns.data(), buffer.get(), wire, cut);
  if (ours->matches(buffer.get(), wire, cut) != (want != 0)) {
    std::fprintf(stderr, "cbpf_fuzzer: matches() disagrees with libpcap's %u (%zu instructions)\n",
                 want, n);
    std::abort();
  }
  if (got != want) {
    std::fprintf(stderr,
                 "cbpf_fuzzer: returned %u, libpcap %u (%zu instructions, %u of %u bytes)\n", got,
                 want, n, cut, wire);
    std::abort();
  }
  return 0;
}
