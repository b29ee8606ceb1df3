// Test-only packet builder for the outer parser's tests.
//
// build_frame() writes a well-formed frame from a FrameSpec:
//
//   Ethernet [802.1Q/802.1ad tags] IPv4 [options] | IPv6 [extension headers] | ARP
//   UDP | TCP | ICMP    (the L4 payload is always the tunnel header + what it carries)
//   tunnel header:
//     VXLAN (8)           flags, 24-bit VNI, reserved bytes as asked
//     GENEVE (8 + options) version, O/C flags, protocol, 24-bit VNI, option TLVs; then
//       nested none:      the inner frame (protocol 0x6558)
//       nested ipv4/ipv6: an IP packet (protocol 0x0800/0x86DD) holding either
//                         UDP / VXLAN / the inner frame (nested_vxlan) or
//                         the inner frame's TCP segment (the inner L3 packet)
//   inner Ethernet / IPv4 / TCP [payload], cut to FrameSpec::inner_len
//     (for an inner L3 packet: IPv4|IPv6 / TCP [payload] cut to inner_len)
//   [Ethernet trailer of FrameSpec::padding bytes]
//
// Length fields, the IPv4 header checksums and the UDP checksums (outer and
// nested) are filled in. A test that needs a malformed frame builds a valid
// one and pokes the one field it breaks (put_be16 and the offsets in Frame).
#pragma once

#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <optional>
#include <vector>

namespace vxc::test {

using Ipv4Addr = std::array<uint8_t, 4>;
using Ipv6Addr = std::array<uint8_t, 16>;

inline constexpr Ipv4Addr kOuterSrc4{192, 0, 2, 1};
inline constexpr Ipv4Addr kOuterDst4{192, 0, 2, 200};
inline constexpr Ipv6Addr kOuterSrc6{0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x01};
inline constexpr Ipv6Addr kOuterDst6{0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xc8};
// Nested IP header inside GENEVE: the mirror source ENI and the mirror target.
inline constexpr Ipv4Addr kNestedSrc4{172, 31, 5, 10};
inline constexpr Ipv4Addr kNestedDst4{172, 31, 9, 9};
inline constexpr Ipv6Addr kNestedSrc6{0x20, 0x01, 0x0d, 0xb8, 0, 5, 0, 0,
                                      0,    0,    0,    0,    0, 0, 0, 0x0a};
inline constexpr Ipv6Addr kNestedDst6{0x20, 0x01, 0x0d, 0xb8, 0, 9, 0, 0,
                                      0,    0,    0,    0,    0, 0, 0, 0x09};
inline constexpr uint16_t kInnerTcpSrcPort = 40000;

inline constexpr uint16_t kEtherTypeIpv4 = 0x0800;
inline constexpr uint16_t kEtherTypeArp = 0x0806;
inline constexpr uint16_t kEtherTypeIpv6 = 0x86dd;
inline constexpr uint16_t kEtherTypeEthernet = 0x6558;  // GENEVE: transparent Ethernet bridging
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
enum class Tunnel : uint8_t { vxlan, geneve };
enum class Nested : uint8_t { none, ipv4, ipv6 };

struct GeneveOption {
  uint16_t option_class = 0;
  uint8_t type = 0;
  std::vector<uint8_t> data;  // zero-padded to a multiple of 4 bytes
};

struct FrameSpec {
  std::vector<uint16_t> tags;  // VLAN TPIDs, outermost first; VIDs 100, 101, ...
  L3 l3 = L3::ipv4;
  uint8_t ipv4_option_words = 0;  // IHL = 5 + this (0..10), options are NOPs
  uint16_t ipv4_frag = 0;         // IPv4 flags + fragment offset field (0x2000 = MF)
  std::vector<uint8_t> ipv6_ext;  // IPv6 extension header types, in order
  uint8_t ipv6_ext_units = 0;     // Hdr Ext Len of each: (units + 1) * 8 bytes
  uint8_t l4 = kIpProtoUdp;       // UDP (8 bytes), TCP (20) or ICMP/ICMPv6 (8)
  uint16_t udp_dst = 4789;        // destination port of UDP or TCP
  uint8_t vxlan_flags = 0x08;     // I flag
  uint32_t vni = 0x123456;        // VXLAN VNI, or the GENEVE VNI
  uint8_t vxlan_reserved = 0;     // written to all four reserved bytes
  size_t inner_len = 64;          // inner frame bytes: Eth + IPv4 + TCP + payload, cut if < 54
  size_t padding = 0;             // Ethernet trailer after the IP datagram
  Ipv4Addr src4 = kOuterSrc4;
  Ipv6Addr src6 = kOuterSrc6;

