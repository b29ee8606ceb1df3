// Outer frames for the micro-benchmarks, one set per encapsulation. The inner
// frames are bench/frames.h's bulk-transfer mix (TCP data segments with 1448
// bytes of payload and bare ACKs, inner IPv4 and IPv6, 2048 flows); this file
// only wraps them in the outer headers the collector terminates.
#pragma once

#include <cstdint>
#include <vector>

#include "dataplane/outer_parse.h"

namespace vxc::micro {

enum class Wrap : uint8_t {
  vxlan4,        // Ethernet / IPv4 / UDP 4789 / VXLAN / inner Ethernet
  vxlan6,        // Ethernet / IPv6 / UDP 4789 / VXLAN / inner Ethernet
  vlan,          // Ethernet / 802.1Q / IPv4 / UDP 4789 / VXLAN / inner Ethernet
  geneve,        // AWS GWLB: Ethernet / IPv4 / UDP 6081 / GENEVE + 3 AWS options / inner IP packet
  geneve_vxlan,  // AWS mirror to a GWLB endpoint: GENEVE as above / IPv4 / UDP 4789 / VXLAN /
                 // inner Ethernet
  mixed,         // all of the above, interleaved in a fixed random order
};

// A frame and what parse_outer must say about it (checked before timing, so a
// benchmark can never silently time the drop path).
struct OuterFrame {
  std::vector<uint8_t> bytes;
  OuterKind kind = OuterKind::ethernet;
  uint32_t vni = 0;
  uint32_t inner_offset = 0;
  uint32_t inner_len = 0;
};

// Inner Ethernet frames of the mix, in send order (built once).
const std::vector<std::vector<uint8_t>>& inner_frames();

// One outer frame per inner frame (built once per Wrap).
const std::vector<OuterFrame>& outer_frames(Wrap wrap);

}  // namespace vxc::micro
