// Outer-frame classification and tunnel termination (VXLAN, GENEVE,
// GENEVE carrying VXLAN) plus exception-path classification.
//
// Pure function over bytes: no DPDK types, so unit tests and the fuzzer need no
// EAL. Every field is bounds-checked before it is read. A frame is mirror
// traffic (an inner Ethernet frame or an inner L3 packet located in it), an
// outer IPv4 fragment to reassemble, a frame for the appliance itself
// (exception), or dropped with a reason.
//
// Outer headers accepted:
//
//   Ethernet (14) [802.1Q/802.1ad tag (4)]{0,2}
//   IPv4 (IHL*4, options allowed)  | IPv6 (40) [hop-by-hop|routing|dest-opts]{0,8}
//   UDP (8): destination port in vxlan_ports -> VXLAN, in geneve_ports -> GENEVE
//   (a port in both lists is VXLAN).
//
// VXLAN (RFC 7348 section 5), 8 bytes, then the inner Ethernet frame:
//      0                   1                   2                   3
//      0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//     +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//     |R|R|R|R|I|R|R|R|            Reserved                           |
//     +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//     |                VXLAN Network Identifier (VNI) |   Reserved    |
//     +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//   The I flag must be set (else bad_header); reserved bits are ignored.
//
// GENEVE (RFC 8926 section 3.4), 8 bytes + Opt Len * 4 bytes of options:
//     +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//     |Ver|  Opt Len  |O|C|    Rsvd.  |          Protocol Type        |
//     +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//     |        Virtual Network Identifier (VNI)       |    Reserved   |
//     +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//     |                    Variable-Length Options                    |
//     +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//   each option (section 3.5):
//     |          Option Class         |      Type     |R|R|R| Length  |
//     |            Length * 4 bytes of option data                    |
//   - Ver != 0: bad_header. Options must fill Opt Len exactly, and Opt Len
//     must fit the UDP datagram and the first segment: else bad_header.
//   - O (control message between tunnel endpoints, not mirrored traffic):
//     dropped as unsupported_payload.
//   - C and the per-option critical bit: ignored. RFC 8926 tells an endpoint
//     that forwards the payload to drop it when it does not understand a
//     critical option; this collector only records it, so it keeps it.
//   - AWS GWLB options (class 0x0108): type 1 GWLB endpoint ENI id and type 2
//     attachment id must be 8 bytes (Length 2), type 3 flow cookie 4 bytes
//     (Length 1): any other length is bad_header. Values are big-endian on the
//     wire and returned as numbers; a repeated option: the last one counts.
//     Other types of class 0x0108 and all other classes are skipped.
//   - Protocol Type 0x6558: inner Ethernet frame (kind ethernet, Encap::geneve).
//     0x0800 / 0x86DD: inner L3 packet. When that packet is IPv4/IPv6 (not a
//     fragment) carrying UDP to a vxlan port with a valid VXLAN header and an
//     inner frame of at least 14 bytes, the VXLAN is terminated too (kind
//     ethernet, Encap::geneve_vxlan: AWS traffic mirroring to a GWLB endpoint).
//     Anything else, including a malformed nested IP/UDP/VXLAN header, is the
//     L3 packet as it came (kind ip, Encap::geneve): it is tenant traffic.
//     Other protocol types: unsupported_payload. At most one nested tunnel.
//
// Exception path (only with ParseConfig::exception_path; otherwise these are
// not_vxlan): ARP of any length (the kernel judges it); IPv4 ICMP; IPv6 ICMPv6
// after extension headers (NDP included); TCP to one of exception_tcp_ports
// (the TCP ports must be in the datagram: else bad_header). Fragments never:
// an IPv4 fragment of anything but UDP is not_vxlan, an IPv6 fragment is a
// `fragment` drop. With VLAN tags the same; the frame is passed as it is.
//
// Length rules: outer IP total/payload length and UDP length must fit in the
// frame (else bad_header); bytes past the UDP length (Ethernet padding) are
// not part of the inner frame. IPv4 total length 0 and IPv6 payload length 0
// (BIG TCP, jumbograms) are bad_header, as tshark also declines to decode
// them. A nested IP/UDP header (GENEVE -> VXLAN) is read by the same code,
// with the GENEVE payload as its bounds. Inner checksums are never looked at,
// nor inner lengths beyond those nested headers (clouds cut mirrored
// packets); an inner Ethernet frame must hold 14 bytes and an inner L3 packet
// its fixed IP header (20 or 40 bytes), else bad_header.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>

#include "drop_reason.h"

