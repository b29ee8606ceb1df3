// Outer parser tests.
//
// 1. A table: description, a frame built with frame_builder.h (plus an optional
//    poke that breaks one field), the first-segment length for the multi-segment
//    form, the ParseConfig, and the expected verdict.
// 2. Every truncation and every first-segment length of a few valid frames, and
//    100k random mutations of valid frames: the verdict invariants hold and
//    nothing is read past the readable bytes.
// 3. tshark decodes the builder's valid frames the way the table expects, so
//    the builder and the parser cannot share one misreading of the formats.
//
// Every parse runs twice: on a heap copy of exactly the readable bytes
// (AddressSanitizer reports any read outside it) and on a copy that ends right
// before a PROT_NONE page (any read past the end faults even without sanitizers).
// The readable bytes are the whole frame, or for the multi-segment form of
// parse_outer only the first `contiguous` bytes.
#include "outer_parse.h"

#include <gtest/gtest.h>
#include <pcap/pcap.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cctype>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <map>
#include <memory>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "frame_builder.h"

namespace vxc::test {
namespace {

// ---------------------------------------------------------------------------
// Parsing with overread detection

// Two pages, the second PROT_NONE: a frame copied to the end of the first page
// faults on the first byte read past its end.
class GuardPage {
 public:
  GuardPage() {
    page_ = static_cast<size_t>(sysconf(_SC_PAGESIZE));
    void* p = mmap(nullptr, 2 * page_, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) std::abort();
    base_ = static_cast<uint8_t*>(p);
    if (mprotect(base_ + page_, page_, PROT_NONE) != 0) std::abort();
  }
  ~GuardPage() { munmap(base_, 2 * page_); }
  GuardPage(const GuardPage&) = delete;
  GuardPage& operator=(const GuardPage&) = delete;

  size_t capacity() const { return page_; }
  const uint8_t* place(const uint8_t* data, size_t len) {
    uint8_t* dst = base_ + page_ - len;
    if (len != 0) std::memcpy(dst, data, len);
    return dst;
  }

