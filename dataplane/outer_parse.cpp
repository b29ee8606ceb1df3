#include "outer_parse.h"

#include <cstring>

namespace vxc {
namespace {

constexpr uint16_t kEtherTypeIpv4 = 0x0800;
constexpr uint16_t kEtherTypeIpv6 = 0x86dd;
constexpr uint16_t kEtherTypeVlan = 0x8100;
constexpr uint16_t kEtherTypeQinq = 0x88a8;
constexpr uint8_t kProtoUdp = 17;
constexpr uint8_t kIpv6HopByHop = 0;
constexpr uint8_t kIpv6Routing = 43;
constexpr uint8_t kIpv6Fragment = 44;
constexpr uint8_t kIpv6DestOptions = 60;
constexpr size_t kMaxVlanTags = 2;
constexpr size_t kMaxIpv6ExtHeaders = 8;
constexpr uint8_t kVxlanFlagI = 0x08;

inline uint16_t load_be16(const uint8_t* p) { return static_cast<uint16_t>(p[0] << 8 | p[1]); }

inline bool is_vxlan_port(uint16_t port, const ParseConfig& config) {
  for (size_t i = 0; i < config.vxlan_port_count; ++i)
    if (port == config.vxlan_ports[i]) return true;
  return false;
}

inline OuterResult dropped(OuterResult r, DropReason reason) {
  r.kind = OuterKind::drop;
  r.reason = reason;
  return r;
}

}  // namespace

OuterResult parse_outer(const uint8_t* frame, size_t contiguous, size_t len,
                        const ParseConfig& config) noexcept {
  OuterResult r;
  // Reads are checked against `contiguous`, length fields against `len`.
  if (contiguous > len) contiguous = len;
  if (contiguous < kEthHeaderLen) return dropped(r, DropReason::bad_header);
  size_t off = 12;
  uint16_t ethertype = load_be16(frame + off);
  off += 2;
  for (size_t tags = 0; ethertype == kEtherTypeVlan || ethertype == kEtherTypeQinq; ++tags) {
    if (tags == kMaxVlanTags) return dropped(r, DropReason::not_vxlan);
    if (contiguous < off + 4) return dropped(r, DropReason::bad_header);
    ethertype = load_be16(frame + off + 2);
    off += 4;
  }
  r.l2_len = static_cast<uint16_t>(off);

  // End of the IP datagram within the frame (excludes Ethernet padding).
  size_t ip_end = 0;
  uint8_t proto = 0;
  if (ethertype == kEtherTypeIpv4) {
    if (contiguous < off + 20) return dropped(r, DropReason::bad_header);
    const uint8_t* ip = frame + off;
    if ((ip[0] >> 4) != 4) return dropped(r, DropReason::bad_header);
    r.ip_version = 4;
    const size_t header_len = static_cast<size_t>(ip[0] & 0x0f) * 4;
    const size_t total_len = load_be16(ip + 2);
    if (header_len < 20 || total_len < header_len || len < off + total_len ||
        contiguous < off + header_len)
      return dropped(r, DropReason::bad_header);
    std::memcpy(r.src_addr.data(), ip + 12, 4);
    r.l3_len = static_cast<uint16_t>(header_len);
    proto = ip[9];
    if (proto != kProtoUdp) return dropped(r, DropReason::not_vxlan);
    const uint16_t frag = load_be16(ip + 6);
    if ((frag & 0x3fff) != 0) {  // MF set or fragment offset non-zero
      r.kind = OuterKind::ipv4_fragment;
      return r;
    }
    ip_end = off + total_len;
    off += header_len;
  } else if (ethertype == kEtherTypeIpv6) {
    if (contiguous < off + 40) return dropped(r, DropReason::bad_header);
    const uint8_t* ip = frame + off;
    if ((ip[0] >> 4) != 6) return dropped(r, DropReason::bad_header);
    r.ip_version = 6;
    const size_t payload_len = load_be16(ip + 4);
    if (payload_len == 0 || len < off + 40 + payload_len) return dropped(r, DropReason::bad_header);
    std::memcpy(r.src_addr.data(), ip + 8, 16);
    ip_end = off + 40 + payload_len;
    proto = ip[6];
    size_t l3 = 40;
    for (size_t n = 0;; ++n) {
      if (proto == kIpv6Fragment) return dropped(r, DropReason::fragment);
      if (proto != kIpv6HopByHop && proto != kIpv6Routing && proto != kIpv6DestOptions) break;
      if (n == kMaxIpv6ExtHeaders) return dropped(r, DropReason::bad_header);
      if (ip_end < off + l3 + 8 || contiguous < off + l3 + 8) return dropped(r, DropReason::bad_header);
      const uint8_t* ext = frame + off + l3;
      const size_t ext_len = (static_cast<size_t>(ext[1]) + 1) * 8;
      if (ip_end < off + l3 + ext_len) return dropped(r, DropReason::bad_header);
      proto = ext[0];
      l3 += ext_len;
    }
    r.l3_len = static_cast<uint16_t>(l3);
    if (proto != kProtoUdp) return dropped(r, DropReason::not_vxlan);
    off += l3;
  } else {
    return dropped(r, DropReason::not_vxlan);
  }

  // UDP
  if (ip_end < off + 8 || contiguous < off + 8 + kVxlanHeaderLen) {
    // Too short for UDP + VXLAN; still say not_vxlan for other ports when the port is readable.
    if (ip_end >= off + 8 && contiguous >= off + 8 && !is_vxlan_port(load_be16(frame + off + 2), config))
      return dropped(r, DropReason::not_vxlan);
    return dropped(r, DropReason::bad_header);
  }
  const uint8_t* udp = frame + off;
  const uint16_t dst_port = load_be16(udp + 2);
  if (!is_vxlan_port(dst_port, config)) return dropped(r, DropReason::not_vxlan);
  const size_t udp_len = load_be16(udp + 4);
  if (udp_len < 8 + kVxlanHeaderLen || off + udp_len > ip_end)
    return dropped(r, DropReason::bad_header);
  const size_t udp_end = off + udp_len;
  off += 8;

  // VXLAN
  const uint8_t* vxlan = frame + off;
  if ((vxlan[0] & kVxlanFlagI) == 0) return dropped(r, DropReason::bad_header);
  r.vni = static_cast<uint32_t>(vxlan[4]) << 16 | static_cast<uint32_t>(vxlan[5]) << 8 | vxlan[6];
  off += kVxlanHeaderLen;
  if (udp_end < off + kEthHeaderLen) return dropped(r, DropReason::bad_header);
  r.kind = OuterKind::vxlan;
  r.inner_offset = static_cast<uint32_t>(off);
  r.inner_len = static_cast<uint32_t>(udp_end - off);
  return r;
}

}  // namespace vxc