  // GENEVE (see geneve() for a spec with the tunnel and port set)
  Tunnel tunnel = Tunnel::vxlan;
  uint8_t geneve_version = 0;
  bool geneve_oam = false;
  bool geneve_critical = false;
  std::optional<uint16_t> geneve_protocol;  // default: from `nested`
  std::vector<GeneveOption> geneve_options;
  Nested nested = Nested::none;
  bool nested_vxlan = false;  // nested IP / UDP / VXLAN / inner frame
  uint16_t nested_udp_dst = 4789;
  uint32_t nested_vni = 0x654321;
  uint8_t nested_vxlan_flags = 0x08;
  uint16_t nested_ipv4_frag = 0;
  std::vector<uint8_t> nested_ipv6_ext;
};

// `spec` carried by GENEVE to UDP 6081 (unless it names another port).
inline FrameSpec geneve(FrameSpec spec = {}) {
  spec.tunnel = Tunnel::geneve;
  if (spec.udp_dst == 4789) spec.udp_dst = 6081;
  return spec;
}

// AWS Gateway Load Balancer options (class 0x0108): GWLB endpoint ENI id,
// attachment id, flow cookie.
inline constexpr uint64_t kGwlbeEni = 0x0a1b2c3d4e5f6071;
inline constexpr uint64_t kAttachmentId = 0x8091a2b3c4d5e6f7;
inline constexpr uint32_t kFlowCookie = 0xc0ffee01;

inline std::vector<uint8_t> be_bytes(uint64_t v, size_t n) {
  std::vector<uint8_t> b(n);
  for (size_t i = 0; i < n; ++i) b[i] = static_cast<uint8_t>(v >> (8 * (n - 1 - i)));
  return b;
}

inline std::vector<GeneveOption> gwlb_options(uint64_t eni = kGwlbeEni,
                                              uint64_t attachment = kAttachmentId,
                                              uint32_t cookie = kFlowCookie) {
  return {{0x0108, 1, be_bytes(eni, 8)},
          {0x0108, 2, be_bytes(attachment, 8)},
          {0x0108, 3, be_bytes(cookie, 4)}};
}

struct Frame {
  std::vector<uint8_t> bytes;
  size_t l2_len = 0;            // Ethernet + tags = offset of the IP (or ARP) header
  size_t l3_len = 0;            // IP header incl. options / extension headers
  size_t l4_offset = 0;         // UDP/TCP/ICMP header
  size_t tunnel_offset = 0;     // VXLAN / GENEVE header (after an 8-byte UDP header)
  size_t geneve_payload = 0;    // GENEVE: after the options (the nested IP header or inner frame)
  size_t nested_l4_offset = 0;  // GENEVE nested IP: its UDP/TCP header
  size_t inner_offset = 0;      // inner Ethernet header (or inner L3 packet)
  size_t inner_len = 0;         // its length
  size_t ip_end = 0;            // end of the IP datagram = start of the padding
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

inline void append(std::vector<uint8_t>& b, const std::vector<uint8_t>& bytes) {
  b.insert(b.end(), bytes.begin(), bytes.end());
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

inline void append_tcp(std::vector<uint8_t>& b, uint16_t src, uint16_t dst) {
  append_be16(b, src);
  append_be16(b, dst);
  append(b, {0, 0, 0, 1, 0, 0, 0, 0, 0x50, 0x18, 0xff, 0xff, 0, 0, 0, 0});  // seq, ack, PSH|ACK
}

inline void append_text(std::vector<uint8_t>& b, size_t n) {
  for (size_t i = 0; i < n; ++i) b.push_back(static_cast<uint8_t>('a' + i % 26));
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
  append_tcp(b, kInnerTcpSrcPort, 80);
  append_text(b, payload);
  b.resize(len);
  return b;
}

// Inner L3 packet: IPv4 / TCP (the inner frame without its Ethernet header)
// or IPv6 / TCP, then cut to `len` bytes.
inline std::vector<uint8_t> inner_packet(bool v6, size_t len) {
  if (!v6) {
    std::vector<uint8_t> b = inner_frame(len + 14);
    b.erase(b.begin(), b.begin() + 14);
    return b;
  }
  const size_t payload = len > 60 ? len - 60 : 0;
  std::vector<uint8_t> b = {0x60, 0, 0, 0};
  append_be16(b, static_cast<uint16_t>(20 + payload));
  append(b, {kIpProtoTcp, 64});
  append(b, {0xfd, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1});  // fd00::1
  append(b, {0xfd, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2});  // fd00::2
  append_tcp(b, kInnerTcpSrcPort, 80);
  append_text(b, payload);
  b.resize(len);
  return b;
}

inline std::vector<uint8_t> vxlan_header(uint8_t flags, uint32_t vni, uint8_t reserved) {
  return {flags,
          reserved,
          reserved,
          reserved,
          static_cast<uint8_t>(vni >> 16),
          static_cast<uint8_t>(vni >> 8),
          static_cast<uint8_t>(vni),
          reserved};
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

// The L4 header of `proto` followed by `payload` (UDP checksum still zero).
inline std::vector<uint8_t> l4_segment(uint8_t proto, uint16_t dst_port,
                                       const std::vector<uint8_t>& payload) {
  std::vector<uint8_t> l4;
  if (proto == kIpProtoUdp) {
    append_be16(l4, 49152);
    append_be16(l4, dst_port);
    append_be16(l4, static_cast<uint16_t>(8 + payload.size()));
    append_be16(l4, 0);  // checksum, filled in by append_ip
  } else if (proto == kIpProtoTcp) {
    append(l4, {0xc0, 0});
    append_be16(l4, dst_port);
    append(l4, {0, 0, 0, 1, 0, 0, 0, 0, 0x50, 0x18, 0xff, 0xff, 0, 0, 0, 0});
  } else {  // ICMP / ICMPv6 echo request
    append(l4, {static_cast<uint8_t>(proto == kIpProtoIcmp ? 8 : 128), 0, 0, 0, 0, 1, 0, 1});
  }
  append(l4, payload);
  return l4;
}

struct IpFields {
  bool v6 = false;
  uint8_t ipv4_option_words = 0;
  uint16_t ipv4_frag = 0;
  const std::vector<uint8_t>* ipv6_ext = nullptr;
  uint8_t ipv6_ext_units = 0;
  Ipv4Addr src4, dst4;
  Ipv6Addr src6, dst6;
};

// Appends an IP header and `l4` (protocol `proto`) to `b`, with the IPv4
// header checksum and a UDP checksum filled in. Returns the IP header length.
inline size_t append_ip(std::vector<uint8_t>& b, const IpFields& f, uint8_t proto,
                        const std::vector<uint8_t>& l4) {
  const size_t ip = b.size();
  if (!f.v6) {
    const size_t header_len = 20 + 4 * static_cast<size_t>(f.ipv4_option_words);
    append(b, {static_cast<uint8_t>(0x40 | header_len / 4), 0});
    append_be16(b, static_cast<uint16_t>(header_len + l4.size()));
    append(b, {0xbe, 0xef});  // identification
    append_be16(b, f.ipv4_frag);
    append(b, {64, proto, 0, 0});
    append_addr(b, f.src4);
    append_addr(b, f.dst4);
    b.resize(ip + header_len, 0x01);  // NOP options
    put_be16(b, ip + 10, checksum(sum16(b.data() + ip, header_len)));
  } else {
    static const std::vector<uint8_t> kNone;
    const std::vector<uint8_t>& ext = f.ipv6_ext ? *f.ipv6_ext : kNone;
    uint16_t ext_bytes = 0;
    for (size_t i = 0; i < ext.size(); ++i) ext_bytes += (f.ipv6_ext_units + 1) * 8;
    append(b, {0x60, 0, 0, 0});
    append_be16(b, static_cast<uint16_t>(ext_bytes + l4.size()));
    append(b, {ext.empty() ? proto : ext[0], 64});
    append_addr(b, f.src6);
    append_addr(b, f.dst6);
    for (size_t i = 0; i < ext.size(); ++i) {
      const uint8_t next = i + 1 < ext.size() ? ext[i + 1] : proto;
      append_ipv6_ext(b, ext[i], f.ipv6_ext_units, next);
    }
  }
  const size_t header_len = b.size() - ip;
  const size_t l4_offset = b.size();
  append(b, l4);
  if (proto == kIpProtoUdp) {  // pseudo-header (RFC 768 / RFC 8200 8.1) + UDP datagram
    uint32_t sum = f.v6 ? sum16(b.data() + ip + 8, 32) : sum16(b.data() + ip + 12, 8);
    sum += kIpProtoUdp;
    sum += static_cast<uint32_t>(l4.size());
    uint16_t udp_sum = checksum(sum16(b.data() + l4_offset, l4.size(), sum));
    if (udp_sum == 0) udp_sum = 0xffff;
    put_be16(b, l4_offset + 6, udp_sum);
  }
  return header_len;
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

  // The tunnel payload first, so that the headers in front of it know their
  // lengths. Offsets inside it are relative to the tunnel header.
  std::vector<uint8_t> tunnel;
  size_t inner_at = 0;
  size_t nested_l4_at = 0;
  size_t geneve_payload_at = 0;
  std::vector<uint8_t> inner;
  if (spec.tunnel == Tunnel::vxlan) {
    tunnel = vxlan_header(spec.vxlan_flags, spec.vni, spec.vxlan_reserved);
    inner_at = tunnel.size();
    inner = inner_frame(spec.inner_len);
    append(tunnel, inner);
  } else {
    std::vector<uint8_t> options;
    for (const GeneveOption& o : spec.geneve_options) {
      const size_t words = (o.data.size() + 3) / 4;
      append_be16(options, o.option_class);
      append(options, {o.type, static_cast<uint8_t>(words & 0x1f)});
      append(options, o.data);
      options.resize(options.size() + (words * 4 - o.data.size()), 0);
    }
    const uint16_t protocol =
        spec.geneve_protocol.value_or(spec.nested == Nested::none   ? kEtherTypeEthernet
                                      : spec.nested == Nested::ipv4 ? kEtherTypeIpv4
                                                                    : kEtherTypeIpv6);
    append(tunnel, {static_cast<uint8_t>(spec.geneve_version << 6 | (options.size() / 4 & 0x3f)),
                    static_cast<uint8_t>((spec.geneve_oam ? 0x80 : 0) |
                                         (spec.geneve_critical ? 0x40 : 0))});
    append_be16(tunnel, protocol);
    append(tunnel, {static_cast<uint8_t>(spec.vni >> 16), static_cast<uint8_t>(spec.vni >> 8),
                    static_cast<uint8_t>(spec.vni), 0});
    append(tunnel, options);
    geneve_payload_at = tunnel.size();
    if (spec.nested == Nested::none) {
      inner_at = tunnel.size();
      inner = inner_frame(spec.inner_len);
      append(tunnel, inner);
    } else if (!spec.nested_vxlan) {
      inner_at = tunnel.size();
      inner = inner_packet(spec.nested == Nested::ipv6, spec.inner_len);
      append(tunnel, inner);
    } else {
      std::vector<uint8_t> vxlan = vxlan_header(spec.nested_vxlan_flags, spec.nested_vni, 0);
      inner = inner_frame(spec.inner_len);
      append(vxlan, inner);
      const IpFields nested{.v6 = spec.nested == Nested::ipv6,
                            .ipv4_frag = spec.nested_ipv4_frag,
                            .ipv6_ext = &spec.nested_ipv6_ext,
                            .src4 = kNestedSrc4,
                            .dst4 = kNestedDst4,
                            .src6 = kNestedSrc6,
                            .dst6 = kNestedDst6};
      const size_t header_len = append_ip(tunnel, nested, kIpProtoUdp,
                                          l4_segment(kIpProtoUdp, spec.nested_udp_dst, vxlan));
      nested_l4_at = geneve_payload_at + header_len;
      inner_at = nested_l4_at + 8 + 8;
    }
  }

  const IpFields outer{.v6 = spec.l3 == L3::ipv6,
                       .ipv4_option_words = spec.ipv4_option_words,
                       .ipv4_frag = spec.ipv4_frag,
                       .ipv6_ext = &spec.ipv6_ext,
                       .ipv6_ext_units = spec.ipv6_ext_units,
                       .src4 = spec.src4,
                       .dst4 = kOuterDst4,
                       .src6 = spec.src6,
                       .dst6 = kOuterDst6};
  const std::vector<uint8_t> l4 = l4_segment(spec.l4, spec.udp_dst, tunnel);
  const size_t l4_header_len = l4.size() - tunnel.size();
  f.l3_len = append_ip(b, outer, spec.l4, l4);
  f.l4_offset = f.l2_len + f.l3_len;
  f.tunnel_offset = f.l4_offset + l4_header_len;
  f.inner_offset = f.tunnel_offset + inner_at;
  f.inner_len = inner.size();
  if (spec.tunnel == Tunnel::geneve) f.geneve_payload = f.tunnel_offset + geneve_payload_at;
  if (nested_l4_at != 0) f.nested_l4_offset = f.tunnel_offset + nested_l4_at;
  f.ip_end = b.size();
  b.resize(b.size() + spec.padding, 0);
  return f;
}

}  // namespace vxc::test