namespace vxc {

inline constexpr uint16_t kVxlanPort = 4789;
inline constexpr uint16_t kGenevePort = 6081;
inline constexpr size_t kMaxVxlanPorts = 4;
inline constexpr size_t kMaxGenevePorts = 4;
inline constexpr size_t kMaxExceptionTcpPorts = 4;
inline constexpr size_t kEthHeaderLen = 14;
inline constexpr size_t kVxlanHeaderLen = 8;
inline constexpr size_t kGeneveHeaderLen = 8;  // without options
inline constexpr uint16_t kGeneveClassAws = 0x0108;
inline constexpr uint16_t kEtherTypeTeb = 0x6558;  // GENEVE protocol type: Ethernet
inline constexpr uint16_t kEtherTypeIpv4 = 0x0800;
inline constexpr uint16_t kEtherTypeIpv6 = 0x86dd;
inline constexpr uint8_t kProtoUdp = 17;
inline constexpr size_t kUdpHeaderLen = 8;
inline constexpr uint8_t kVxlanFlagI = 0x08;

inline uint16_t load_be16(const uint8_t* p) { return static_cast<uint16_t>(p[0] << 8 | p[1]); }
inline uint32_t load_be24(const uint8_t* p) {
  return static_cast<uint32_t>(p[0]) << 16 | static_cast<uint32_t>(p[1]) << 8 | p[2];
}

struct ParseConfig {
  std::array<uint16_t, kMaxVxlanPorts> vxlan_ports{kVxlanPort};  // host byte order
  uint8_t vxlan_port_count = 1;
  std::array<uint16_t, kMaxGenevePorts> geneve_ports{kGenevePort};  // host byte order
  uint8_t geneve_port_count = 1;
  // Exception path (frames for the appliance itself). When false, such frames
  // are not_vxlan.
  bool exception_path = false;
  std::array<uint16_t, kMaxExceptionTcpPorts> exception_tcp_ports{};  // e.g. the health port
  uint8_t exception_tcp_port_count = 0;
};

enum class OuterKind : uint8_t {
  ethernet,       // inner Ethernet frame at inner_offset, inner_len bytes (VXLAN,
                  // GENEVE -> VXLAN, GENEVE with protocol 0x6558)
  ip,             // inner L3 packet at inner_offset, inner_len bytes (GENEVE protocol
                  // 0x0800/0x86DD without a nested VXLAN); inner_ethertype says which
  ipv4_fragment,  // UDP in an outer IPv4 fragment: reassemble, then parse again
  exception,      // for the appliance (ARP, ICMP, ICMPv6, TCP to an exception port)
  drop,           // see reason
};

enum class Encap : uint8_t {
  vxlan,         // UDP -> VXLAN -> Ethernet
  geneve,        // UDP -> GENEVE -> Ethernet or L3 packet
  geneve_vxlan,  // UDP -> GENEVE -> IPv4/IPv6 -> UDP -> VXLAN -> Ethernet
};

// Which fields hold what:
//   always:                   kind (and reason when drop)
//   once the outer IP header was read: ip_version, l2_len, l3_len, src_addr
//   ipv4_fragment:            the outer fields above
//   exception:                l2_len; for IP also ip_version, l3_len, src_addr
//                             (ARP: ip_version 0, l3_len 0)
//   ethernet, ip:             everything else below
struct OuterResult {
  OuterKind kind = OuterKind::drop;
  DropReason reason = DropReason::bad_header;  // valid when kind == drop
  uint8_t ip_version = 0;                      // outer: 4 or 6 once the IP header was read
  uint16_t l2_len = 0;                         // outer Ethernet + VLAN tags
  uint16_t l3_len = 0;                         // outer IP header incl. options / extension headers
  // 24 bits: the VXLAN VNI, the GENEVE VNI, or for geneve_vxlan the nested VXLAN VNI.
  uint32_t vni = 0;
  // Frame offset of the inner Ethernet header / L3 packet: at least
  // l2_len + l3_len + 16 (outer UDP and tunnel header), always inside the first
  // segment, so the 14 bytes in front of an L3 packet can take an Ethernet header.
  uint32_t inner_offset = 0;
  uint32_t inner_len = 0;  // inner frame / packet length
  // Outermost source address, the sender on the wire (--allow-source): IPv4 in
  // the first 4 bytes (network order), rest zero.
  std::array<uint8_t, 16> src_addr{};
  Encap encap = Encap::vxlan;
  uint16_t inner_ethertype = 0;  // kind ip: 0x0800 or 0x86DD (the GENEVE protocol type); else 0
  // GENEVE options of the AWS Gateway Load Balancer (class 0x0108).
  bool has_gwlbe_eni = false;      // type 1: GWLB endpoint ENI id
  bool has_attachment_id = false;  // type 2: attachment id
  bool has_flow_cookie = false;    // type 3: flow cookie
  uint64_t gwlbe_eni = 0;
  uint64_t attachment_id = 0;
  uint32_t flow_cookie = 0;
  // Source of the IP header in front of the tunnel header that carried `vni`:
  // for geneve_vxlan the nested IP source (the mirror source ENI's address),
  // otherwise the outer source (= ip_version, src_addr). Same layout as src_addr.
  uint8_t tunnel_ip_version = 0;
  std::array<uint8_t, 16> tunnel_src_addr{};
};

// Classifies a frame of `frame_len` bytes whose first `contiguous` bytes are
// at `frame` (a multi-segment mbuf: its first segment). Only those bytes are
// read; a frame whose headers do not fit in them is bad_header (for GENEVE:
// options and, for an inner L3 packet, the nested headers needed to decide
// whether it is VXLAN). Length fields are checked against frame_len. Reading
// fewer bytes can turn a verdict into bad_header, never into another verdict.
OuterResult parse_outer(const uint8_t* frame, size_t contiguous, size_t frame_len,
                        const ParseConfig& config) noexcept;

// For tests: the same verdicts without the fast paths for plain VXLAN over
// IPv4 and IPv6 (which parse_outer tries first), so the two can be compared.
OuterResult parse_outer_without_fast_path(const uint8_t* frame, size_t contiguous,
                                          size_t frame_len, const ParseConfig& config) noexcept;

// A contiguous frame of `len` bytes.
inline OuterResult parse_outer(const uint8_t* frame, size_t len,
                               const ParseConfig& config) noexcept {
  return parse_outer(frame, len, len, config);
}

// ---- plain VXLAN, inline ----------------------------------------------------
//
// The shape nearly all mirror traffic has: Ethernet without VLAN tags; IPv4
// without options, not a fragment, or IPv6 without extension headers; UDP to
// the first VXLAN port; VXLAN with the I flag; an inner frame of at least 14
// bytes. parse_outer tries it first; the RX lcore tries it itself, inline,
// and so does not build an OuterResult for such a frame (parse_outer's call
// and result were ~7% of a same-core vxbench run).

struct PlainVxlan {
  uint32_t vni = 0;
  uint32_t inner_offset = 0;  // 50 over IPv4, 70 over IPv6
  uint32_t inner_len = 0;
  uint8_t ip_version = 0;     // outer; its source address is at src_offset()
  size_t src_offset() const noexcept { return ip_version == 6 ? kEthHeaderLen + 8 : kEthHeaderLen + 12; }
};

// True when the frame (arguments as parse_outer's) is plain VXLAN, with every
// check parse_outer makes on that shape made: parse_outer then returns kind
// ethernet, Encap::vxlan, these fields, and the outer source as src_addr and
// tunnel_src_addr. False says nothing: parse_outer decides.
template <bool V6>
[[gnu::always_inline]] inline bool parse_plain_vxlan(const uint8_t* frame, size_t contiguous,
                                                     size_t len, const ParseConfig& config,
                                                     PlainVxlan& out) noexcept {
  constexpr size_t kIpLen = V6 ? 40 : 20;
  constexpr size_t kIp = kEthHeaderLen, kUdp = kIp + kIpLen, kVxlan = kUdp + kUdpHeaderLen;
  constexpr size_t kInner = kVxlan + kVxlanHeaderLen;
  if (contiguous < kInner || len < kInner) return false;
  const uint8_t* ip = frame + kIp;
  size_t ip_end;
  if constexpr (V6) {
    if (load_be16(frame + 12) != kEtherTypeIpv6 || (ip[0] >> 4) != 6 || ip[6] != kProtoUdp)
      return false;
    ip_end = kUdp + load_be16(ip + 4);  // payload length 0 (a jumbogram) fails udp_end <= ip_end
  } else {
    if (load_be16(frame + 12) != kEtherTypeIpv4 || ip[0] != 0x45) return false;
    ip_end = kIp + load_be16(ip + 2);
    if ((load_be16(ip + 6) & 0x3fff) != 0 || ip[9] != kProtoUdp) return false;
  }
  if (ip_end > len) return false;
  const uint8_t* udp = frame + kUdp;
  if (config.vxlan_port_count == 0 || load_be16(udp + 2) != config.vxlan_ports[0]) return false;
  const size_t udp_end = kUdp + load_be16(udp + 4);
  if (udp_end < kInner + kEthHeaderLen || udp_end > ip_end) return false;
  if ((frame[kVxlan] & kVxlanFlagI) == 0) return false;
  out.vni = load_be24(frame + kVxlan + 4);
  out.inner_offset = kInner;
  out.inner_len = static_cast<uint32_t>(udp_end - kInner);
  out.ip_version = V6 ? 6 : 4;
  return true;
}

[[gnu::always_inline]] inline bool parse_plain_vxlan(const uint8_t* frame, size_t contiguous,
                                                     size_t len, const ParseConfig& config,
                                                     PlainVxlan& out) noexcept {
  return parse_plain_vxlan<false>(frame, contiguous, len, config, out) ||
         parse_plain_vxlan<true>(frame, contiguous, len, config, out);
}

}  // namespace vxc
