// Test-only packet builder for the outer parser's tests.
//
// build_frame() writes a well-formed frame from a FrameSpec:
//
//   Ethernet [802.1Q/802.1ad tags] IPv4 [options] | IPv6 [extension headers] | ARP
//   UDP | TCP | ICMP    (the L4 payload is always VXLAN + inner frame bytes)
//   VXLAN (8)           flags, 24-bit VNI, reserved bytes as asked
//   inner Ethernet / IPv4 / TCP [payload], cut to FrameSpec::inner_len
//   [Ethernet trailer of FrameSpec::padding bytes]
//
// Length fields, the IPv4 header checksums and the UDP checksum are filled in.
// A test that needs a malformed frame builds a valid one and pokes the one
// field it breaks (put_be16 and the offsets in Frame).
#pragma once

#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <vector>

namespace vxc::test {

using Ipv4Addr = std::array<uint8_t, 4>;
using Ipv6Addr = std::array<uint8_t, 16>;

inline constexpr Ipv4Addr kOuterSrc4{192, 0, 2, 1};
inline constexpr Ipv4Addr kOuterDst4{192, 0, 2, 200};
inline constexpr Ipv6Addr kOuterSrc6{0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x01};
inline constexpr Ipv6Addr kOuterDst6{0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xc8};
inline constexpr uint16_t kInnerTcpSrcPort = 40000;

inline constexpr uint16_t kEtherTypeIpv4 = 0x0800;
inline constexpr uint16_t kEtherTypeArp = 0x0806;
inline constexpr uint16_t kEtherTypeIpv6 = 0x86dd;
inline constexpr uint16_t kTpidDot1q = 0x8100;
inline constexpr uint16_t kTpidDot1ad = 0x88a8;

inline constexpr uint8_t kIpProtoIcmp = 1;
inline constexpr uint8_t kIpProtoTcp = 6;
inline constexpr uint8_t kIpProtoUdp = 17;
inline constexpr uint8_t kIpProtoIcmpv6 = 58;
inline constexpr uint8_t kIpv6HopByHop = 0;
inline constexpr uint8_t kIpv6Routing = 43;
inline constexpr uint8_t kIpv6Fragment = 44;
inline constexpr uint8_t kIpv6NoNext = 59;
inline constexpr uint8_t kIpv6DestOpts = 60;

enum class L3 : uint8_t { ipv4, ipv6, arp };

struct FrameSpec {
  std::vector<uint16_t> tags;  // VLAN TPIDs, outermost first; VIDs 100, 101, ...
  L3 l3 = L3::ipv4;
  uint8_t ipv4_option_words = 0;  // IHL = 5 + this (0..10), options are NOPs
  uint16_t ipv4_frag = 0;         // IPv4 flags + fragment offset field (0x2000 = MF)
  std::vector<uint8_t> ipv6_ext;  // IPv6 extension header types, in order
  uint8_t ipv6_ext_units = 0;     // Hdr Ext Len of each: (units + 1) * 8 bytes
  uint8_t l4 = kIpProtoUdp;       // UDP (8 bytes), TCP (20) or ICMP/ICMPv6 (8)
  uint16_t udp_dst = 4789;
  uint8_t vxlan_flags = 0x08;  // I flag
  uint32_t vni = 0x123456;
  uint8_t vxlan_reserved = 0;  // written to all four reserved bytes
  size_t inner_len = 64;       // inner frame bytes: Eth + IPv4 + TCP + payload, cut if < 54
  size_t padding = 0;          // Ethernet trailer after the IP datagram
  Ipv4Addr src4 = kOuterSrc4;
  Ipv6Addr src6 = kOuterSrc6;
};

struct Frame {
  std::vector<uint8_t> bytes;
  size_t l2_len = 0;        // Ethernet + tags = offset of the IP (or ARP) header
  size_t l3_len = 0;        // IP header incl. options / extension headers
  size_t l4_offset = 0;     // UDP/TCP/ICMP header
  size_t vxlan_offset = 0;  // VXLAN header (after an 8-byte UDP header)
  size_t inner_offset = 0;  // inner Ethernet header
  size_t ip_end = 0;        // end of the IP datagram = start of the padding
};

inline void put_be16(std::vector<uint8_t>& b, size_t off, uint16_t v) {
  b.at(off) = static_cast<uint8_t>(v >> 8);
  b.at(off + 1) = static_cast<uint8_t>(v);
}

inline uint16_t get_be16(const std::vector<uint8_t>& b, size_t off) {
  return static_cast<uint16_t>(b.at(off) << 8 | b.at(off + 1));
}

inline void add_be16(std::vector<uint8_t>& b, size_t off, int delta) {
  put_be16(b, off, static_cast<uint16_t>(get_be16(b, off) + delta));
}

namespace detail {

inline void append(std::vector<uint8_t>& b, std::initializer_list<uint8_t> bytes) {
  b.insert(b.end(), bytes);
}

inline void append_be16(std::vector<uint8_t>& b, uint16_t v) {
  append(b, {static_cast<uint8_t>(v >> 8), static_cast<uint8_t>(v)});
}

template <size_t N>
void append_addr(std::vector<uint8_t>& b, const std::array<uint8_t, N>& a) {
  b.insert(b.end(), a.begin(), a.end());
}

// RFC 1071 one's-complement sum, folded, not yet inverted.
inline uint32_t sum16(const uint8_t* p, size_t n, uint32_t sum = 0) {
  for (size_t i = 0; i + 1 < n; i += 2) sum += static_cast<uint32_t>(p[i] << 8 | p[i + 1]);
  if (n % 2) sum += static_cast<uint32_t>(p[n - 1] << 8);
  while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
  return sum;
}

inline uint16_t checksum(uint32_t folded_sum) { return static_cast<uint16_t>(~folded_sum); }

inline void append_ethernet(std::vector<uint8_t>& b, uint8_t mac_tag) {
  append(b, {0x02, 0, 0, 0, mac_tag, 0x02});  // destination
  append(b, {0x02, 0, 0, 0, mac_tag, 0x01});  // source
}

// Inner frame: Ethernet / IPv4 / TCP / payload, then cut to `len` bytes.
inline std::vector<uint8_t> inner_frame(size_t len) {
  const size_t payload = len > 54 ? len - 54 : 0;
  std::vector<uint8_t> b;
  append_ethernet(b, 0x20);
  append_be16(b, kEtherTypeIpv4);
  const size_t ip = b.size();
  append(b, {0x45, 0});
  append_be16(b, static_cast<uint16_t>(20 + 20 + payload));
  append(b, {0, 1, 0x40, 0, 64, kIpProtoTcp, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2});
  put_be16(b, ip + 10, checksum(sum16(b.data() + ip, 20)));
  append_be16(b, kInnerTcpSrcPort);
  append_be16(b, 80);
  append(b, {0, 0, 0, 1, 0, 0, 0, 0, 0x50, 0x18, 0xff, 0xff, 0, 0, 0, 0});  // seq, ack, PSH|ACK
  for (size_t i = 0; i < payload; ++i) b.push_back(static_cast<uint8_t>('a' + i % 26));
  b.resize(len);
  return b;
}

// IPv6 extension header of (units + 1) * 8 bytes whose next header is `next`.
inline void append_ipv6_ext(std::vector<uint8_t>& b, uint8_t type, uint8_t units, uint8_t next) {
  const size_t len = (static_cast<size_t>(units) + 1) * 8;
  const size_t start = b.size();
  append(b, {next, units});
  if (type == kIpv6Fragment) {  // offset 0, M clear, identification 0x11223344
    append(b, {0, 0, 0x11, 0x22, 0x33, 0x44});
  } else if (type == kIpv6Routing) {  // experimental type 253 (RFC 4727), segments left 0
    append(b, {253, 0});
  } else {  // hop-by-hop / destination options: one PadN option filling the header
    append(b, {1, static_cast<uint8_t>(len - 4)});
  }
  b.resize(start + len, 0);
}

}  // namespace detail

inline Frame build_frame(const FrameSpec& spec) {
  using namespace detail;
  Frame f;
  std::vector<uint8_t>& b = f.bytes;

  append_ethernet(b, 0x10);
  for (size_t i = 0; i < spec.tags.size(); ++i) {
    append_be16(b, spec.tags[i]);
    append_be16(b, static_cast<uint16_t>(100 + i));  // PCP 0, DEI 0, VID
  }
  const uint16_t ethertype = spec.l3 == L3::ipv4   ? kEtherTypeIpv4
                             : spec.l3 == L3::ipv6 ? kEtherTypeIpv6
                                                   : kEtherTypeArp;
  append_be16(b, ethertype);
  f.l2_len = b.size();

  if (spec.l3 == L3::arp) {  // who-has 192.0.2.200 tell 192.0.2.1, padded to 60 bytes
    append(b, {0, 1, 0x08, 0, 6, 4, 0, 1, 0x02, 0, 0, 0, 0x10, 0x01});
    append_addr(b, spec.src4);
    append(b, {0, 0, 0, 0, 0, 0});
    append_addr(b, kOuterDst4);
    f.ip_end = b.size();
    b.resize(std::max<size_t>(b.size(), 60), 0);
    return f;
  }

  // L4 payload first, so that the headers in front of it know their lengths.
  std::vector<uint8_t> payload;
  append(payload, {spec.vxlan_flags, spec.vxlan_reserved, spec.vxlan_reserved, spec.vxlan_reserved,
                   static_cast<uint8_t>(spec.vni >> 16), static_cast<uint8_t>(spec.vni >> 8),
                   static_cast<uint8_t>(spec.vni), spec.vxlan_reserved});
  const std::vector<uint8_t> inner = inner_frame(spec.inner_len);
  payload.insert(payload.end(), inner.begin(), inner.end());

  std::vector<uint8_t> l4;
  if (spec.l4 == kIpProtoUdp) {
    append_be16(l4, 49152);
    append_be16(l4, spec.udp_dst);
    append_be16(l4, static_cast<uint16_t>(8 + payload.size()));
    append_be16(l4, 0);  // checksum, filled in below
  } else if (spec.l4 == kIpProtoTcp) {
    append(l4, {0xc0, 0, 0x12, 0xb5, 0, 0, 0, 1, 0, 0, 0, 0, 0x50, 0x18, 0xff, 0xff, 0, 0, 0, 0});
  } else {  // ICMP / ICMPv6 echo request
    append(l4, {static_cast<uint8_t>(spec.l4 == kIpProtoIcmp ? 8 : 128), 0, 0, 0, 0, 1, 0, 1});
  }
  l4.insert(l4.end(), payload.begin(), payload.end());

  const size_t ip = b.size();
  if (spec.l3 == L3::ipv4) {
    const size_t header_len = 20 + 4 * static_cast<size_t>(spec.ipv4_option_words);
    append(b, {static_cast<uint8_t>(0x40 | header_len / 4), 0});
    append_be16(b, static_cast<uint16_t>(header_len + l4.size()));
    append(b, {0xbe, 0xef});  // identification
    append_be16(b, spec.ipv4_frag);
    append(b, {64, spec.l4, 0, 0});
    append_addr(b, spec.src4);
    append_addr(b, kOuterDst4);
    b.resize(ip + header_len, 0x01);  // NOP options
    put_be16(b, ip + 10, checksum(sum16(b.data() + ip, header_len)));
  } else {
    uint16_t ext_bytes = 0;
    for (size_t i = 0; i < spec.ipv6_ext.size(); ++i) ext_bytes += (spec.ipv6_ext_units + 1) * 8;
    append(b, {0x60, 0, 0, 0});
    append_be16(b, static_cast<uint16_t>(ext_bytes + l4.size()));
    append(b, {spec.ipv6_ext.empty() ? spec.l4 : spec.ipv6_ext[0], 64});
    append_addr(b, spec.src6);
    append_addr(b, kOuterDst6);
    for (size_t i = 0; i < spec.ipv6_ext.size(); ++i) {
      const uint8_t next = i + 1 < spec.ipv6_ext.size() ? spec.ipv6_ext[i + 1] : spec.l4;
      append_ipv6_ext(b, spec.ipv6_ext[i], spec.ipv6_ext_units, next);
    }
  }
  f.l3_len = b.size() - ip;
  f.l4_offset = b.size();
  b.insert(b.end(), l4.begin(), l4.end());
  f.vxlan_offset = f.l4_offset + 8;
  f.inner_offset = f.vxlan_offset + 8;
  f.ip_end = b.size();

  if (spec.l4 == kIpProtoUdp) {  // pseudo-header (RFC 768 / RFC 8200 8.1) + UDP datagram
    // Source and destination addresses, protocol, UDP length.
    uint32_t sum =
        spec.l3 == L3::ipv4 ? sum16(b.data() + ip + 12, 8) : sum16(b.data() + ip + 8, 32);
    sum += kIpProtoUdp;
    sum += static_cast<uint32_t>(l4.size());
    uint16_t udp_sum = checksum(sum16(b.data() + f.l4_offset, l4.size(), sum));
    if (udp_sum == 0) udp_sum = 0xffff;
    put_be16(b, f.l4_offset + 6, udp_sum);
  }

  b.resize(b.size() + spec.padding, 0);
  return f;
}

}  // namespace vxc::test