 private:
  size_t page_ = 0;
  uint8_t* base_ = nullptr;
};

bool same_result(const OuterResult& a, const OuterResult& b) {
  return a.kind == b.kind && a.reason == b.reason && a.ip_version == b.ip_version &&
         a.l2_len == b.l2_len && a.l3_len == b.l3_len && a.vni == b.vni &&
         a.inner_offset == b.inner_offset && a.inner_len == b.inner_len && a.src_addr == b.src_addr;
}

std::string kind_name(OuterKind k) {
  switch (k) {
    case OuterKind::vxlan:
      return "vxlan";
    case OuterKind::ipv4_fragment:
      return "ipv4_fragment";
    case OuterKind::drop:
      return "drop";
  }
  return "kind " + std::to_string(static_cast<int>(k));
}

std::string reason_name(DropReason r) {
  const auto i = static_cast<size_t>(r);
  return i < kDropReasonCount ? std::string(kDropReasonNames[i]) : "reason " + std::to_string(i);
}

std::string hex(const uint8_t* p, size_t len) {
  std::string s;
  char buf[4];
  for (size_t i = 0; i < len; ++i) {
    std::snprintf(buf, sizeof buf, "%02x", p[i]);
    s += buf;
  }
  return s;
}

std::string describe(const OuterResult& r) {
  std::ostringstream os;
  os << "{" << kind_name(r.kind);
  if (r.kind == OuterKind::drop) os << " " << reason_name(r.reason);
  os << " ipv" << int{r.ip_version} << " l2=" << r.l2_len << " l3=" << r.l3_len;
  if (r.kind == OuterKind::vxlan) {
    os << " vni=0x" << std::hex << r.vni << std::dec << " inner_offset=" << r.inner_offset
       << " inner_len=" << r.inner_len;
  }
  os << " src=" << hex(r.src_addr.data(), r.src_addr.size()) << "}";
  return os.str();
}

constexpr size_t kWhole = SIZE_MAX;  // the whole frame is contiguous

// Parses the frame of `len` bytes at `data` in both checked buffers; both must
// agree. With `contiguous` != kWhole only min(contiguous, len) bytes are copied
// and the multi-segment parse_outer(frame, contiguous, len, config) is called.
OuterResult parse_checked(const uint8_t* data, size_t len, const ParseConfig& config,
                          size_t contiguous = kWhole) {
  const size_t readable = std::min(contiguous, len);
  auto parse = [&](const uint8_t* p) {
    return contiguous == kWhole ? parse_outer(p, len, config)
                                : parse_outer(p, contiguous, len, config);
  };
  auto exact = std::make_unique<uint8_t[]>(readable);  // new uint8_t[0]: valid, unreadable
  if (readable != 0) std::memcpy(exact.get(), data, readable);
  const OuterResult on_heap = parse(exact.get());

  static GuardPage guard;
  if (readable <= guard.capacity()) {
    const OuterResult guarded = parse(guard.place(data, readable));
    EXPECT_TRUE(same_result(on_heap, guarded))
        << "result depends on memory past the readable bytes: " << describe(on_heap) << " vs "
        << describe(guarded);
  }
  return on_heap;
}

OuterResult parse_checked(const std::vector<uint8_t>& frame, const ParseConfig& config,
                          size_t contiguous = kWhole) {
  return parse_checked(frame.data(), frame.size(), config, contiguous);
}

// Bytes the parser must be able to read to reach `full` (the verdict for the
// whole frame contiguous): the outer headers up to the inner frame for VXLAN,
// the IP header otherwise.
size_t headers_needed(const OuterResult& full) {
  return full.kind == OuterKind::vxlan ? full.inner_offset : size_t{full.l2_len} + full.l3_len;
}

// ---------------------------------------------------------------------------
// Invariants every verdict must satisfy, whatever the input. They re-read the
// frame to confirm the verdict (only inside the bounds the verdict claims).

uint16_t be16(const uint8_t* p) { return static_cast<uint16_t>(p[0] << 8 | p[1]); }

::testing::AssertionResult invariants_hold(const OuterResult& r, const uint8_t* p, size_t len,
                                           const ParseConfig& config) {
  auto fail = [&] {
    return ::testing::AssertionFailure() << describe(r) << " len=" << len << ": ";
  };
  if (r.kind == OuterKind::drop) {
    if (r.reason != DropReason::not_vxlan && r.reason != DropReason::bad_header &&
        r.reason != DropReason::fragment)
      return fail() << "the outer parser never gives this reason";
    if (r.reason == DropReason::fragment && r.ip_version != 6)
      return fail() << "fragment drop for a non-IPv6 frame";
    return ::testing::AssertionSuccess();
  }
  if (r.kind != OuterKind::vxlan && r.kind != OuterKind::ipv4_fragment) return fail() << "bad kind";
  if (r.l2_len != 14 && r.l2_len != 18 && r.l2_len != 22) return fail() << "l2_len";
  const size_t l2 = r.l2_len;
  if (len < l2 + 20) return fail() << "IP header not inside the frame";
  const uint8_t* ip = p + l2;
  const uint16_t ethertype = be16(p + l2 - 2);
  size_t ip_end = 0;
  if (r.ip_version == 4) {
    if (ethertype != kEtherTypeIpv4) return fail() << "ethertype " << ethertype;
    if (r.l3_len != (ip[0] & 0x0f) * 4 || r.l3_len < 20) return fail() << "l3_len vs IHL";
    ip_end = l2 + be16(ip + 2);
    if (be16(ip + 2) < r.l3_len || ip_end > len) return fail() << "IPv4 total length";
    if (ip[9] != kIpProtoUdp) return fail() << "not UDP";
    if (std::memcmp(r.src_addr.data(), ip + 12, 4) != 0) return fail() << "src";
    for (size_t i = 4; i < 16; ++i)
      if (r.src_addr[i] != 0) return fail() << "src not zero-filled";
    const bool fragment = (be16(ip + 6) & 0x3fff) != 0;
    if (fragment != (r.kind == OuterKind::ipv4_fragment)) return fail() << "MF/offset";
  } else if (r.ip_version == 6 && r.kind == OuterKind::vxlan) {
    if (ethertype != kEtherTypeIpv6) return fail() << "ethertype " << ethertype;
    if (len < l2 + 40) return fail() << "IPv6 header not inside the frame";
    if (r.l3_len < 40 || (r.l3_len - 40) % 8 != 0) return fail() << "l3_len";
    ip_end = l2 + 40 + be16(ip + 4);
    if (ip_end > len) return fail() << "IPv6 payload length";
    if (std::memcmp(r.src_addr.data(), ip + 8, 16) != 0) return fail() << "src";
  } else {
    return fail() << "ip_version";
  }
  if (r.kind == OuterKind::ipv4_fragment) return ::testing::AssertionSuccess();

  if (r.inner_len < kEthHeaderLen) return fail() << "inner frame shorter than Ethernet";
  if (uint64_t{r.inner_offset} + r.inner_len > len) return fail() << "inner frame past len";
  if (r.inner_offset + r.inner_len > ip_end) return fail() << "inner frame past the IP datagram";
  if (r.inner_offset != l2 + r.l3_len + 8 + kVxlanHeaderLen) return fail() << "inner_offset";
  if (r.vni > 0xffffff) return fail() << "VNI wider than 24 bits";
  const uint8_t* udp = p + r.inner_offset - 16;
  const uint8_t* vxlan = udp + 8;
  bool port_ok = false;
  for (size_t i = 0; i < config.vxlan_port_count; ++i)
    port_ok |= be16(udp + 2) == config.vxlan_ports[i];
  if (!port_ok) return fail() << "UDP port " << be16(udp + 2) << " not configured";
  if (be16(udp + 4) != r.inner_len + 16) return fail() << "inner_len vs UDP length";
  if ((vxlan[0] & 0x08) == 0) return fail() << "I flag clear";
  if (r.vni != (uint32_t{vxlan[4]} << 16 | uint32_t{vxlan[5]} << 8 | vxlan[6]))
    return fail() << "VNI does not match the header";
  return ::testing::AssertionSuccess();
}

// ---------------------------------------------------------------------------
// The table

struct Outer {
  uint8_t version;
  std::array<uint8_t, 16> addr;
};
constexpr Outer kV4{4, {192, 0, 2, 1}};
constexpr Outer kV6{6, kOuterSrc6};

// The verdict fields a case pins down; fields that do not apply stay zero.
struct Verdict {
  OuterKind kind = OuterKind::drop;
  DropReason reason = DropReason::bad_header;  // drop
  uint8_t ip_version = 0;                      // vxlan, ipv4_fragment
  uint16_t l2_len = 0;                         // vxlan, ipv4_fragment
  uint16_t l3_len = 0;                         // vxlan, ipv4_fragment
  uint32_t vni = 0;                            // vxlan
  uint32_t inner_offset = 0;                   // vxlan
  uint32_t inner_len = 0;                      // vxlan
  std::array<uint8_t, 16> src{};               // vxlan, ipv4_fragment
  bool operator==(const Verdict&) const = default;
};

Verdict Vxlan(uint32_t vni, uint32_t inner_offset, uint32_t inner_len, uint16_t l2_len,
              uint16_t l3_len, Outer outer) {
  return {.kind = OuterKind::vxlan,
          .ip_version = outer.version,
          .l2_len = l2_len,
          .l3_len = l3_len,
          .vni = vni,
          .inner_offset = inner_offset,
          .inner_len = inner_len,
          .src = outer.addr};
}

Verdict Fragment(uint16_t l2_len, uint16_t l3_len) {
  return {.kind = OuterKind::ipv4_fragment,
          .ip_version = 4,
          .l2_len = l2_len,
          .l3_len = l3_len,
          .src = kV4.addr};
}

Verdict Drop(DropReason reason) { return {.kind = OuterKind::drop, .reason = reason}; }

Verdict verdict_of(const OuterResult& r) {
  if (r.kind == OuterKind::drop) return Drop(r.reason);
  Verdict v{.kind = r.kind,
            .ip_version = r.ip_version,
            .l2_len = r.l2_len,
            .l3_len = r.l3_len,
            .src = r.src_addr};
  if (r.kind == OuterKind::vxlan) {
    v.vni = r.vni;
    v.inner_offset = r.inner_offset;
    v.inner_len = r.inner_len;
  }
  return v;
}

void PrintTo(const Verdict& v, std::ostream* os) {
  *os << "{" << kind_name(v.kind);
  if (v.kind == OuterKind::drop) {
    *os << " " << reason_name(v.reason) << "}";
    return;
  }
  *os << " ipv" << int{v.ip_version} << " l2=" << v.l2_len << " l3=" << v.l3_len;
  if (v.kind == OuterKind::vxlan) {
    *os << " vni=0x" << std::hex << v.vni << std::dec << " inner_offset=" << v.inner_offset
        << " inner_len=" << v.inner_len;
  }
  *os << " src=" << hex(v.src.data(), v.src.size()) << "}";
}

ParseConfig ports(std::initializer_list<uint16_t> list) {
  ParseConfig c;
  c.vxlan_ports = {};
  c.vxlan_port_count = 0;
  for (uint16_t p : list) c.vxlan_ports[c.vxlan_port_count++] = p;
  return c;
}

struct Case {
  std::string what;
  FrameSpec spec;
  void (*poke)(Frame&) = nullptr;  // breaks one field of the built frame
  size_t contiguous = kWhole;      // else: only this many bytes in the first segment
  ParseConfig config{};
  Verdict want;
};

void PrintTo(const Case& c, std::ostream* os) { *os << c.what; }

constexpr uint8_t kHbh = kIpv6HopByHop;
constexpr uint8_t kRt = kIpv6Routing;
constexpr uint8_t kDst = kIpv6DestOpts;
constexpr uint8_t kFrag = kIpv6Fragment;
constexpr uint32_t kVni = 0x123456;  // FrameSpec default
constexpr uint32_t kInner = 64;      // FrameSpec default inner frame length
constexpr auto kNotVxlan = DropReason::not_vxlan;
constexpr auto kBadHeader = DropReason::bad_header;
constexpr auto kFragmentDrop = DropReason::fragment;

// Offsets are written as sums: Ethernet [+ tags] + IP header + UDP 8 + VXLAN 8.
std::vector<Case> table() {
  const ParseConfig two_ports = ports({4789, 8472});
  std::vector<Case> t = {
      // Accepted VXLAN: IPv4
      {.what = "plain VXLAN over IPv4", .want = Vxlan(kVni, 14 + 20 + 16, kInner, 14, 20, kV4)},
      {.what = "IPv4 DF set is not a fragment",
       .spec = {.ipv4_frag = 0x4000},
       .want = Vxlan(kVni, 14 + 20 + 16, kInner, 14, 20, kV4)},
      {.what = "IPv4 reserved flag bit is not a fragment",
       .spec = {.ipv4_frag = 0x8000},
       .want = Vxlan(kVni, 14 + 20 + 16, kInner, 14, 20, kV4)},
      {.what = "other outer source address is reported",
       .spec = {.src4 = {10, 1, 2, 3}},
       .want = Vxlan(kVni, 14 + 20 + 16, kInner, 14, 20, {4, {10, 1, 2, 3}})},

      // Accepted VXLAN: IPv6
      {.what = "plain VXLAN over IPv6",
       .spec = {.l3 = L3::ipv6},
       .want = Vxlan(kVni, 14 + 40 + 16, kInner, 14, 40, kV6)},
      {.what = "IPv6 hop-by-hop",
       .spec = {.l3 = L3::ipv6, .ipv6_ext = {kHbh}},
       .want = Vxlan(kVni, 14 + 48 + 16, kInner, 14, 48, kV6)},
      {.what = "IPv6 routing",
       .spec = {.l3 = L3::ipv6, .ipv6_ext = {kRt}},
       .want = Vxlan(kVni, 14 + 48 + 16, kInner, 14, 48, kV6)},
      {.what = "IPv6 destination options",
       .spec = {.l3 = L3::ipv6, .ipv6_ext = {kDst}},
       .want = Vxlan(kVni, 14 + 48 + 16, kInner, 14, 48, kV6)},
      {.what = "IPv6 hop-by-hop, routing, destination options of 16 bytes each",
       .spec = {.l3 = L3::ipv6, .ipv6_ext = {kHbh, kRt, kDst}, .ipv6_ext_units = 1},
       .want = Vxlan(kVni, 14 + 88 + 16, kInner, 14, 88, kV6)},
      {.what = "IPv6 destination options of 24 bytes",
       .spec = {.l3 = L3::ipv6, .ipv6_ext = {kDst}, .ipv6_ext_units = 2},
       .want = Vxlan(kVni, 14 + 64 + 16, kInner, 14, 64, kV6)},
      {.what = "IPv6 eight extension headers (the limit)",
       .spec = {.l3 = L3::ipv6, .ipv6_ext = {kHbh, kDst, kRt, kDst, kDst, kDst, kDst, kDst}},
       .want = Vxlan(kVni, 14 + 104 + 16, kInner, 14, 104, kV6)},
      {.what = "IPv6 nine extension headers",
       .spec = {.l3 = L3::ipv6, .ipv6_ext = {kHbh, kDst, kRt, kDst, kDst, kDst, kDst, kDst, kDst}},
       .want = Drop(kBadHeader)},
      {.what = "IPv6 fragment header",
       .spec = {.l3 = L3::ipv6, .ipv6_ext = {kFrag}},
       .want = Drop(kFragmentDrop)},
      {.what = "IPv6 fragment header after hop-by-hop",
       .spec = {.l3 = L3::ipv6, .ipv6_ext = {kHbh, kFrag}},
       .want = Drop(kFragmentDrop)},
      {.what = "IPv6 no next header",
       .spec = {.l3 = L3::ipv6, .ipv6_ext = {kHbh}},
       .poke = [](Frame& f) { f.bytes[f.l2_len + 40] = kIpv6NoNext; },
       .want = Drop(kNotVxlan)},
      {.what = "IPv6 hop-by-hop running into the Ethernet padding",
       .spec = {.l3 = L3::ipv6, .ipv6_ext = {kHbh}, .l4 = kIpProtoTcp, .padding = 200},
       .poke = [](Frame& f) { f.bytes[f.l2_len + 40 + 1] = 12; },  // 104 bytes, payload is 100
       .want = Drop(kBadHeader)},
      {.what = "IPv6 extension header longer than the payload",
       .spec = {.l3 = L3::ipv6, .ipv6_ext = {kHbh}},
       .poke = [](Frame& f) { f.bytes[f.l2_len + 40 + 1] = 200; },
       .want = Drop(kBadHeader)},

      // VLAN tags
      {.what = "one 802.1Q tag",
       .spec = {.tags = {kTpidDot1q}},
       .want = Vxlan(kVni, 18 + 20 + 16, kInner, 18, 20, kV4)},
      {.what = "one 802.1Q tag, IPv6",
       .spec = {.tags = {kTpidDot1q}, .l3 = L3::ipv6},
       .want = Vxlan(kVni, 18 + 40 + 16, kInner, 18, 40, kV6)},
      {.what = "QinQ 802.1ad then 802.1Q",
       .spec = {.tags = {kTpidDot1ad, kTpidDot1q}},
       .want = Vxlan(kVni, 22 + 20 + 16, kInner, 22, 20, kV4)},
      {.what = "two 802.1Q tags",
       .spec = {.tags = {kTpidDot1q, kTpidDot1q}},
       .want = Vxlan(kVni, 22 + 20 + 16, kInner, 22, 20, kV4)},
      {.what = "QinQ, IPv6 with hop-by-hop and destination options",
       .spec = {.tags = {kTpidDot1ad, kTpidDot1q}, .l3 = L3::ipv6, .ipv6_ext = {kHbh, kDst}},
       .want = Vxlan(kVni, 22 + 56 + 16, kInner, 22, 56, kV6)},
      {.what = "three VLAN tags",
       .spec = {.tags = {kTpidDot1ad, kTpidDot1q, kTpidDot1q}},
       .want = Drop(kNotVxlan)},

      // Not VXLAN
      {.what = "ARP", .spec = {.l3 = L3::arp}, .want = Drop(kNotVxlan)},
      {.what = "ARP in an 802.1Q tag",
       .spec = {.tags = {kTpidDot1q}, .l3 = L3::arp},
       .want = Drop(kNotVxlan)},
      {.what = "IPv4 TCP", .spec = {.l4 = kIpProtoTcp}, .want = Drop(kNotVxlan)},
      {.what = "IPv4 ICMP", .spec = {.l4 = kIpProtoIcmp}, .want = Drop(kNotVxlan)},
      {.what = "IPv6 TCP", .spec = {.l3 = L3::ipv6, .l4 = kIpProtoTcp}, .want = Drop(kNotVxlan)},
      {.what = "IPv6 ICMPv6",
       .spec = {.l3 = L3::ipv6, .l4 = kIpProtoIcmpv6},
       .want = Drop(kNotVxlan)},
      {.what = "UDP to port 53", .spec = {.udp_dst = 53}, .want = Drop(kNotVxlan)},
      {.what = "UDP to 4790 VXLAN-GPE", .spec = {.udp_dst = 4790}, .want = Drop(kNotVxlan)},
      {.what = "UDP to 6081 GENEVE", .spec = {.udp_dst = 6081}, .want = Drop(kNotVxlan)},
      {.what = "IPv6 UDP to port 53",
       .spec = {.l3 = L3::ipv6, .udp_dst = 53},
       .want = Drop(kNotVxlan)},

      // Configured ports
      {.what = "extra configured port 8472",
       .spec = {.udp_dst = 8472},
       .config = two_ports,
       .want = Vxlan(kVni, 14 + 20 + 16, kInner, 14, 20, kV4)},
      {.what = "4789 still accepted beside an extra port",
       .config = two_ports,
       .want = Vxlan(kVni, 14 + 20 + 16, kInner, 14, 20, kV4)},
      {.what = "IPv6 to the extra configured port",
       .spec = {.l3 = L3::ipv6, .udp_dst = 8472},
       .config = two_ports,
       .want = Vxlan(kVni, 14 + 40 + 16, kInner, 14, 40, kV6)},
      {.what = "port outside a two-port config",
       .spec = {.udp_dst = 4790},
       .config = two_ports,
       .want = Drop(kNotVxlan)},
      {.what = "4789 when only 8472 is configured",
       .config = ports({8472}),
       .want = Drop(kNotVxlan)},
      {.what = "ports past vxlan_port_count are ignored",
       .spec = {.udp_dst = 8472},
       .config = ParseConfig{.vxlan_ports = {4789, 8472}, .vxlan_port_count = 1},
       .want = Drop(kNotVxlan)},

      // VXLAN header
      {.what = "VXLAN I flag clear", .spec = {.vxlan_flags = 0x00}, .want = Drop(kBadHeader)},
      {.what = "VXLAN all flags but I set",
       .spec = {.vxlan_flags = 0xf7},
       .want = Drop(kBadHeader)},
      {.what = "VXLAN reserved bits set are ignored",
       .spec = {.vxlan_flags = 0xff, .vxlan_reserved = 0xff},
       .want = Vxlan(kVni, 14 + 20 + 16, kInner, 14, 20, kV4)},
      {.what = "VNI 0", .spec = {.vni = 0}, .want = Vxlan(0, 14 + 20 + 16, kInner, 14, 20, kV4)},
      {.what = "VNI 0xFFFFFF",
       .spec = {.vni = 0xffffff},
       .want = Vxlan(0xffffff, 14 + 20 + 16, kInner, 14, 20, kV4)},
      {.what = "VNI 0xFFFFFF with reserved bytes set",
       .spec = {.vni = 0xffffff, .vxlan_reserved = 0xff},
       .want = Vxlan(0xffffff, 14 + 20 + 16, kInner, 14, 20, kV4)},

      // Lengths
      {.what = "Ethernet padding after the UDP payload",
       .spec = {.padding = 6},
       .want = Vxlan(kVni, 14 + 20 + 16, kInner, 14, 20, kV4)},
      {.what = "Ethernet padding after an IPv6 datagram",
       .spec = {.l3 = L3::ipv6, .padding = 4},
       .want = Vxlan(kVni, 14 + 40 + 16, kInner, 14, 40, kV6)},
      {.what = "Ethernet padding after a short inner frame, QinQ",
       .spec = {.tags = {kTpidDot1ad, kTpidDot1q}, .inner_len = 14, .padding = 20},
       .want = Vxlan(kVni, 22 + 20 + 16, 14, 22, 20, kV4)},
      {.what = "IPv4 total length one past the frame",
       .poke = [](Frame& f) { add_be16(f.bytes, f.l2_len + 2, 1); },
       .want = Drop(kBadHeader)},
      {.what = "IPv4 total length 0",
       .poke = [](Frame& f) { put_be16(f.bytes, f.l2_len + 2, 0); },
       .want = Drop(kBadHeader)},
      {.what = "IPv4 total length 19, smaller than the header",
       .poke = [](Frame& f) { put_be16(f.bytes, f.l2_len + 2, 19); },
       .want = Drop(kBadHeader)},
      {.what = "IPv4 total length 20 with IHL 6",
       .spec = {.ipv4_option_words = 1},
       .poke = [](Frame& f) { put_be16(f.bytes, f.l2_len + 2, 20); },
       .want = Drop(kBadHeader)},
      {.what = "IPv4 total length 27, header only, UDP cut",
       .poke = [](Frame& f) { put_be16(f.bytes, f.l2_len + 2, 27); },
       .want = Drop(kBadHeader)},
      {.what = "IPv4 IHL 4",
       .poke = [](Frame& f) { f.bytes[f.l2_len] = 0x44; },
       .want = Drop(kBadHeader)},
      {.what = "IPv4 IHL 0",
       .poke = [](Frame& f) { f.bytes[f.l2_len] = 0x40; },
       .want = Drop(kBadHeader)},
      {.what = "IPv4 ethertype carrying IP version 6",
       .poke = [](Frame& f) { f.bytes[f.l2_len] = 0x65; },
       .want = Drop(kBadHeader)},
      {.what = "IPv6 ethertype carrying IP version 4",
       .spec = {.l3 = L3::ipv6},
       .poke = [](Frame& f) { f.bytes[f.l2_len] = 0x45; },
       .want = Drop(kBadHeader)},
      {.what = "IPv6 payload length 0",
       .spec = {.l3 = L3::ipv6},
       .poke = [](Frame& f) { put_be16(f.bytes, f.l2_len + 4, 0); },
       .want = Drop(kBadHeader)},
      {.what = "IPv6 TCP with payload length 0, BIG TCP",
       .spec = {.l3 = L3::ipv6, .l4 = kIpProtoTcp},
       .poke = [](Frame& f) { put_be16(f.bytes, f.l2_len + 4, 0); },
       .want = Drop(kBadHeader)},
      {.what = "IPv6 TCP with payload length 0 and hop-by-hop, a jumbogram",
       .spec = {.l3 = L3::ipv6, .ipv6_ext = {kHbh}, .l4 = kIpProtoTcp},
       .poke = [](Frame& f) { put_be16(f.bytes, f.l2_len + 4, 0); },
       .want = Drop(kBadHeader)},
      {.what = "IPv4 TCP with total length 0, a BIG TCP packet",
       .spec = {.l4 = kIpProtoTcp},
       .poke = [](Frame& f) { put_be16(f.bytes, f.l2_len + 2, 0); },
       .want = Drop(kBadHeader)},
      {.what = "IPv6 payload length one past the frame",
       .spec = {.l3 = L3::ipv6},
       .poke = [](Frame& f) { add_be16(f.bytes, f.l2_len + 4, 1); },
       .want = Drop(kBadHeader)},
      {.what = "IPv6 payload length shorter than the UDP length",
       .spec = {.l3 = L3::ipv6},
       .poke = [](Frame& f) { add_be16(f.bytes, f.l2_len + 4, -1); },
       .want = Drop(kBadHeader)},
      {.what = "IPv4 UDP length one larger than the IP payload",
       .poke = [](Frame& f) { add_be16(f.bytes, f.l4_offset + 4, 1); },
       .want = Drop(kBadHeader)},
      {.what = "IPv6 UDP length one larger than the IP payload",
       .spec = {.l3 = L3::ipv6},
       .poke = [](Frame& f) { add_be16(f.bytes, f.l4_offset + 4, 1); },
       .want = Drop(kBadHeader)},
      {.what = "UDP length 0",
       .poke = [](Frame& f) { put_be16(f.bytes, f.l4_offset + 4, 0); },
       .want = Drop(kBadHeader)},
      {.what = "UDP length 15, shorter than UDP plus VXLAN",
       .poke = [](Frame& f) { put_be16(f.bytes, f.l4_offset + 4, 15); },
       .want = Drop(kBadHeader)},
      {.what = "UDP length 16, no inner frame",
       .poke = [](Frame& f) { put_be16(f.bytes, f.l4_offset + 4, 16); },
       .want = Drop(kBadHeader)},
      {.what = "UDP length 29, 13-byte inner frame",
       .poke = [](Frame& f) { put_be16(f.bytes, f.l4_offset + 4, 29); },
       .want = Drop(kBadHeader)},
      {.what = "UDP length 30 ends the inner frame before the IP payload does",
       .poke = [](Frame& f) { put_be16(f.bytes, f.l4_offset + 4, 30); },
       .want = Vxlan(kVni, 14 + 20 + 16, 14, 14, 20, kV4)},
      {.what = "inner frame of 13 bytes", .spec = {.inner_len = 13}, .want = Drop(kBadHeader)},
      {.what = "IPv6 inner frame of 13 bytes",
       .spec = {.l3 = L3::ipv6, .inner_len = 13},
       .want = Drop(kBadHeader)},
      {.what = "inner frame of exactly 14 bytes",
       .spec = {.inner_len = 14},
       .want = Vxlan(kVni, 14 + 20 + 16, 14, 14, 20, kV4)},
      {.what = "inner jumbo frame of 9000 bytes",
       .spec = {.inner_len = 9000},
       .want = Vxlan(kVni, 14 + 20 + 16, 9000, 14, 20, kV4)},
      {.what = "empty frame", .poke = [](Frame& f) { f.bytes.clear(); }, .want = Drop(kBadHeader)},
      {.what = "13-byte frame",
       .poke = [](Frame& f) { f.bytes.resize(13); },
       .want = Drop(kBadHeader)},
      {.what = "frame ends inside the 802.1Q tag",
       .spec = {.tags = {kTpidDot1q}},
       .poke = [](Frame& f) { f.bytes.resize(16); },
       .want = Drop(kBadHeader)},
      {.what = "frame ends inside the IPv4 header",
       .poke = [](Frame& f) { f.bytes.resize(14 + 19); },
       .want = Drop(kBadHeader)},

      // Multi-segment frames: only the first `contiguous` bytes are readable
      {.what = "first segment ends where the inner frame starts",
       .contiguous = 14 + 20 + 16,
       .want = Vxlan(kVni, 14 + 20 + 16, kInner, 14, 20, kV4)},
      {.what = "first segment ends one byte into the VXLAN header",
       .contiguous = 14 + 20 + 8 + 1,
       .want = Drop(kBadHeader)},
      {.what = "first segment ends one byte before the inner frame",
       .contiguous = 14 + 20 + 15,
       .want = Drop(kBadHeader)},
      {.what = "first segment holds only the Ethernet header",
       .contiguous = 14,
       .want = Drop(kBadHeader)},
      {.what = "first segment is empty", .contiguous = 0, .want = Drop(kBadHeader)},
      {.what = "first segment ends inside the 802.1Q tag",
       .spec = {.tags = {kTpidDot1q}},
       .contiguous = 17,
       .want = Drop(kBadHeader)},
      {.what = "first segment ends inside IPv4 options",
       .spec = {.ipv4_option_words = 10},
       .contiguous = 14 + 59,
       .want = Drop(kBadHeader)},
      {.what = "first segment ends inside an IPv6 extension header chain",
       .spec = {.l3 = L3::ipv6, .ipv6_ext = {kHbh, kDst}},
       .contiguous = 14 + 40 + 8 + 4,
       .want = Drop(kBadHeader)},
      {.what = "IPv6 first segment ends where the inner frame starts",
       .spec = {.tags = {kTpidDot1ad, kTpidDot1q}, .l3 = L3::ipv6, .ipv6_ext = {kHbh, kDst}},
       .contiguous = 22 + 56 + 16,
       .want = Vxlan(kVni, 22 + 56 + 16, kInner, 22, 56, kV6)},
      {.what = "jumbo inner frame mostly in later segments",
       .spec = {.inner_len = 9000},
       .contiguous = 128,
       .want = Vxlan(kVni, 14 + 20 + 16, 9000, 14, 20, kV4)},
      {.what = "UDP to 4789, first segment ends after the UDP header",
       .contiguous = 14 + 20 + 8,
       .want = Drop(kBadHeader)},
      {.what = "UDP to port 53, first segment ends after the UDP header",
       .spec = {.udp_dst = 53},
       .contiguous = 14 + 20 + 8,
       .want = Drop(kNotVxlan)},
      {.what = "UDP to port 53, first segment ends inside the UDP header",
       .spec = {.udp_dst = 53},
       .contiguous = 14 + 20 + 7,
       .want = Drop(kBadHeader)},
      {.what = "IPv4 TCP, first segment ends after the IP header",
       .spec = {.l4 = kIpProtoTcp},
       .contiguous = 14 + 20,
       .want = Drop(kNotVxlan)},
      {.what = "IPv4 fragment, first segment ends after the IP header",
       .spec = {.ipv4_frag = 0x2000},
       .contiguous = 14 + 20,
       .want = Fragment(14, 20)},
      {.what = "contiguous larger than the frame length is clamped",
       .contiguous = 100000,
       .want = Vxlan(kVni, 14 + 20 + 16, kInner, 14, 20, kV4)},
      {.what = "contiguous larger than a truncated frame is clamped",
       .poke = [](Frame& f) { f.bytes.resize(40); },
       .contiguous = 100000,
       .want = Drop(kBadHeader)},

      // IPv4 fragments
      {.what = "IPv4 first fragment, MF set",
       .spec = {.ipv4_frag = 0x2000},
       .want = Fragment(14, 20)},
      {.what = "IPv4 last fragment, offset 185",
       .spec = {.ipv4_frag = 185},
       .want = Fragment(14, 20)},
      {.what = "IPv4 middle fragment with DF, 802.1Q and options",
       .spec = {.tags = {kTpidDot1q}, .ipv4_option_words = 2, .ipv4_frag = 0x6000 | 100},
       .want = Fragment(18, 28)},
      {.what = "IPv4 fragment, QinQ, IHL 15",
       .spec = {.tags = {kTpidDot1ad, kTpidDot1q}, .ipv4_option_words = 10, .ipv4_frag = 0x2000},
       .want = Fragment(22, 60)},
      {.what = "IPv4 first fragment of UDP to another port still goes to reassembly",
       .spec = {.ipv4_frag = 0x2000, .udp_dst = 53},
       .want = Fragment(14, 20)},
      {.what = "IPv4 TCP fragment",
       .spec = {.ipv4_frag = 0x2000, .l4 = kIpProtoTcp},
       .want = Drop(kNotVxlan)},
      {.what = "IPv4 ICMP fragment",
       .spec = {.ipv4_frag = 0x0010, .l4 = kIpProtoIcmp},
       .want = Drop(kNotVxlan)},
      {.what = "IPv4 fragment with total length past the frame",
       .spec = {.ipv4_frag = 0x2000},
       .poke = [](Frame& f) { add_be16(f.bytes, f.l2_len + 2, 1); },
       .want = Drop(kBadHeader)},
  };
  for (uint8_t ihl = 6; ihl <= 15; ++ihl) {
    const auto l3 = static_cast<uint16_t>(ihl * 4);
    t.push_back({.what = "IPv4 with options IHL " + std::to_string(ihl),
                 .spec = {.ipv4_option_words = static_cast<uint8_t>(ihl - 5)},
                 .want = Vxlan(kVni, 14 + l3 + 16, kInner, 14, l3, kV4)});
  }
  return t;
}

class OuterParseTable : public ::testing::TestWithParam<Case> {};

TEST_P(OuterParseTable, Verdict) {
  const Case& c = GetParam();
  Frame f = build_frame(c.spec);
  if (c.poke) c.poke(f);
  const OuterResult r = parse_checked(f.bytes, c.config, c.contiguous);
  EXPECT_EQ(verdict_of(r), c.want) << describe(r);
  EXPECT_TRUE(invariants_hold(r, f.bytes.data(), f.bytes.size(), c.config));
}

// GoogleTest names from descriptions: anything but letters and digits becomes '_'.
template <typename Param>
std::string test_name(const ::testing::TestParamInfo<Param>& info) {
  std::string name;
  for (char ch : info.param.what) name += std::isalnum(static_cast<unsigned char>(ch)) ? ch : '_';
  return name;
}

INSTANTIATE_TEST_SUITE_P(Frames, OuterParseTable, ::testing::ValuesIn(table()), test_name<Case>);

TEST(OuterParseTableTest, BuilderOffsetsMatchTheTable) {
  // The builder's own offsets agree with the hand-written sums above.
  const Frame v4 = build_frame({});
  EXPECT_EQ(v4.inner_offset, 50u);
  EXPECT_EQ(v4.bytes.size(), 50u + 64u);
  const Frame qinq6 = build_frame(
      {.tags = {kTpidDot1ad, kTpidDot1q}, .l3 = L3::ipv6, .ipv6_ext = {kHbh, kDst}, .padding = 3});
  EXPECT_EQ(qinq6.l2_len, 22u);
  EXPECT_EQ(qinq6.l3_len, 56u);
  EXPECT_EQ(qinq6.inner_offset, 94u);
  EXPECT_EQ(qinq6.ip_end, 94u + 64u);
  EXPECT_EQ(qinq6.bytes.size(), 94u + 64u + 3u);
}

// ---------------------------------------------------------------------------
// Every truncation and every first-segment length of valid frames

struct Sweep {
  std::string what;
  FrameSpec spec;
};

void PrintTo(const Sweep& s, std::ostream* os) { *os << s.what; }

std::vector<Sweep> sweeps() {
  return {
      {"IPv4", {}},
      {"IPv4 IHL 15 in 802.1Q", {.tags = {kTpidDot1q}, .ipv4_option_words = 10}},
      {"IPv6 with hop-by-hop, routing and destination options",
       {.l3 = L3::ipv6, .ipv6_ext = {kHbh, kRt, kDst}, .ipv6_ext_units = 1}},
      {"QinQ IPv6", {.tags = {kTpidDot1ad, kTpidDot1q}, .l3 = L3::ipv6, .ipv6_ext = {kHbh}}},
      {"QinQ IPv4", {.tags = {kTpidDot1ad, kTpidDot1q}}},
      {"IPv4 with Ethernet padding", {.padding = 8}},
      {"IPv6 with Ethernet padding", {.l3 = L3::ipv6, .padding = 8}},
      {"IPv4 fragment", {.tags = {kTpidDot1q}, .ipv4_frag = 0x2000}},
      {"IPv4 TCP", {.l4 = kIpProtoTcp}},
  };
}

class OuterParseTruncation : public ::testing::TestWithParam<Sweep> {};

// A prefix that cuts into the IP datagram is bad_header wherever the cut falls
// (Ethernet, a tag, IP, UDP, VXLAN or the inner frame); a prefix that only
// cuts Ethernet padding keeps the full frame's verdict.
TEST_P(OuterParseTruncation, EveryPrefix) {
  const Frame f = build_frame(GetParam().spec);
  const ParseConfig config;
  const OuterResult full = parse_checked(f.bytes, config);
  ASSERT_TRUE(invariants_hold(full, f.bytes.data(), f.bytes.size(), config));
  ASSERT_FALSE(full.kind == OuterKind::drop && full.reason == kBadHeader) << describe(full);
  for (size_t len = 0; len < f.bytes.size(); ++len) {
    const OuterResult r = parse_checked(f.bytes.data(), len, config);
    ASSERT_TRUE(invariants_hold(r, f.bytes.data(), len, config)) << "len " << len;
    if (len >= f.ip_end) {
      ASSERT_TRUE(same_result(r, full)) << "len " << len << ": " << describe(r);
    } else {
      ASSERT_EQ(verdict_of(r), Drop(kBadHeader)) << "len " << len << ": " << describe(r);
    }
  }
}

// Multi-segment: with at least the outer headers in the first segment the
// verdict is the whole frame's; with fewer it is bad_header. Also with a
// first segment claimed longer than the frame (clamped).
TEST_P(OuterParseTruncation, EveryFirstSegmentLength) {
  const Frame f = build_frame(GetParam().spec);
  const ParseConfig config;
  const OuterResult full = parse_checked(f.bytes, config);
  const size_t needed = headers_needed(full);
  ASSERT_GE(needed, 34u) << describe(full);
  for (size_t contiguous = 0; contiguous <= f.bytes.size() + 2; ++contiguous) {
    const OuterResult r = parse_checked(f.bytes, config, contiguous);
    if (contiguous >= needed) {
      ASSERT_TRUE(same_result(r, full)) << "contiguous " << contiguous << ": " << describe(r);
    } else {
      ASSERT_EQ(verdict_of(r), Drop(kBadHeader))
          << "contiguous " << contiguous << ": " << describe(r);
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Frames, OuterParseTruncation, ::testing::ValuesIn(sweeps()),
                         test_name<Sweep>);

// ---------------------------------------------------------------------------
// Random mutations of valid frames

TEST(OuterParseFuzz, RandomMutationsKeepInvariants) {
  constexpr int kIterations = 100'000;
  const ParseConfig config = ports({4789, 8472});
  std::vector<Frame> bases;
  for (const Sweep& s : sweeps()) bases.push_back(build_frame(s.spec));
  bases.push_back(build_frame({.udp_dst = 8472, .inner_len = 14}));
  bases.push_back(build_frame({.l3 = L3::ipv6, .ipv6_ext = {kFrag}}));
  bases.push_back(build_frame({.tags = {kTpidDot1q}, .l3 = L3::arp}));

  // Bytes that steer the parser: ethertypes, TPIDs, versions/IHL, protocols,
  // extension header types, the I flag, lengths near the edges.
  constexpr uint8_t kInteresting[] = {0x00, 0xff, 0x08, 0x11, 0x06, 0x2c, 0x3b, 0x3c, 0x2b, 0x81,
                                      0x88, 0xa8, 0x86, 0xdd, 0x45, 0x4f, 0x60, 0x12, 0xb5, 0x10};
  std::mt19937 rng(20240601);
  auto below = [&](size_t n) { return n == 0 ? size_t{0} : static_cast<size_t>(rng() % n); };
  std::map<std::string, int> seen;

  for (int i = 0; i < kIterations; ++i) {
    const Frame& base = bases[below(bases.size())];
    std::vector<uint8_t> b = base.bytes;
    const size_t header_end = std::min(b.size(), std::max<size_t>(base.inner_offset + 16, 64));
    for (size_t n = 1 + below(4); n > 0; --n) {
      switch (below(6)) {
        case 0:  // random byte in the headers
          if (header_end) b[below(header_end)] = static_cast<uint8_t>(rng());
          break;
        case 1:  // flip one bit in the headers
          if (header_end) b[below(header_end)] ^= static_cast<uint8_t>(1u << below(8));
          break;
        case 2:  // interesting byte in the headers
          if (header_end) b[below(header_end)] = kInteresting[below(sizeof kInteresting)];
          break;
        case 3: {  // nudge a length field: IP total/payload length or UDP length
          const bool ipv6 = base.bytes[base.l2_len] >> 4 == 6;
          const size_t at = below(2) ? base.l2_len + (ipv6 ? 4 : 2) : base.l4_offset + 4;
          if (at + 1 < b.size()) add_be16(b, at, static_cast<int>(below(129)) - 64);
          break;
        }
        case 4:  // truncate
          b.resize(below(b.size() + 1));
          break;
        case 5:  // append trailer bytes
          for (size_t k = 1 + below(32); k > 0; --k) b.push_back(static_cast<uint8_t>(rng()));
          break;
      }
    }
    const OuterResult r = parse_checked(b, config);
    ASSERT_TRUE(invariants_hold(r, b.data(), b.size(), config))
        << "iteration " << i << " frame " << hex(b.data(), b.size());
    // The same frame with a random first segment: an accepted frame keeps its
    // verdict when its headers fit and is bad_header when not; a dropped one
    // keeps its reason or becomes bad_header.
    const size_t contiguous = below(b.size() + 9);
    const OuterResult split = parse_checked(b, config, contiguous);
    const bool same = same_result(split, r);
    const bool bad_header = verdict_of(split) == Drop(kBadHeader);
    const bool ok = r.kind == OuterKind::drop         ? same || bad_header
                    : contiguous >= headers_needed(r) ? same
                                                      : bad_header;
    ASSERT_TRUE(ok) << "iteration " << i << " contiguous " << contiguous << ": " << describe(split)
                    << " vs whole " << describe(r) << " frame " << hex(b.data(), b.size());
    ++seen[kind_name(r.kind) + (r.kind == OuterKind::drop ? "/" + reason_name(r.reason) : "")];
  }

  std::string summary;
  for (const auto& [verdict, count] : seen) summary += verdict + "=" + std::to_string(count) + " ";
  std::printf("verdicts over %d mutations: %s\n", kIterations, summary.c_str());
  // The mutations must reach every verdict, or the invariants were barely tested.
  for (const char* verdict :
       {"vxlan", "ipv4_fragment", "drop/not_vxlan", "drop/bad_header", "drop/fragment"})
    EXPECT_GT(seen[verdict], 100) << verdict;
}

// ---------------------------------------------------------------------------
// The builder, judged by tshark

// Writes every accepted table frame with a full inner TCP header to a pcap and
// checks that tshark finds the same VNI, outer source and inner TCP header.
TEST(FrameBuilderTshark, DecodesAcceptedFrames) {
  ASSERT_EQ(std::system("command -v tshark >/dev/null 2>&1"), 0) << "tshark not installed (deploy/setup-debian.sh)";
  std::vector<Case> accepted;
  for (const Case& c : table())
    if (c.want.kind == OuterKind::vxlan && c.want.inner_len >= 54 && !c.poke) accepted.push_back(c);
  ASSERT_GT(accepted.size(), 20u);

  const std::string path =
      ::testing::TempDir() + "outer_parse_builder_" + std::to_string(getpid()) + ".pcap";
  pcap_t* dead = pcap_open_dead(DLT_EN10MB, 65535);
  ASSERT_NE(dead, nullptr);
  pcap_dumper_t* dumper = pcap_dump_open(dead, path.c_str());
  ASSERT_NE(dumper, nullptr) << pcap_geterr(dead);
  for (const Case& c : accepted) {
    const Frame f = build_frame(c.spec);
    pcap_pkthdr h{};
    h.caplen = h.len = static_cast<bpf_u_int32>(f.bytes.size());
    pcap_dump(reinterpret_cast<u_char*>(dumper), &h, f.bytes.data());
  }
  pcap_dump_close(dumper);
  pcap_close(dead);

  // Checksums verified too: the builder's IPv4 and UDP checksums must be right.
  const std::string cmd =
      "tshark -n -r " + path +
      " -d udp.port==8472,vxlan -o ip.check_checksum:TRUE -o udp.check_checksum:TRUE"
      " -T fields -E separator=/t -E occurrence=f"
      " -e vxlan.vni -e ip.src -e ipv6.src -e tcp.srcport -e ip.checksum.status"
      " -e udp.checksum.status -e _ws.malformed 2>/dev/null";
  FILE* pipe = popen(cmd.c_str(), "r");
  ASSERT_NE(pipe, nullptr);
  std::vector<std::string> lines;
  char line[1024];
  while (std::fgets(line, sizeof line, pipe)) {
    std::string s(line);
    if (!s.empty() && s.back() == '\n') s.pop_back();
    lines.push_back(s);
  }
  EXPECT_EQ(pclose(pipe), 0);
  std::filesystem::remove(path);
  ASSERT_EQ(lines.size(), accepted.size());

  for (size_t i = 0; i < accepted.size(); ++i) {
    const Verdict& want = accepted[i].want;
    std::vector<std::string> field;
    std::stringstream ss(lines[i]);
    for (std::string x; std::getline(ss, x, '\t');) field.push_back(x);
    field.resize(7);
    char src[64];
    if (want.ip_version == 4) {
      std::snprintf(src, sizeof src, "%d.%d.%d.%d", want.src[0], want.src[1], want.src[2],
                    want.src[3]);
    } else {
      std::snprintf(src, sizeof src, "2001:db8::1");
    }
    SCOPED_TRACE(accepted[i].what + ": " + lines[i]);
    EXPECT_EQ(field[0], std::to_string(want.vni));
    EXPECT_EQ(field[want.ip_version == 4 ? 1 : 2], src);
    EXPECT_EQ(field[3], std::to_string(kInnerTcpSrcPort));
    EXPECT_EQ(field[4], "1") << "outer IPv4 checksum status (1 = good)";
    EXPECT_EQ(field[5], "1") << "UDP checksum status (1 = good)";
    EXPECT_EQ(field[6], "") << "tshark marks the frame malformed";
  }
}

}  // namespace
}  // namespace vxc::test
