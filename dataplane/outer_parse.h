// Outer-frame classification and VXLAN decapsulation.
//
// Pure function over bytes: no DPDK types, so unit tests and the fuzzer need no
// EAL. Every field is bounds-checked before it is read; a frame is either
// VXLAN (with the inner frame located), an outer IPv4 fragment to reassemble,
// or dropped with a reason.
//
// What is accepted (RFC 7348 section 5):
//
//   Ethernet (14) [802.1Q/802.1ad tag (4)]{0,2}
//   IPv4 (IHL*4, options allowed)  | IPv6 (40) [hop-by-hop|routing|dest-opts]*
//   UDP (8), destination port in ParseConfig::vxlan_ports
//   VXLAN (8):
//      0                   1                   2                   3
//      0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//     +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//     |R|R|R|R|I|R|R|R|            Reserved                           |
//     +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//     |                VXLAN Network Identifier (VNI) |   Reserved    |
//     +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//   The I flag must be set; reserved bits are ignored. All fields big-endian.
//   inner Ethernet frame: whatever arrived, at least 14 bytes. Inner checksums
//   and inner length fields are never looked at (clouds cut mirrored packets).
//
// Length rules: IP total/payload length and UDP length must fit in the frame
// (else bad_header); bytes past the UDP length (Ethernet padding) are not part
// of the inner frame. IPv4 total length 0 and IPv6 payload length 0 (BIG TCP,
// jumbograms) are bad_header, as tshark also declines to decode them.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>

#include "drop_reason.h"

namespace vxc {

inline constexpr uint16_t kVxlanPort = 4789;
inline constexpr size_t kMaxVxlanPorts = 4;
inline constexpr size_t kEthHeaderLen = 14;
inline constexpr size_t kVxlanHeaderLen = 8;

struct ParseConfig {
  std::array<uint16_t, kMaxVxlanPorts> vxlan_ports{kVxlanPort};  // host byte order
  uint8_t vxlan_port_count = 1;
};

enum class OuterKind : uint8_t {
  vxlan,          // inner frame at inner_offset, inner_len bytes
  ipv4_fragment,  // UDP in an IPv4 fragment: reassemble, then parse again
  drop,           // see reason
};

struct OuterResult {
  OuterKind kind = OuterKind::drop;
  DropReason reason = DropReason::bad_header;  // valid when kind == drop
  uint8_t ip_version = 0;                      // 4 or 6 once the IP header was read
  uint16_t l2_len = 0;        // Ethernet + VLAN tags
  uint16_t l3_len = 0;        // outer IP header incl. options / extension headers
  uint32_t vni = 0;           // 24-bit VNI (vxlan)
  uint32_t inner_offset = 0;  // frame offset of the inner Ethernet header (vxlan)
  uint32_t inner_len = 0;     // inner frame length (vxlan)
  // Outer source address: IPv4 in the first 4 bytes (network order), rest zero.
  std::array<uint8_t, 16> src_addr{};
};

// Classifies a frame of `frame_len` bytes whose first `contiguous` bytes are
// at `frame` (a multi-segment mbuf: its first segment). Only those bytes are
// read; a frame whose outer headers do not fit in them is bad_header. Length
// fields are checked against frame_len.
OuterResult parse_outer(const uint8_t* frame, size_t contiguous, size_t frame_len,
                        const ParseConfig& config) noexcept;

// A contiguous frame of `len` bytes.
inline OuterResult parse_outer(const uint8_t* frame, size_t len, const ParseConfig& config) noexcept {
  return parse_outer(frame, len, len, config);
}

}  // namespace vxc
