#include "micro_frames.h"

#include <algorithm>
#include <cstring>
#include <map>
#include <random>
#include <stdexcept>

#include "bench/builder.h"
#include "bench/frames.h"

namespace vxc::micro {
namespace {

struct Inner {
  std::vector<uint8_t> frame;
  uint32_t vni;
};

const std::vector<Inner>& inner_mix() {
  static const std::vector<Inner> mix = [] {
    bench::FrameMix m;
    m.vnis = {100, 101, 102, 103, 200, 201, 300, 4000};
    std::vector<Inner> out;
    for (const bench::Frame& f : bench::build_frames(m))
      out.push_back({{f.bytes.begin() + f.outer_len, f.bytes.end()}, f.vni});
    return out;
  }();
  return mix;
}

// ByteWriter plus the outer headers the parser benchmarks need.
class Builder : public bench::ByteWriter {
 public:
  using ByteWriter::ByteWriter;

  void ethernet(uint16_t ethertype, bool vlan) {
    const uint8_t macs[12] = {0x02, 0, 0, 0, 0, 0x01, 0x02, 0, 0, 0, 0, 0xfe};
    bytes(macs, 12);
    if (vlan) {
      u16(0x8100);
      u16(42);  // VLAN id
    }
    u16(ethertype);
  }
  // IP header checksums stay 0: parse_outer never reads them.
  void ipv4(uint32_t src, uint32_t dst, uint32_t payload_len) {
    u8(0x45);
    u8(0);
    u16(static_cast<uint16_t>(20 + payload_len));
    u16(0);
    u16(0x4000);  // DF
    u8(64);
    u8(17);  // UDP
    u16(0);
    u32(src);
    u32(dst);
  }
  void ipv6(uint8_t src_low, uint32_t payload_len) {
    u32(0x60000000u);
    u16(static_cast<uint16_t>(payload_len));
    u8(17);  // UDP
    u8(64);
    const uint8_t prefix[15] = {0x20, 0x01, 0x0d, 0xb8, 0, 1};
    bytes(prefix, 15);
    u8(src_low);
    bytes(prefix, 15);
    u8(10);
  }
  // UDP checksum 0 (also over IPv6): parse_outer never reads it.
  void udp(uint16_t sport, uint16_t dport, uint32_t payload_len) {
    u16(sport);
    u16(dport);
    u16(static_cast<uint16_t>(8 + payload_len));
    u16(0);
  }
  void vxlan(uint32_t vni) {
    u32(0x08000000u);  // I flag
    u32(vni << 8);
  }
  // GENEVE with the three AWS GWLB options: ENI id, attachment id, flow cookie.
  static constexpr uint32_t kGeneveLen = 8 + 3 * 4 + 8 + 8 + 4;
  void geneve(uint32_t vni, uint16_t protocol, uint32_t i) {
    u8((kGeneveLen - 8) / 4);  // Ver 0, Opt Len in 4-byte words
    u8(0);
    u16(protocol);
    u32(vni << 8);
    u32(uint32_t{kGeneveClassAws} << 16 | 1u << 8 | 2);  // class, type 1, length 2 words
    u64(0x0a1b2c3d4e5f0000ull + i % 4);
    u32(uint32_t{kGeneveClassAws} << 16 | 2u << 8 | 2);
    u64(0x7700000000000000ull + i % 2);
    u32(uint32_t{kGeneveClassAws} << 16 | 3u << 8 | 1);
    u32(0xc0de0000u + i);
  }
};

OuterFrame wrap_one(Wrap wrap, uint32_t i, const Inner& in) {
  OuterFrame f;
  Builder b(f.bytes);
  const uint32_t n = static_cast<uint32_t>(in.frame.size());
  const uint32_t mirror_source = 0x0a010000u + 1 + i % 16;  // 16 mirror sources, 10.1.0.x
  const uint32_t collector = 0x0a00000au;                   // 10.0.0.10
  const uint16_t entropy = static_cast<uint16_t>(49152 + (i * 2654435761u >> 18) % 16384);
  f.kind = OuterKind::ethernet;
  f.vni = in.vni;
  f.inner_len = n;
  switch (wrap) {
    case Wrap::vxlan4:
    case Wrap::vlan:
      b.ethernet(0x0800, wrap == Wrap::vlan);
      b.ipv4(mirror_source, collector, 8 + 8 + n);
      b.udp(entropy, kVxlanPort, 8 + n);
      b.vxlan(in.vni);
      break;
    case Wrap::vxlan6:
      b.ethernet(0x86dd, false);
      b.ipv6(static_cast<uint8_t>(1 + i % 16), 8 + 8 + n);
      b.udp(entropy, kVxlanPort, 8 + n);
      b.vxlan(in.vni);
      break;
    case Wrap::geneve: {
      // GWLB carries the packet without its Ethernet header.
      const uint16_t ethertype = static_cast<uint16_t>(in.frame[12] << 8 | in.frame[13]);
      f.kind = OuterKind::ip;
      f.inner_len = n - 14;
      b.ethernet(0x0800, false);
      b.ipv4(mirror_source, collector, 8 + Builder::kGeneveLen + n - 14);
      b.udp(entropy, kGenevePort, Builder::kGeneveLen + n - 14);
      b.geneve(in.vni, ethertype, i);
      f.inner_offset = b.size();
      b.bytes(in.frame.data() + 14, n - 14);
      return f;
    }
    case Wrap::geneve_vxlan: {
      const uint32_t nested = 20 + 8 + 8 + n;
      b.ethernet(0x0800, false);
      b.ipv4(mirror_source, collector, 8 + Builder::kGeneveLen + nested);
      b.udp(entropy, kGenevePort, Builder::kGeneveLen + nested);
      b.geneve(0x123456, 0x0800, i);
      b.ipv4(0xac1f0000u + i % 256, collector, 8 + 8 + n);  // mirror source ENI, 172.31.0.x
      b.udp(entropy, kVxlanPort, 8 + n);
      b.vxlan(in.vni);
      break;
    }
    case Wrap::mixed:
      throw std::logic_error("wrap_one: mixed");
  }
  f.inner_offset = b.size();
  b.bytes(in.frame.data(), n);
  return f;
}

// Every frame must parse to what it was built as: otherwise the benchmark
// would time a drop verdict.
void check(const std::vector<OuterFrame>& frames) {
  const ParseConfig config;
  for (const OuterFrame& f : frames) {
    const OuterResult r = parse_outer(f.bytes.data(), f.bytes.size(), config);
    if (r.kind != f.kind || r.vni != f.vni || r.inner_offset != f.inner_offset ||
        r.inner_len != f.inner_len)
      throw std::logic_error("micro_frames: a frame does not parse as built");
  }
}

std::vector<OuterFrame> build(Wrap wrap) {
  const std::vector<Inner>& mix = inner_mix();
  std::vector<OuterFrame> out;
  out.reserve(mix.size());
  for (uint32_t i = 0; i < mix.size(); ++i) {
    const Wrap w = wrap == Wrap::mixed ? static_cast<Wrap>(i % 5) : wrap;
    out.push_back(wrap_one(w, i, mix[i]));
  }
  if (wrap == Wrap::mixed) std::shuffle(out.begin(), out.end(), std::mt19937(7));
  check(out);
  return out;
}

}  // namespace

const std::vector<std::vector<uint8_t>>& inner_frames() {
  static const std::vector<std::vector<uint8_t>> frames = [] {
    std::vector<std::vector<uint8_t>> out;
    for (const Inner& in : inner_mix()) out.push_back(in.frame);
    return out;
  }();
  return frames;
}

const std::vector<OuterFrame>& outer_frames(Wrap wrap) {
  static std::map<Wrap, std::vector<OuterFrame>> cache;  // benchmarks run on one thread
  auto it = cache.find(wrap);
  if (it == cache.end()) it = cache.emplace(wrap, build(wrap)).first;
  return it->second;
}

}  // namespace vxc::micro
