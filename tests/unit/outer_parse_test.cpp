// Outer parser tests.
//
// 1. Tables: description, a frame built with frame_builder.h (plus an optional
//    poke that breaks one field), the first-segment length for the multi-segment
//    form, the ParseConfig, and the expected verdict. VXLAN, GENEVE (AWS GWLB
//    options, nested VXLAN, inner L3 packets), the exception path.
// 2. Every truncation and every first-segment length of a few valid frames, and
//    100k random mutations of valid frames: the verdict invariants hold and
//    nothing is read past the readable bytes.
// 3. tshark decodes the builder's valid frames the way the tables expect, so
//    the builder and the parser cannot share one misreading of the formats.
// 4. The GENEVE captures of the shared corpus give the verdicts worked out
//    from their tshark dissection (MANIFEST.md).
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

#include <algorithm>
#include <cctype>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <map>
#include <memory>
#include <optional>
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
         a.inner_offset == b.inner_offset && a.inner_len == b.inner_len &&
         a.src_addr == b.src_addr && a.encap == b.encap && a.inner_ethertype == b.inner_ethertype &&
         a.has_gwlbe_eni == b.has_gwlbe_eni && a.gwlbe_eni == b.gwlbe_eni &&
         a.has_attachment_id == b.has_attachment_id && a.attachment_id == b.attachment_id &&
         a.has_flow_cookie == b.has_flow_cookie && a.flow_cookie == b.flow_cookie &&
         a.tunnel_ip_version == b.tunnel_ip_version && a.tunnel_src_addr == b.tunnel_src_addr;
}

std::string kind_name(OuterKind k) {
  switch (k) {
    case OuterKind::ethernet:
      return "ethernet";
    case OuterKind::ip:
      return "ip";
    case OuterKind::ipv4_fragment:
      return "ipv4_fragment";
    case OuterKind::exception:
      return "exception";
    case OuterKind::drop:
      return "drop";
  }
  return "kind " + std::to_string(static_cast<int>(k));
}

std::string encap_name(Encap e) {
  switch (e) {
    case Encap::vxlan:
      return "vxlan";
    case Encap::geneve:
      return "geneve";
    case Encap::geneve_vxlan:
      return "geneve_vxlan";
  }
  return "encap " + std::to_string(static_cast<int>(e));
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

bool carries_inner(OuterKind k) { return k == OuterKind::ethernet || k == OuterKind::ip; }

std::string describe(const OuterResult& r) {
  std::ostringstream os;
  os << "{" << kind_name(r.kind);
  if (r.kind == OuterKind::drop) os << " " << reason_name(r.reason);
  os << " ipv" << int{r.ip_version} << " l2=" << r.l2_len << " l3=" << r.l3_len;
  if (carries_inner(r.kind)) {
    os << " " << encap_name(r.encap) << " vni=0x" << std::hex << r.vni << std::dec
       << " inner_offset=" << r.inner_offset << " inner_len=" << r.inner_len;
    if (r.kind == OuterKind::ip)
      os << " inner_ethertype=0x" << std::hex << r.inner_ethertype << std::dec;
    os << " tunnel=ipv" << int{r.tunnel_ip_version} << " "
       << hex(r.tunnel_src_addr.data(), r.tunnel_src_addr.size());
    if (r.has_gwlbe_eni) os << " eni=0x" << std::hex << r.gwlbe_eni << std::dec;
    if (r.has_attachment_id) os << " attachment=0x" << std::hex << r.attachment_id << std::dec;
    if (r.has_flow_cookie) os << " cookie=0x" << std::hex << r.flow_cookie << std::dec;
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
  // parse_outer's fast paths for plain VXLAN over IPv4 and IPv6 must give the general
  // parser's verdict on every frame any test parses.
  const OuterResult general = parse_outer_without_fast_path(
      exact.get(), contiguous == kWhole ? len : contiguous, len, config);
  EXPECT_TRUE(same_result(on_heap, general))
      << "fast path and general parser differ on " << hex(data, readable);

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

uint16_t be16(const uint8_t* p) { return static_cast<uint16_t>(p[0] << 8 | p[1]); }
uint32_t be24(const uint8_t* p) { return uint32_t{p[0]} << 16 | uint32_t{p[1]} << 8 | p[2]; }
uint64_t be_n(const uint8_t* p, size_t n) {
  uint64_t v = 0;
  for (size_t i = 0; i < n; ++i) v = v << 8 | p[i];
  return v;
}

// The upper-layer protocol of the outer IP header the verdict describes
// (IPv6: the next header of the last extension header inside l3_len).
uint8_t upper_proto(const OuterResult& r, const uint8_t* p) {
  const uint8_t* ip = p + r.l2_len;
  if (r.ip_version == 4) return ip[9];
  uint8_t proto = ip[6];
  for (size_t at = 40; at < r.l3_len; at += (size_t{ip[at + 1]} + 1) * 8) proto = ip[at];
  return proto;
}

// Bytes the parser must be able to read to reach `full` (the verdict for the
// whole frame contiguous): the headers up to the inner frame for an inner
// Ethernet frame, the IP header (and TCP ports) for a fragment, an exception or
// a frame dropped after its IP header.
// For an inner L3 packet it depends on how far the nested headers were read:
// nullopt, somewhere in (inner_offset, inner_offset + inner_len].
std::optional<size_t> headers_needed(const OuterResult& full, const uint8_t* p) {
  switch (full.kind) {
    case OuterKind::ethernet:
      return full.inner_offset;
    case OuterKind::ipv4_fragment:
    case OuterKind::drop:  // not bad_header: not_vxlan of a non-UDP frame, fragment, ...
      return size_t{full.l2_len} + full.l3_len;
    case OuterKind::exception:
      if (full.ip_version == 0) return full.l2_len;
      return size_t{full.l2_len} + full.l3_len + (upper_proto(full, p) == kIpProtoTcp ? 4 : 0);
    default:
      return std::nullopt;
  }
}

// ---------------------------------------------------------------------------
// Invariants every verdict must satisfy, whatever the input. They re-read the
// frame to confirm the verdict (only inside the bounds the verdict claims).

bool in_list(const uint16_t* list, size_t count, uint16_t port) {
  for (size_t i = 0; i < count; ++i)
    if (list[i] == port) return true;
  return false;
}

::testing::AssertionResult invariants_hold(const OuterResult& r, const uint8_t* p, size_t len,
                                           const ParseConfig& config) {
  auto fail = [&] {
    return ::testing::AssertionFailure() << describe(r) << " len=" << len << ": ";
  };
  const bool is_vxlan_port = [&] {
    return len >= size_t{r.l2_len} + r.l3_len + 4 &&
           in_list(config.vxlan_ports.data(), config.vxlan_port_count,
                   be16(p + r.l2_len + r.l3_len + 2));
  }();
  if (r.kind == OuterKind::drop) {
    if (r.reason != DropReason::not_vxlan && r.reason != DropReason::bad_header &&
        r.reason != DropReason::fragment && r.reason != DropReason::unsupported_payload)
      return fail() << "the outer parser never gives this reason";
    if (r.reason == DropReason::fragment && r.ip_version != 6)
      return fail() << "fragment drop for a non-IPv6 frame";
    if (r.reason == DropReason::unsupported_payload) {
      // Read only a GENEVE header it has seen: O bit or another protocol.
      const size_t udp = size_t{r.l2_len} + r.l3_len;
      if (r.ip_version == 0 || len < udp + 16) return fail() << "no GENEVE header";
      if (!in_list(config.geneve_ports.data(), config.geneve_port_count, be16(p + udp + 2)) ||
          is_vxlan_port)
        return fail() << "not a GENEVE port";
      const uint8_t* g = p + udp + 8;
      const uint16_t protocol = be16(g + 2);
      if ((g[1] & 0x80) == 0 && (protocol == 0x6558 || protocol == 0x0800 || protocol == 0x86dd))
        return fail() << "a supported GENEVE payload";
    }
    return ::testing::AssertionSuccess();
  }
  if (!carries_inner(r.kind) && r.kind != OuterKind::ipv4_fragment &&
      r.kind != OuterKind::exception)
    return fail() << "bad kind";
  if (r.l2_len != 14 && r.l2_len != 18 && r.l2_len != 22) return fail() << "l2_len";
  const size_t l2 = r.l2_len;
  const uint16_t ethertype = be16(p + l2 - 2);
  if (r.kind == OuterKind::exception) {
    if (!config.exception_path) return fail() << "exception path is off";
    if (r.ip_version == 0) {
      if (ethertype != kEtherTypeArp || r.l3_len != 0) return fail() << "not ARP";
      return ::testing::AssertionSuccess();
    }
  }
  if (len < l2 + 20) return fail() << "IP header not inside the frame";
  const uint8_t* ip = p + l2;
  size_t ip_end = 0;
  if (r.ip_version == 4) {
    if (ethertype != kEtherTypeIpv4) return fail() << "ethertype " << ethertype;
    if (r.l3_len != (ip[0] & 0x0f) * 4 || r.l3_len < 20) return fail() << "l3_len vs IHL";
    ip_end = l2 + be16(ip + 2);
    if (be16(ip + 2) < r.l3_len || ip_end > len) return fail() << "IPv4 total length";
    if (std::memcmp(r.src_addr.data(), ip + 12, 4) != 0) return fail() << "src";
    for (size_t i = 4; i < 16; ++i)
      if (r.src_addr[i] != 0) return fail() << "src not zero-filled";
    const bool fragment = (be16(ip + 6) & 0x3fff) != 0;
    if (fragment != (r.kind == OuterKind::ipv4_fragment)) return fail() << "MF/offset";
    if (r.kind == OuterKind::ipv4_fragment && ip[9] != kIpProtoUdp) return fail() << "not UDP";
  } else if (r.ip_version == 6 && r.kind != OuterKind::ipv4_fragment) {
    if (ethertype != kEtherTypeIpv6) return fail() << "ethertype " << ethertype;
    if (len < l2 + 40) return fail() << "IPv6 header not inside the frame";
    if (r.l3_len < 40 || (r.l3_len - 40) % 8 != 0) return fail() << "l3_len";
    ip_end = l2 + 40 + be16(ip + 4);
    if (ip_end > len || l2 + r.l3_len > ip_end) return fail() << "IPv6 payload length";
    if (std::memcmp(r.src_addr.data(), ip + 8, 16) != 0) return fail() << "src";
  } else {
    return fail() << "ip_version";
  }
  if (r.kind == OuterKind::ipv4_fragment) return ::testing::AssertionSuccess();
  const uint8_t proto = upper_proto(r, p);
  if (r.kind == OuterKind::exception) {
    if (proto == (r.ip_version == 4 ? kIpProtoIcmp : kIpProtoIcmpv6))
      return ::testing::AssertionSuccess();
    if (proto != kIpProtoTcp) return fail() << "exception for protocol " << int{proto};
    if (l2 + r.l3_len + 4 > ip_end) return fail() << "TCP ports outside the datagram";
    if (!in_list(config.exception_tcp_ports.data(), config.exception_tcp_port_count,
                 be16(p + l2 + r.l3_len + 2)))
      return fail() << "TCP port not an exception port";
    return ::testing::AssertionSuccess();
  }

  // An inner frame or packet: the outer UDP and the tunnel header(s).
  if (proto != kIpProtoUdp) return fail() << "not UDP";
  if (r.vni > 0xffffff) return fail() << "VNI wider than 24 bits";
  const size_t udp_off = l2 + r.l3_len;
  const uint8_t* udp = p + udp_off;
  const size_t udp_end = udp_off + be16(udp + 4);
  if (udp_end > ip_end) return fail() << "UDP length past the IP datagram";
  if (uint64_t{r.inner_offset} + r.inner_len > udp_end)
    return fail() << "inner past the UDP datagram";
  if (r.kind == OuterKind::ethernet && r.inner_len < kEthHeaderLen)
    return fail() << "inner frame shorter than Ethernet";
  if (r.encap != Encap::geneve_vxlan &&
      (r.tunnel_ip_version != r.ip_version || r.tunnel_src_addr != r.src_addr))
    return fail() << "tunnel source is not the outer source";
  auto check_vxlan = [&](const uint8_t* v_udp) -> ::testing::AssertionResult {
    const uint8_t* vxlan = v_udp + 8;
    if (!in_list(config.vxlan_ports.data(), config.vxlan_port_count, be16(v_udp + 2)))
      return fail() << "UDP port " << be16(v_udp + 2) << " not a VXLAN port";
    if (be16(v_udp + 4) != r.inner_len + 16) return fail() << "inner_len vs UDP length";
    if ((vxlan[0] & 0x08) == 0) return fail() << "I flag clear";
    if (r.vni != be24(vxlan + 4)) return fail() << "VNI does not match the header";
    return ::testing::AssertionSuccess();
  };
  if (r.encap == Encap::vxlan) {
    if (r.kind != OuterKind::ethernet) return fail() << "VXLAN carries Ethernet";
    if (r.inner_offset != udp_off + 16) return fail() << "inner_offset";
    if (r.has_gwlbe_eni || r.has_attachment_id || r.has_flow_cookie) return fail() << "options";
    return check_vxlan(udp);
  }

  // GENEVE: port, header, options (the AWS values re-read), payload.
  if (is_vxlan_port) return fail() << "GENEVE on a VXLAN port";
  if (!in_list(config.geneve_ports.data(), config.geneve_port_count, be16(udp + 2)))
    return fail() << "UDP port " << be16(udp + 2) << " not a GENEVE port";
  const uint8_t* g = udp + 8;
  if ((g[0] >> 6) != 0) return fail() << "GENEVE version";
  if ((g[1] & 0x80) != 0) return fail() << "O bit";
  const size_t options = size_t{g[0] & 0x3fu} * 4;
  const size_t payload = udp_off + 16 + options;
  if (payload > r.inner_offset) return fail() << "options past the inner offset";
  std::optional<uint64_t> eni, attachment, cookie;
  for (size_t at = 0; at < options;) {
    const uint8_t* o = g + 8 + at;
    const size_t n = size_t{o[3] & 0x1fu} * 4;
    if (at + 4 + n > options) return fail() << "option overruns Opt Len";
    if (be16(o) == 0x0108 && o[2] >= 1 && o[2] <= 3) {
      if (n != (o[2] == 3 ? 4u : 8u)) return fail() << "AWS option length";
      (o[2] == 1 ? eni : o[2] == 2 ? attachment : cookie) = be_n(o + 4, n);
    }
    at += 4 + n;
  }
  if (r.has_gwlbe_eni != eni.has_value() || (eni && *eni != r.gwlbe_eni) ||
      r.has_attachment_id != attachment.has_value() ||
      (attachment && *attachment != r.attachment_id) || r.has_flow_cookie != cookie.has_value() ||
      (cookie && *cookie != r.flow_cookie))
    return fail() << "AWS option values";
  const uint16_t protocol = be16(g + 2);
  if (r.encap == Encap::geneve) {
    if (r.vni != be24(g + 4)) return fail() << "GENEVE VNI";
    if (r.inner_offset != payload || r.inner_offset + r.inner_len != udp_end)
      return fail() << "GENEVE payload bounds";
    if (protocol == 0x6558) {
      if (r.kind != OuterKind::ethernet || r.inner_ethertype != 0) return fail() << "0x6558";
    } else if (protocol == 0x0800 || protocol == 0x86dd) {
      if (r.kind != OuterKind::ip || r.inner_ethertype != protocol) return fail() << "L3 kind";
      if (r.inner_len < (protocol == 0x0800 ? 20u : 40u)) return fail() << "L3 packet too short";
    } else {
      return fail() << "GENEVE protocol " << protocol;
    }
    return ::testing::AssertionSuccess();
  }
  if (r.encap != Encap::geneve_vxlan || r.kind != OuterKind::ethernet) return fail() << "encap";
  if (protocol != 0x0800 && protocol != 0x86dd) return fail() << "nested protocol";
  const uint8_t* nested = p + payload;
  const bool v6 = protocol == 0x86dd;
  if ((nested[0] >> 4) != (v6 ? 6 : 4) || r.tunnel_ip_version != (v6 ? 6 : 4))
    return fail() << "nested IP version";
  if (std::memcmp(r.tunnel_src_addr.data(), nested + (v6 ? 8 : 12), v6 ? 16 : 4) != 0)
    return fail() << "tunnel source is not the nested source";
  for (size_t i = v6 ? 16 : 4; i < 16; ++i)
    if (r.tunnel_src_addr[i] != 0) return fail() << "tunnel source not zero-filled";
  const size_t nested_end = payload + (v6 ? 40 + be16(nested + 4) : be16(nested + 2));
  if (nested_end > udp_end) return fail() << "nested IP past the GENEVE payload";
  if (r.inner_offset < payload + (v6 ? 40 : 20) + 16) return fail() << "nested headers";
  if (r.inner_offset + r.inner_len > nested_end) return fail() << "inner past the nested IP";
  return check_vxlan(p + r.inner_offset - 16);
}

// ---------------------------------------------------------------------------
// The tables

struct Outer {
  uint8_t version;
  std::array<uint8_t, 16> addr;
};
constexpr Outer kV4{4, {192, 0, 2, 1}};
constexpr Outer kV6{6, kOuterSrc6};
constexpr Outer kNested4{4, {172, 31, 5, 10}};
constexpr Outer kNested6{6, kNestedSrc6};

// The verdict fields a case pins down; fields that do not apply stay zero.
struct Verdict {
  OuterKind kind = OuterKind::drop;
  DropReason reason = DropReason::bad_header;  // drop
  uint8_t ip_version = 0;                      // all but drop
  uint16_t l2_len = 0;                         // all but drop
  uint16_t l3_len = 0;                         // all but drop
  std::array<uint8_t, 16> src{};               // all but drop
  // ethernet, ip
  Encap encap = Encap::vxlan;
  uint32_t vni = 0;
  uint32_t inner_offset = 0;
  uint32_t inner_len = 0;
  uint16_t inner_ethertype = 0;
  uint8_t tunnel_ip_version = 0;
  std::array<uint8_t, 16> tunnel_src{};
  std::optional<uint64_t> gwlbe_eni;
  std::optional<uint64_t> attachment_id;
  std::optional<uint32_t> flow_cookie;
  bool operator==(const Verdict&) const = default;
};

Verdict Vxlan(uint32_t vni, uint32_t inner_offset, uint32_t inner_len, uint16_t l2_len,
              uint16_t l3_len, Outer outer) {
  return {.kind = OuterKind::ethernet,
          .ip_version = outer.version,
          .l2_len = l2_len,
          .l3_len = l3_len,
          .src = outer.addr,
          .encap = Encap::vxlan,
          .vni = vni,
          .inner_offset = inner_offset,
          .inner_len = inner_len,
          .tunnel_ip_version = outer.version,
          .tunnel_src = outer.addr};
}

// GENEVE carrying an Ethernet frame (inner_ethertype 0) or an L3 packet.
Verdict Geneve(uint32_t vni, uint32_t inner_offset, uint32_t inner_len, uint16_t l2_len,
               uint16_t l3_len, Outer outer, uint16_t inner_ethertype = 0) {
  Verdict v = Vxlan(vni, inner_offset, inner_len, l2_len, l3_len, outer);
  v.encap = Encap::geneve;
  if (inner_ethertype != 0) {
    v.kind = OuterKind::ip;
    v.inner_ethertype = inner_ethertype;
  }
  return v;
}

Verdict GeneveVxlan(uint32_t vni, uint32_t inner_offset, uint32_t inner_len, uint16_t l2_len,
                    uint16_t l3_len, Outer outer, Outer nested) {
  Verdict v = Vxlan(vni, inner_offset, inner_len, l2_len, l3_len, outer);
  v.encap = Encap::geneve_vxlan;
  v.tunnel_ip_version = nested.version;
  v.tunnel_src = nested.addr;
  return v;
}

Verdict Gwlb(Verdict v, std::optional<uint64_t> eni = kGwlbeEni,
             std::optional<uint64_t> attachment = kAttachmentId,
             std::optional<uint32_t> cookie = kFlowCookie) {
  v.gwlbe_eni = eni;
  v.attachment_id = attachment;
  v.flow_cookie = cookie;
  return v;
}

Verdict Fragment(uint16_t l2_len, uint16_t l3_len) {
  return {.kind = OuterKind::ipv4_fragment,
          .ip_version = 4,
          .l2_len = l2_len,
          .l3_len = l3_len,
          .src = kV4.addr};
}

Verdict Exception(uint16_t l2_len, uint16_t l3_len, Outer outer) {
  return {.kind = OuterKind::exception,
          .ip_version = outer.version,
          .l2_len = l2_len,
          .l3_len = l3_len,
          .src = outer.addr};
}

Verdict ExceptionArp(uint16_t l2_len) { return {.kind = OuterKind::exception, .l2_len = l2_len}; }

Verdict Drop(DropReason reason) { return {.kind = OuterKind::drop, .reason = reason}; }

Verdict verdict_of(const OuterResult& r) {
  if (r.kind == OuterKind::drop) return Drop(r.reason);
  Verdict v{.kind = r.kind,
            .ip_version = r.ip_version,
            .l2_len = r.l2_len,
            .l3_len = r.l3_len,
            .src = r.src_addr};
  if (carries_inner(r.kind)) {
    v.encap = r.encap;
    v.vni = r.vni;
    v.inner_offset = r.inner_offset;
    v.inner_len = r.inner_len;
    v.inner_ethertype = r.inner_ethertype;
    v.tunnel_ip_version = r.tunnel_ip_version;
    v.tunnel_src = r.tunnel_src_addr;
    if (r.has_gwlbe_eni) v.gwlbe_eni = r.gwlbe_eni;
    if (r.has_attachment_id) v.attachment_id = r.attachment_id;
    if (r.has_flow_cookie) v.flow_cookie = r.flow_cookie;
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
  if (carries_inner(v.kind)) {
    *os << " " << encap_name(v.encap) << " vni=0x" << std::hex << v.vni << std::dec
        << " inner_offset=" << v.inner_offset << " inner_len=" << v.inner_len;
    if (v.kind == OuterKind::ip)
      *os << " inner_ethertype=0x" << std::hex << v.inner_ethertype << std::dec;
    *os << " tunnel=ipv" << int{v.tunnel_ip_version} << " "
        << hex(v.tunnel_src.data(), v.tunnel_src.size());
    if (v.gwlbe_eni) *os << " eni=0x" << std::hex << *v.gwlbe_eni << std::dec;
    if (v.attachment_id) *os << " attachment=0x" << std::hex << *v.attachment_id << std::dec;
    if (v.flow_cookie) *os << " cookie=0x" << std::hex << *v.flow_cookie << std::dec;
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

ParseConfig geneve_ports(std::initializer_list<uint16_t> list) {
  ParseConfig c;
  c.geneve_ports = {};
  c.geneve_port_count = 0;
  for (uint16_t p : list) c.geneve_ports[c.geneve_port_count++] = p;
  return c;
}

constexpr uint16_t kHealthPort = 9469;

// The exception path on, the health port as the one exception TCP port.
ParseConfig exception_config() {
  ParseConfig c;
  c.exception_path = true;
  c.exception_tcp_ports = {kHealthPort};
  c.exception_tcp_port_count = 1;
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
constexpr uint32_t kVni = 0x123456;        // FrameSpec default (also the GENEVE VNI)
constexpr uint32_t kNestedVni = 0x654321;  // FrameSpec default nested VXLAN VNI
constexpr uint32_t kInner = 64;            // FrameSpec default inner frame length
constexpr auto kNotVxlan = DropReason::not_vxlan;
constexpr auto kBadHeader = DropReason::bad_header;
constexpr auto kFragmentDrop = DropReason::fragment;
constexpr auto kUnsupported = DropReason::unsupported_payload;
constexpr uint16_t kIpv4 = 0x0800;
constexpr uint16_t kIpv6 = 0x86dd;

// Offsets are written as sums: Ethernet [+ tags] + IP header + UDP 8 + VXLAN 8.
std::vector<Case> vxlan_table() {
  const ParseConfig two_ports = ports({4789, 8472});
  const ParseConfig no_geneve = geneve_ports({});
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
      {.what = "UDP to 6081 with no GENEVE port configured",
       .spec = {.udp_dst = 6081},
       .config = no_geneve,
       .want = Drop(kNotVxlan)},
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

// GENEVE. Offsets as sums: Ethernet + outer IP + UDP 8 + GENEVE 8 + options
// [+ nested IP + UDP 8 + VXLAN 8]. The AWS GWLB options are 32 bytes:
// (4 + 8) ENI id, (4 + 8) attachment id, (4 + 4) flow cookie.
constexpr uint32_t kGwlb = 32;

std::vector<uint8_t> zeros(size_t n) { return std::vector<uint8_t>(n, 0); }

FrameSpec gwlb_mirror(FrameSpec spec = {}) {  // GENEVE GWLB options / IPv4 / UDP / VXLAN
  spec.geneve_options = gwlb_options();
  spec.nested = spec.nested == Nested::none ? Nested::ipv4 : spec.nested;
  spec.nested_vxlan = true;
  return geneve(spec);
}

std::vector<Case> geneve_table() {
  const ParseConfig two_ports = ports({4789, 8472});
  std::vector<Case> t = {
      // Inner Ethernet (protocol 0x6558)
      {.what = "GENEVE Ethernet over IPv4",
       .spec = geneve(),
       .want = Geneve(kVni, 14 + 20 + 16, kInner, 14, 20, kV4)},
      {.what = "GENEVE Ethernet over IPv6",
       .spec = geneve({.l3 = L3::ipv6}),
       .want = Geneve(kVni, 14 + 40 + 16, kInner, 14, 40, kV6)},
      {.what = "GENEVE Ethernet with the AWS GWLB options",
       .spec = geneve({.geneve_options = gwlb_options()}),
       .want = Gwlb(Geneve(kVni, 14 + 20 + 16 + kGwlb, kInner, 14, 20, kV4))},
      {.what = "GENEVE Ethernet over IPv4 with options and 802.1Q",
       .spec =
           geneve({.tags = {kTpidDot1q}, .ipv4_option_words = 2, .geneve_options = gwlb_options()}),
       .want = Gwlb(Geneve(kVni, 18 + 28 + 16 + kGwlb, kInner, 18, 28, kV4))},
      {.what = "GENEVE Ethernet frame of exactly 14 bytes",
       .spec = geneve({.inner_len = 14}),
       .want = Geneve(kVni, 14 + 20 + 16, 14, 14, 20, kV4)},
      {.what = "GENEVE Ethernet frame of 13 bytes",
       .spec = geneve({.inner_len = 13}),
       .want = Drop(kBadHeader)},
      {.what = "GENEVE Ethernet padding after the datagram",
       .spec = geneve({.padding = 10}),
       .want = Geneve(kVni, 14 + 20 + 16, kInner, 14, 20, kV4)},
      {.what = "GENEVE VNI 0",
       .spec = geneve({.vni = 0}),
       .want = Geneve(0, 50, kInner, 14, 20, kV4)},
      {.what = "GENEVE VNI 0xFFFFFF",
       .spec = geneve({.vni = 0xffffff}),
       .want = Geneve(0xffffff, 50, kInner, 14, 20, kV4)},
      {.what = "GENEVE reserved bits set are ignored",
       .spec = geneve(),
       .poke =
           [](Frame& f) {
             f.bytes[f.tunnel_offset + 1] |= 0x3f;
             f.bytes[f.tunnel_offset + 7] = 0xff;
           },
       .want = Geneve(kVni, 50, kInner, 14, 20, kV4)},

      // GWLB mirror: GENEVE -> IPv4|IPv6 -> UDP -> VXLAN -> Ethernet
      {.what = "GWLB GENEVE options, nested IPv4 UDP VXLAN",
       .spec = gwlb_mirror(),
       .want = Gwlb(
           GeneveVxlan(kNestedVni, 14 + 20 + 16 + kGwlb + 20 + 16, kInner, 14, 20, kV4, kNested4))},
      {.what = "GENEVE without options, nested IPv4 VXLAN",
       .spec = geneve({.nested = Nested::ipv4, .nested_vxlan = true}),
       .want = GeneveVxlan(kNestedVni, 14 + 20 + 16 + 20 + 16, kInner, 14, 20, kV4, kNested4)},
      {.what = "GWLB nested IPv6 VXLAN",
       .spec = gwlb_mirror({.nested = Nested::ipv6}),
       .want = Gwlb(
           GeneveVxlan(kNestedVni, 14 + 20 + 16 + kGwlb + 40 + 16, kInner, 14, 20, kV4, kNested6))},
      {.what = "GWLB over outer IPv6, nested IPv4 VXLAN",
       .spec = gwlb_mirror({.l3 = L3::ipv6}),
       .want = Gwlb(
           GeneveVxlan(kNestedVni, 14 + 40 + 16 + kGwlb + 20 + 16, kInner, 14, 40, kV6, kNested4))},
      {.what = "QinQ IPv6 hop-by-hop, GENEVE, nested IPv6 destination options VXLAN",
       .spec = geneve({.tags = {kTpidDot1ad, kTpidDot1q},
                       .l3 = L3::ipv6,
                       .ipv6_ext = {kHbh},
                       .nested = Nested::ipv6,
                       .nested_vxlan = true,
                       .nested_ipv6_ext = {kDst}}),
       .want = GeneveVxlan(kNestedVni, 22 + 48 + 16 + 48 + 16, kInner, 22, 48, kV6, kNested6)},
      {.what = "GWLB nested VXLAN in an 802.1Q tag with Ethernet padding",
       .spec = gwlb_mirror({.tags = {kTpidDot1q}, .padding = 7}),
       .want = Gwlb(
           GeneveVxlan(kNestedVni, 18 + 20 + 16 + kGwlb + 20 + 16, kInner, 18, 20, kV4, kNested4))},
      {.what = "nested VXLAN to the extra configured port 8472",
       .spec = gwlb_mirror({.nested_udp_dst = 8472}),
       .config = two_ports,
       .want = Gwlb(
           GeneveVxlan(kNestedVni, 14 + 20 + 16 + kGwlb + 20 + 16, kInner, 14, 20, kV4, kNested4))},
      {.what = "nested VXLAN VNI 0",
       .spec = gwlb_mirror({.nested_vni = 0}),
       .want = Gwlb(GeneveVxlan(0, 118, kInner, 14, 20, kV4, kNested4))},
      {.what = "nested VXLAN inner frame of exactly 14 bytes",
       .spec = gwlb_mirror({.inner_len = 14}),
       .want = Gwlb(GeneveVxlan(kNestedVni, 118, 14, 14, 20, kV4, kNested4))},
      {.what = "nested VXLAN jumbo inner frame",
       .spec = gwlb_mirror({.inner_len = 9000}),
       .want = Gwlb(GeneveVxlan(kNestedVni, 118, 9000, 14, 20, kV4, kNested4))},

      // Inner L3 packet (protocol 0x0800 / 0x86DD), not VXLAN
      {.what = "GENEVE IPv4 packet",
       .spec = geneve({.nested = Nested::ipv4}),
       .want = Geneve(kVni, 14 + 20 + 16, kInner, 14, 20, kV4, kIpv4)},
      {.what = "GENEVE IPv6 packet",
       .spec = geneve({.inner_len = 80, .nested = Nested::ipv6}),
       .want = Geneve(kVni, 14 + 20 + 16, 80, 14, 20, kV4, kIpv6)},
      {.what = "GWLB tenant IPv4 packet with the GWLB options",
       .spec = geneve({.geneve_options = gwlb_options(), .nested = Nested::ipv4}),
       .want = Gwlb(Geneve(kVni, 14 + 20 + 16 + kGwlb, kInner, 14, 20, kV4, kIpv4))},
      {.what = "GENEVE IPv6 packet over outer IPv6 with options",
       .spec = geneve({.l3 = L3::ipv6,
                       .inner_len = 80,
                       .geneve_options = gwlb_options(),
                       .nested = Nested::ipv6}),
       .want = Gwlb(Geneve(kVni, 14 + 40 + 16 + kGwlb, 80, 14, 40, kV6, kIpv6))},
      {.what = "GENEVE IPv4 packet of exactly 20 bytes",
       .spec = geneve({.inner_len = 20, .nested = Nested::ipv4}),
       .want = Geneve(kVni, 50, 20, 14, 20, kV4, kIpv4)},
      {.what = "GENEVE IPv4 packet of 19 bytes",
       .spec = geneve({.inner_len = 19, .nested = Nested::ipv4}),
       .want = Drop(kBadHeader)},
      {.what = "GENEVE IPv6 packet of exactly 40 bytes",
       .spec = geneve({.inner_len = 40, .nested = Nested::ipv6}),
       .want = Geneve(kVni, 50, 40, 14, 20, kV4, kIpv6)},
      {.what = "GENEVE IPv6 packet of 39 bytes",
       .spec = geneve({.inner_len = 39, .nested = Nested::ipv6}),
       .want = Drop(kBadHeader)},
      {.what = "nested IPv4 fragment of UDP to 4789 stays an IP packet",
       .spec = gwlb_mirror({.nested_ipv4_frag = 0x2000}),
       .want = Gwlb(Geneve(kVni, 82, 20 + 16 + kInner, 14, 20, kV4, kIpv4))},
      {.what = "nested IPv6 fragment header stays an IP packet",
       .spec = gwlb_mirror({.nested = Nested::ipv6, .nested_ipv6_ext = {kFrag}}),
       .want = Gwlb(Geneve(kVni, 82, 48 + 16 + kInner, 14, 20, kV4, kIpv6))},
      {.what = "nested UDP to port 53 stays an IP packet",
       .spec = gwlb_mirror({.nested_udp_dst = 53}),
       .want = Gwlb(Geneve(kVni, 82, 20 + 16 + kInner, 14, 20, kV4, kIpv4))},
      {.what = "nested UDP to 8472 unless configured",
       .spec = gwlb_mirror({.nested_udp_dst = 8472}),
       .want = Gwlb(Geneve(kVni, 82, 20 + 16 + kInner, 14, 20, kV4, kIpv4))},
      {.what = "nested VXLAN I flag clear stays an IP packet",
       .spec = gwlb_mirror({.nested_vxlan_flags = 0}),
       .want = Gwlb(Geneve(kVni, 82, 20 + 16 + kInner, 14, 20, kV4, kIpv4))},
      {.what = "nested VXLAN with a 13-byte inner frame stays an IP packet",
       .spec = gwlb_mirror({.inner_len = 13}),
       .want = Gwlb(Geneve(kVni, 82, 20 + 16 + 13, 14, 20, kV4, kIpv4))},
      {.what = "nested IPv4 total length past the GENEVE payload",
       .spec = gwlb_mirror(),
       .poke = [](Frame& f) { add_be16(f.bytes, f.geneve_payload + 2, 1); },
       .want = Gwlb(Geneve(kVni, 82, 20 + 16 + kInner, 14, 20, kV4, kIpv4))},
      {.what = "nested IPv4 IHL 4",
       .spec = gwlb_mirror(),
       .poke = [](Frame& f) { f.bytes[f.geneve_payload] = 0x44; },
       .want = Gwlb(Geneve(kVni, 82, 20 + 16 + kInner, 14, 20, kV4, kIpv4))},
      {.what = "nested IPv6 payload length 0",
       .spec = gwlb_mirror({.nested = Nested::ipv6}),
       .poke = [](Frame& f) { put_be16(f.bytes, f.geneve_payload + 4, 0); },
       .want = Gwlb(Geneve(kVni, 82, 40 + 16 + kInner, 14, 20, kV4, kIpv6))},
      {.what = "nested UDP length past the nested IP datagram",
       .spec = gwlb_mirror(),
       .poke = [](Frame& f) { add_be16(f.bytes, f.nested_l4_offset + 4, 1); },
       .want = Gwlb(Geneve(kVni, 82, 20 + 16 + kInner, 14, 20, kV4, kIpv4))},
      {.what = "nested UDP length 15",
       .spec = gwlb_mirror(),
       .poke = [](Frame& f) { put_be16(f.bytes, f.nested_l4_offset + 4, 15); },
       .want = Gwlb(Geneve(kVni, 82, 20 + 16 + kInner, 14, 20, kV4, kIpv4))},
      {.what = "nested UDP length shorter than the nested datagram ends the inner frame",
       .spec = gwlb_mirror(),
       .poke = [](Frame& f) { put_be16(f.bytes, f.nested_l4_offset + 4, 16 + 20); },
       .want = Gwlb(GeneveVxlan(kNestedVni, 118, 20, 14, 20, kV4, kNested4))},
      {.what = "GENEVE protocol IPv4 carrying an IPv6 header",
       .spec = gwlb_mirror(),
       .poke = [](Frame& f) { f.bytes[f.geneve_payload] = 0x60; },
       .want = Gwlb(Geneve(kVni, 82, 20 + 16 + kInner, 14, 20, kV4, kIpv4))},
      {.what = "GENEVE protocol IPv6 carrying an IPv4 VXLAN packet",
       .spec = gwlb_mirror({.geneve_protocol = kIpv6}),
       .want = Gwlb(Geneve(kVni, 82, 20 + 16 + kInner, 14, 20, kV4, kIpv6))},

      // Options
      {.what = "unknown option classes and a critical option are skipped",
       .spec = geneve({.geneve_options = {{0x0102, 0x80, zeros(4)},
                                          {0xffff, 0x01, {}},
                                          {0x0000, 0x7f, zeros(8)}}}),
       .want = Geneve(kVni, 50 + 8 + 4 + 12, kInner, 14, 20, kV4)},
      {.what = "C flag and a critical option: recorded all the same",
       .spec = geneve({.geneve_critical = true, .geneve_options = {{0x0000, 0x80, zeros(4)}}}),
       .want = Geneve(kVni, 50 + 8, kInner, 14, 20, kV4)},
      {.what = "AWS class, unknown type 4 of 12 bytes, then the GWLB options",
       .spec =
           [] {
             FrameSpec s = geneve({.geneve_options = {{0x0108, 4, zeros(12)}}});
             for (const GeneveOption& o : gwlb_options()) s.geneve_options.push_back(o);
             return s;
           }(),
       .want = Gwlb(Geneve(kVni, 50 + 16 + kGwlb, kInner, 14, 20, kV4))},
      {.what = "AWS class, type 0x81 (critical bit) is not the ENI id",
       .spec = geneve({.geneve_options = {{0x0108, 0x81, be_bytes(kGwlbeEni, 8)}}}),
       .want = Geneve(kVni, 50 + 12, kInner, 14, 20, kV4)},
      {.what = "AWS options in another order, flow cookie twice: the last counts",
       .spec = geneve({.geneve_options = {{0x0108, 3, be_bytes(0x11111111, 4)},
                                          {0x0108, 1, be_bytes(kGwlbeEni, 8)},
                                          {0x0108, 3, be_bytes(kFlowCookie, 4)},
                                          {0x0108, 2, be_bytes(kAttachmentId, 8)}}}),
       .want = Gwlb(Geneve(kVni, 50 + 8 + 12 + 8 + 12, kInner, 14, 20, kV4))},
      {.what = "only the flow cookie",
       .spec = geneve({.geneve_options = {{0x0108, 3, be_bytes(kFlowCookie, 4)}}}),
       .want = Gwlb(Geneve(kVni, 50 + 8, kInner, 14, 20, kV4), std::nullopt, std::nullopt)},
      {.what = "GWLB option values zero and all ones",
       .spec = geneve({.geneve_options = gwlb_options(0, UINT64_MAX, 0)}),
       .want = Gwlb(Geneve(kVni, 50 + kGwlb, kInner, 14, 20, kV4), 0, UINT64_MAX, 0)},
      {.what = "Opt Len 63 words in two options",
       .spec = geneve({.geneve_options = {{0x0101, 1, zeros(124)}, {0x0101, 2, zeros(120)}}}),
       .want = Geneve(kVni, 50 + 252, kInner, 14, 20, kV4)},
      {.what = "option R bits set are ignored",
       .spec = geneve({.geneve_options = gwlb_options()}),
       .poke = [](Frame& f) { f.bytes[f.tunnel_offset + 8 + 3] |= 0xe0; },
       .want = Gwlb(Geneve(kVni, 50 + kGwlb, kInner, 14, 20, kV4))},
      {.what = "Opt Len one word short of the options",
       .spec = geneve({.geneve_options = gwlb_options()}),
       .poke = [](Frame& f) { f.bytes[f.tunnel_offset] = kGwlb / 4 - 1; },
       .want = Drop(kBadHeader)},
      {.what = "Opt Len past the UDP datagram",
       .spec = geneve({.inner_len = 20}),
       .poke = [](Frame& f) { f.bytes[f.tunnel_offset] = 0x3f; },
       .want = Drop(kBadHeader)},
      {.what = "Opt Len to the end of the UDP datagram, no payload",
       .spec = geneve({.inner_len = 16}),
       .poke = [](Frame& f) { f.bytes[f.tunnel_offset] = 4; },
       .want = Drop(kBadHeader)},
      {.what = "option length overruns Opt Len by one word",
       .spec = geneve({.geneve_options = {{0x0101, 1, zeros(8)}}}),
       .poke = [](Frame& f) { f.bytes[f.tunnel_offset + 8 + 3] = 3; },
       .want = Drop(kBadHeader)},
      {.what = "option length 31 overruns Opt Len",
       .spec = geneve({.geneve_options = {{0x0101, 1, zeros(8)}, {0x0101, 2, zeros(8)}}}),
       .poke = [](Frame& f) { f.bytes[f.tunnel_offset + 8 + 3] = 31; },
       .want = Drop(kBadHeader)},
      {.what = "AWS ENI id of 4 bytes",
       .spec = geneve({.geneve_options = {{0x0108, 1, zeros(4)}}}),
       .want = Drop(kBadHeader)},
      {.what = "AWS ENI id of 12 bytes",
       .spec = geneve({.geneve_options = {{0x0108, 1, zeros(12)}}}),
       .want = Drop(kBadHeader)},
      {.what = "AWS attachment id of 4 bytes",
       .spec = geneve({.geneve_options = {{0x0108, 2, zeros(4)}}}),
       .want = Drop(kBadHeader)},
      {.what = "AWS attachment id of 0 bytes",
       .spec = geneve({.geneve_options = {{0x0108, 2, {}}}}),
       .want = Drop(kBadHeader)},
      {.what = "AWS flow cookie of 8 bytes",
       .spec = geneve({.geneve_options = {{0x0108, 3, zeros(8)}}}),
       .want = Drop(kBadHeader)},
      {.what = "AWS flow cookie of 0 bytes",
       .spec = geneve({.geneve_options = {{0x0108, 3, {}}}}),
       .want = Drop(kBadHeader)},
      {.what = "AWS flow cookie of 8 bytes after valid options, nested VXLAN",
       .spec =
           [] {
             FrameSpec s = gwlb_mirror();
             s.geneve_options.push_back({0x0108, 3, zeros(8)});
             return s;
           }(),
       .want = Drop(kBadHeader)},

      // Header
      {.what = "GENEVE version 1", .spec = geneve({.geneve_version = 1}), .want = Drop(kBadHeader)},
      {.what = "GENEVE version 3", .spec = geneve({.geneve_version = 3}), .want = Drop(kBadHeader)},
      {.what = "GENEVE version 2 with the O bit",
       .spec = geneve({.geneve_version = 2, .geneve_oam = true}),
       .want = Drop(kBadHeader)},
      {.what = "O bit: a control message",
       .spec = geneve({.geneve_oam = true}),
       .want = Drop(kUnsupported)},
      {.what = "O bit with the GWLB options and nested VXLAN",
       .spec = gwlb_mirror({.geneve_oam = true}),
       .want = Drop(kUnsupported)},
      {.what = "O bit with an overrunning option",
       .spec = geneve({.geneve_oam = true, .geneve_options = {{0x0101, 1, zeros(8)}}}),
       .poke = [](Frame& f) { f.bytes[f.tunnel_offset + 8 + 3] = 3; },
       .want = Drop(kBadHeader)},
      {.what = "protocol 0x0806 ARP",
       .spec = geneve({.geneve_protocol = kEtherTypeArp}),
       .want = Drop(kUnsupported)},
      {.what = "protocol 0x8847 MPLS",
       .spec = geneve({.geneve_protocol = 0x8847}),
       .want = Drop(kUnsupported)},
      {.what = "protocol 0", .spec = geneve({.geneve_protocol = 0}), .want = Drop(kUnsupported)},
      {.what = "GENEVE UDP length 15",
       .spec = geneve(),
       .poke = [](Frame& f) { put_be16(f.bytes, f.l4_offset + 4, 15); },
       .want = Drop(kBadHeader)},
      {.what = "GENEVE UDP length 16, header without payload",
       .spec = geneve(),
       .poke = [](Frame& f) { put_be16(f.bytes, f.l4_offset + 4, 16); },
       .want = Drop(kBadHeader)},
      {.what = "GENEVE IPv4 protocol, UDP length 16",
       .spec = geneve({.nested = Nested::ipv4}),
       .poke = [](Frame& f) { put_be16(f.bytes, f.l4_offset + 4, 16); },
       .want = Drop(kBadHeader)},
      {.what = "GENEVE UDP length one larger than the IP payload",
       .spec = geneve({.l3 = L3::ipv6}),
       .poke = [](Frame& f) { add_be16(f.bytes, f.l4_offset + 4, 1); },
       .want = Drop(kBadHeader)},
      {.what = "GENEVE frame cut inside the options",
       .spec = geneve({.geneve_options = gwlb_options()}),
       .poke = [](Frame& f) { f.bytes.resize(f.tunnel_offset + 20); },
       .want = Drop(kBadHeader)},

      // Ports
      {.what = "GENEVE on a second configured port 6082",
       .spec = geneve({.udp_dst = 6082}),
       .config = geneve_ports({6081, 6082}),
       .want = Geneve(kVni, 50, kInner, 14, 20, kV4)},
      {.what = "GENEVE ports past geneve_port_count are ignored",
       .spec = geneve({.udp_dst = 6082}),
       .config = ParseConfig{.geneve_ports = {6081, 6082}, .geneve_port_count = 1},
       .want = Drop(kNotVxlan)},
      {.what = "a port in both lists is VXLAN",
       .config = geneve_ports({4789}),
       .want = Vxlan(kVni, 50, kInner, 14, 20, kV4)},
      {.what = "GENEVE to 4789 is read as VXLAN: I flag clear",
       .spec = geneve({.udp_dst = 4790}),
       .poke = [](Frame& f) { put_be16(f.bytes, f.l4_offset + 2, 4789); },
       .want = Drop(kBadHeader)},

      // Multi-segment frames: only the first `contiguous` bytes are readable
      {.what = "GENEVE options, first segment ends where the payload starts",
       .spec = geneve({.geneve_options = gwlb_options()}),
       .contiguous = 14 + 20 + 16 + kGwlb,
       .want = Gwlb(Geneve(kVni, 14 + 20 + 16 + kGwlb, kInner, 14, 20, kV4))},
      {.what = "GENEVE options, first segment ends inside the options",
       .spec = geneve({.geneve_options = gwlb_options()}),
       .contiguous = 14 + 20 + 16 + kGwlb - 1,
       .want = Drop(kBadHeader)},
      {.what = "GWLB nested VXLAN, first segment ends where the inner frame starts",
       .spec = gwlb_mirror(),
       .contiguous = 118,
       .want = Gwlb(GeneveVxlan(kNestedVni, 118, kInner, 14, 20, kV4, kNested4))},
      {.what = "GWLB nested VXLAN, first segment ends one byte before the inner frame",
       .spec = gwlb_mirror(),
       .contiguous = 117,
       .want = Drop(kBadHeader)},
      {.what = "GWLB nested VXLAN, first segment ends inside the nested IPv4 header",
       .spec = gwlb_mirror(),
       .contiguous = 82 + 10,
       .want = Drop(kBadHeader)},
      {.what = "GENEVE IPv4 packet, first segment ends at the GENEVE payload",
       .spec = geneve({.nested = Nested::ipv4}),
       .contiguous = 50,
       .want = Drop(kBadHeader)},
      {.what = "GENEVE IPv4 TCP packet, first segment ends after its IP header",
       .spec = geneve({.nested = Nested::ipv4}),
       .contiguous = 50 + 20,
       .want = Geneve(kVni, 50, kInner, 14, 20, kV4, kIpv4)},
      {.what = "GENEVE IPv4 TCP packet, first segment ends inside its IP header",
       .spec = geneve({.nested = Nested::ipv4}),
       .contiguous = 50 + 19,
       .want = Drop(kBadHeader)},
      {.what = "nested UDP to port 53, first segment ends after the nested UDP header",
       .spec = gwlb_mirror({.nested_udp_dst = 53}),
       .contiguous = 82 + 28,
       .want = Gwlb(Geneve(kVni, 82, 20 + 16 + kInner, 14, 20, kV4, kIpv4))},
      {.what = "nested UDP to port 53, first segment ends inside the nested UDP header",
       .spec = gwlb_mirror({.nested_udp_dst = 53}),
       .contiguous = 82 + 27,
       .want = Drop(kBadHeader)},
      {.what = "nested VXLAN I flag clear, first segment ends after the nested VXLAN header",
       .spec = gwlb_mirror({.nested_vxlan_flags = 0}),
       .contiguous = 118,
       .want = Gwlb(Geneve(kVni, 82, 20 + 16 + kInner, 14, 20, kV4, kIpv4))},
      {.what = "nested VXLAN I flag clear, first segment ends inside the nested VXLAN header",
       .spec = gwlb_mirror({.nested_vxlan_flags = 0}),
       .contiguous = 117,
       .want = Drop(kBadHeader)},
      {.what = "nested IPv4 fragment, first segment ends after the nested IP header",
       .spec = gwlb_mirror({.nested_ipv4_frag = 0x2000}),
       .contiguous = 82 + 20,
       .want = Gwlb(Geneve(kVni, 82, 20 + 16 + kInner, 14, 20, kV4, kIpv4))},
      {.what = "nested IPv6 with destination options, first segment ends inside them",
       .spec = gwlb_mirror({.nested = Nested::ipv6, .nested_ipv6_ext = {kDst}}),
       .contiguous = 82 + 40 + 7,
       .want = Drop(kBadHeader)},
  };
  return t;
}

// The exception path. Offsets: Ethernet [+ tags] + IP header.
std::vector<Case> exception_table() {
  const ParseConfig on = exception_config();
  ParseConfig no_ports = on;
  no_ports.exception_tcp_port_count = 0;
  ParseConfig off = on;
  off.exception_path = false;
  ParseConfig two = on;
  two.exception_tcp_ports = {kHealthPort, 22, 443};
  two.exception_tcp_port_count = 2;
  constexpr uint8_t kTcp = kIpProtoTcp;
  std::vector<Case> t = {
      {.what = "ARP", .spec = {.l3 = L3::arp}, .config = on, .want = ExceptionArp(14)},
      {.what = "ARP in 802.1Q",
       .spec = {.tags = {kTpidDot1q}, .l3 = L3::arp},
       .config = on,
       .want = ExceptionArp(18)},
      {.what = "ARP in QinQ",
       .spec = {.tags = {kTpidDot1ad, kTpidDot1q}, .l3 = L3::arp},
       .config = on,
       .want = ExceptionArp(22)},
      {.what = "ARP in three VLAN tags",
       .spec = {.tags = {kTpidDot1ad, kTpidDot1q, kTpidDot1q}, .l3 = L3::arp},
       .config = on,
       .want = Drop(kNotVxlan)},
      {.what = "ARP of 4 bytes goes to the kernel all the same",
       .spec = {.l3 = L3::arp},
       .poke = [](Frame& f) { f.bytes.resize(14 + 4); },
       .config = on,
       .want = ExceptionArp(14)},
      {.what = "ARP of 0 bytes",
       .spec = {.l3 = L3::arp},
       .poke = [](Frame& f) { f.bytes.resize(14); },
       .config = on,
       .want = ExceptionArp(14)},
      {.what = "ARP with the exception path off",
       .spec = {.l3 = L3::arp},
       .config = off,
       .want = Drop(kNotVxlan)},
      {.what = "other ethertype",
       .spec = {.l3 = L3::arp},
       .poke = [](Frame& f) { put_be16(f.bytes, 12, 0x88cc); },
       .config = on,
       .want = Drop(kNotVxlan)},

      {.what = "ICMP echo",
       .spec = {.l4 = kIpProtoIcmp},
       .config = on,
       .want = Exception(14, 20, kV4)},
      {.what = "ICMP with IPv4 options in 802.1Q",
       .spec = {.tags = {kTpidDot1q}, .ipv4_option_words = 2, .l4 = kIpProtoIcmp},
       .config = on,
       .want = Exception(18, 28, kV4)},
      {.what = "ICMP with the exception path off",
       .spec = {.l4 = kIpProtoIcmp},
       .config = off,
       .want = Drop(kNotVxlan)},
      {.what = "ICMP total length past the frame",
       .spec = {.l4 = kIpProtoIcmp},
       .poke = [](Frame& f) { add_be16(f.bytes, f.l2_len + 2, 1); },
       .config = on,
       .want = Drop(kBadHeader)},
      {.what = "ICMP fragment is not for the exception path",
       .spec = {.ipv4_frag = 0x2000, .l4 = kIpProtoIcmp},
       .config = on,
       .want = Drop(kNotVxlan)},
      {.what = "ICMP, first segment ends after the IP header",
       .spec = {.l4 = kIpProtoIcmp},
       .contiguous = 14 + 20,
       .config = on,
       .want = Exception(14, 20, kV4)},
      {.what = "ICMP, first segment ends inside the IP header",
       .spec = {.ipv4_option_words = 1, .l4 = kIpProtoIcmp},
       .contiguous = 14 + 23,
       .config = on,
       .want = Drop(kBadHeader)},
      {.what = "ICMPv6",
       .spec = {.l3 = L3::ipv6, .l4 = kIpProtoIcmpv6},
       .config = on,
       .want = Exception(14, 40, kV6)},
      {.what = "ICMPv6 after hop-by-hop (MLD)",
       .spec = {.l3 = L3::ipv6, .ipv6_ext = {kHbh}, .l4 = kIpProtoIcmpv6},
       .config = on,
       .want = Exception(14, 48, kV6)},
      {.what = "ICMPv6 after three extension headers in QinQ",
       .spec = {.tags = {kTpidDot1ad, kTpidDot1q},
                .l3 = L3::ipv6,
                .ipv6_ext = {kHbh, kRt, kDst},
                .ipv6_ext_units = 1,
                .l4 = kIpProtoIcmpv6},
       .config = on,
       .want = Exception(22, 88, kV6)},
      {.what = "ICMPv6 in an IPv6 fragment",
       .spec = {.l3 = L3::ipv6, .ipv6_ext = {kFrag}, .l4 = kIpProtoIcmpv6},
       .config = on,
       .want = Drop(kFragmentDrop)},
      {.what = "ICMPv6, first segment ends inside the hop-by-hop header",
       .spec = {.l3 = L3::ipv6, .ipv6_ext = {kHbh}, .ipv6_ext_units = 1, .l4 = kIpProtoIcmpv6},
       .contiguous = 14 + 40 + 15,
       .config = on,
       .want = Drop(kBadHeader)},
      {.what = "ICMPv6 number in IPv4",
       .spec = {.l4 = kIpProtoIcmpv6},
       .config = on,
       .want = Drop(kNotVxlan)},
      {.what = "ICMP number in IPv6",
       .spec = {.l3 = L3::ipv6, .l4 = kIpProtoIcmp},
       .config = on,
       .want = Drop(kNotVxlan)},

      {.what = "TCP to the health port",
       .spec = {.l4 = kTcp, .udp_dst = kHealthPort},
       .config = on,
       .want = Exception(14, 20, kV4)},
      {.what = "IPv6 TCP to the health port",
       .spec = {.l3 = L3::ipv6, .l4 = kTcp, .udp_dst = kHealthPort},
       .config = on,
       .want = Exception(14, 40, kV6)},
      {.what = "IPv6 TCP to the health port after destination options",
       .spec = {.l3 = L3::ipv6, .ipv6_ext = {kDst}, .l4 = kTcp, .udp_dst = kHealthPort},
       .config = on,
       .want = Exception(14, 48, kV6)},
      {.what = "TCP to the second exception port",
       .spec = {.l4 = kTcp, .udp_dst = 22},
       .config = two,
       .want = Exception(14, 20, kV4)},
      {.what = "exception ports past exception_tcp_port_count are ignored",
       .spec = {.l4 = kTcp, .udp_dst = 443},
       .config = two,
       .want = Drop(kNotVxlan)},
      {.what = "TCP to port 80",
       .spec = {.l4 = kTcp, .udp_dst = 80},
       .config = on,
       .want = Drop(kNotVxlan)},
      {.what = "TCP to the health port, no exception ports",
       .spec = {.l4 = kTcp, .udp_dst = kHealthPort},
       .config = no_ports,
       .want = Drop(kNotVxlan)},
      {.what = "TCP to the health port, exception path off",
       .spec = {.l4 = kTcp, .udp_dst = kHealthPort},
       .config = off,
       .want = Drop(kNotVxlan)},
      {.what = "UDP to the health port",
       .spec = {.udp_dst = kHealthPort},
       .config = on,
       .want = Drop(kNotVxlan)},
      {.what = "TCP fragment to the health port",
       .spec = {.ipv4_frag = 0x2000, .l4 = kTcp, .udp_dst = kHealthPort},
       .config = on,
       .want = Drop(kNotVxlan)},
      {.what = "TCP to the health port, datagram ends before the ports",
       .spec = {.l4 = kTcp, .udp_dst = kHealthPort},
       .poke = [](Frame& f) { put_be16(f.bytes, f.l2_len + 2, 20 + 3); },
       .config = on,
       .want = Drop(kBadHeader)},
      {.what = "TCP to port 80, datagram ends before the ports",
       .spec = {.l4 = kTcp, .udp_dst = 80},
       .poke = [](Frame& f) { put_be16(f.bytes, f.l2_len + 2, 20 + 3); },
       .config = on,
       .want = Drop(kBadHeader)},
      {.what = "TCP to port 80, datagram ends before the ports, no exception ports",
       .spec = {.l4 = kTcp, .udp_dst = 80},
       .poke = [](Frame& f) { put_be16(f.bytes, f.l2_len + 2, 20 + 3); },
       .config = no_ports,
       .want = Drop(kNotVxlan)},
      {.what = "TCP to the health port, first segment ends after the ports",
       .spec = {.l4 = kTcp, .udp_dst = kHealthPort},
       .contiguous = 14 + 20 + 4,
       .config = on,
       .want = Exception(14, 20, kV4)},
      {.what = "TCP to the health port, first segment ends inside the ports",
       .spec = {.l4 = kTcp, .udp_dst = kHealthPort},
       .contiguous = 14 + 20 + 3,
       .config = on,
       .want = Drop(kBadHeader)},

      {.what = "VXLAN with the exception path on",
       .config = on,
       .want = Vxlan(kVni, 50, kInner, 14, 20, kV4)},
      {.what = "GWLB nested VXLAN with the exception path on",
       .spec = gwlb_mirror(),
       .config = on,
       .want = Gwlb(GeneveVxlan(kNestedVni, 118, kInner, 14, 20, kV4, kNested4))},
      {.what = "UDP to port 53 with the exception path on",
       .spec = {.udp_dst = 53},
       .config = on,
       .want = Drop(kNotVxlan)},
      {.what = "UDP fragment with the exception path on",
       .spec = {.ipv4_frag = 0x2000},
       .config = on,
       .want = Fragment(14, 20)},
      {.what = "IPv6 no next header with the exception path on",
       .spec = {.l3 = L3::ipv6, .ipv6_ext = {kHbh}},
       .poke = [](Frame& f) { f.bytes[f.l2_len + 40] = kIpv6NoNext; },
       .config = on,
       .want = Drop(kNotVxlan)},
  };
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

INSTANTIATE_TEST_SUITE_P(Vxlan, OuterParseTable, ::testing::ValuesIn(vxlan_table()),
                         test_name<Case>);
INSTANTIATE_TEST_SUITE_P(Geneve, OuterParseTable, ::testing::ValuesIn(geneve_table()),
                         test_name<Case>);
INSTANTIATE_TEST_SUITE_P(Exception, OuterParseTable, ::testing::ValuesIn(exception_table()),
                         test_name<Case>);

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
  const Frame gwlb = build_frame(gwlb_mirror());
  EXPECT_EQ(gwlb.tunnel_offset, 14u + 20u + 8u);
  EXPECT_EQ(gwlb.geneve_payload, 14u + 20u + 16u + kGwlb);
  EXPECT_EQ(gwlb.nested_l4_offset, 14u + 20u + 16u + kGwlb + 20u);
  EXPECT_EQ(gwlb.inner_offset, 118u);
  EXPECT_EQ(gwlb.inner_len, 64u);
  EXPECT_EQ(gwlb.bytes.size(), 118u + 64u);
  EXPECT_EQ(gwlb.bytes[gwlb.tunnel_offset], kGwlb / 4);  // Opt Len
  const Frame l3 = build_frame(geneve({.inner_len = 80, .nested = Nested::ipv6}));
  EXPECT_EQ(l3.inner_offset, 50u);
  EXPECT_EQ(l3.inner_len, 80u);
  EXPECT_EQ(get_be16(l3.bytes, l3.tunnel_offset + 2), kIpv6);
}

// ---------------------------------------------------------------------------
// Every truncation and every first-segment length of valid frames

struct Sweep {
  std::string what;
  FrameSpec spec;
  ParseConfig config{};
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
      {"GWLB GENEVE nested IPv4 VXLAN", gwlb_mirror()},
      {"GWLB GENEVE nested IPv6 VXLAN over IPv6 with padding",
       gwlb_mirror({.l3 = L3::ipv6, .padding = 5, .nested = Nested::ipv6})},
      {"GENEVE nested IPv6 VXLAN with destination options in QinQ",
       geneve({.tags = {kTpidDot1ad, kTpidDot1q},
               .nested = Nested::ipv6,
               .nested_vxlan = true,
               .nested_ipv6_ext = {kDst}})},
      {"GENEVE Ethernet over IPv6 with options",
       geneve({.l3 = L3::ipv6, .geneve_options = gwlb_options()})},
      {"GENEVE IPv4 packet with GWLB options",
       geneve({.geneve_options = gwlb_options(), .nested = Nested::ipv4})},
      {"GENEVE IPv6 packet in 802.1Q",
       geneve({.tags = {kTpidDot1q}, .inner_len = 80, .nested = Nested::ipv6})},
      {"GENEVE nested UDP to port 53", gwlb_mirror({.nested_udp_dst = 53})},
      {"GENEVE nested IPv4 fragment", gwlb_mirror({.nested_ipv4_frag = 0x2000})},
      {"ICMP for the exception path", {.l4 = kIpProtoIcmp}, exception_config()},
      {"IPv6 TCP to the health port after hop-by-hop",
       {.l3 = L3::ipv6, .ipv6_ext = {kHbh}, .l4 = kIpProtoTcp, .udp_dst = kHealthPort},
       exception_config()},
  };
}

class OuterParseTruncation : public ::testing::TestWithParam<Sweep> {};

// A prefix that cuts into the IP datagram is bad_header wherever the cut falls
// (Ethernet, a tag, IP, UDP, a tunnel header, options, nested headers or the
// inner frame); a prefix that only cuts Ethernet padding keeps the full
// frame's verdict.
TEST_P(OuterParseTruncation, EveryPrefix) {
  const Frame f = build_frame(GetParam().spec);
  const ParseConfig& config = GetParam().config;
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

// Multi-segment: below some first-segment length the verdict is bad_header,
// from it on the whole frame's. That length is the outer headers up to the
// inner frame (or the IP header, and TCP ports, for fragments and exceptions);
// for an inner L3 packet it lies inside the packet, after the nested headers
// read to rule out VXLAN. Also with a first segment claimed longer than the
// frame (clamped).
TEST_P(OuterParseTruncation, EveryFirstSegmentLength) {
  const Frame f = build_frame(GetParam().spec);
  const ParseConfig& config = GetParam().config;
  const OuterResult full = parse_checked(f.bytes, config);
  size_t threshold = SIZE_MAX;
  for (size_t contiguous = 0; contiguous <= f.bytes.size() + 2; ++contiguous) {
    const OuterResult r = parse_checked(f.bytes, config, contiguous);
    if (threshold == SIZE_MAX && same_result(r, full)) threshold = contiguous;
    if (contiguous >= threshold) {
      ASSERT_TRUE(same_result(r, full)) << "contiguous " << contiguous << ": " << describe(r);
    } else {
      ASSERT_EQ(verdict_of(r), Drop(kBadHeader))
          << "contiguous " << contiguous << ": " << describe(r);
    }
  }
  ASSERT_GE(threshold, 34u) << describe(full);
  if (const auto needed = headers_needed(full, f.bytes.data())) {
    EXPECT_EQ(threshold, *needed) << describe(full);
  } else {
    EXPECT_GT(threshold, full.inner_offset) << describe(full);
    EXPECT_LE(threshold, full.inner_offset + full.inner_len) << describe(full);
  }
}

INSTANTIATE_TEST_SUITE_P(Frames, OuterParseTruncation, ::testing::ValuesIn(sweeps()),
                         test_name<Sweep>);

// ---------------------------------------------------------------------------
// Random mutations of valid frames

std::string verdict_key(const OuterResult& r) {
  if (r.kind == OuterKind::drop) return "drop/" + reason_name(r.reason);
  if (carries_inner(r.kind)) return kind_name(r.kind) + "/" + encap_name(r.encap);
  return kind_name(r.kind);
}

TEST(OuterParseFuzz, RandomMutationsKeepInvariants) {
  constexpr int kIterations = 100'000;
  // Even iterations: two VXLAN ports and GENEVE; odd: the exception path too.
  ParseConfig configs[2] = {ports({4789, 8472}), exception_config()};
  configs[1].vxlan_ports = configs[0].vxlan_ports;
  configs[1].vxlan_port_count = 2;
  std::vector<Frame> bases;
  for (const Sweep& s : sweeps()) bases.push_back(build_frame(s.spec));
  bases.push_back(build_frame({.udp_dst = 8472, .inner_len = 14}));
  bases.push_back(build_frame({.l3 = L3::ipv6, .ipv6_ext = {kFrag}}));
  bases.push_back(build_frame({.tags = {kTpidDot1q}, .l3 = L3::arp}));
  bases.push_back(build_frame({.l3 = L3::ipv6, .l4 = kIpProtoIcmpv6}));
  bases.push_back(build_frame({.l4 = kIpProtoTcp, .udp_dst = kHealthPort}));
  bases.push_back(build_frame(geneve({.geneve_oam = true})));
  bases.push_back(
      build_frame(geneve({.geneve_options = {{0x0101, 0x80, zeros(8)}, {0x0108, 3, zeros(4)}}})));
  bases.push_back(build_frame(gwlb_mirror({.nested = Nested::ipv6, .nested_ipv6_ext = {kFrag}})));

  // Bytes that steer the parser: ethertypes, TPIDs, versions/IHL, protocols,
  // extension header types, the I flag, lengths near the edges, GENEVE
  // protocol types, option classes and lengths, ports 6081 and 9469.
  constexpr uint8_t kInteresting[] = {0x00, 0xff, 0x08, 0x11, 0x06, 0x2c, 0x3b, 0x3c, 0x2b,
                                      0x81, 0x88, 0xa8, 0x86, 0xdd, 0x45, 0x4f, 0x60, 0x12,
                                      0xb5, 0x10, 0x65, 0x58, 0x01, 0x02, 0x03, 0x3a, 0x17,
                                      0xc1, 0x24, 0xfd, 0x80, 0x40, 0x1f, 0x3f, 0x06, 0x07};
  std::mt19937 rng(20240601);
  auto below = [&](size_t n) { return n == 0 ? size_t{0} : static_cast<size_t>(rng() % n); };
  std::map<std::string, int> seen;

  for (int i = 0; i < kIterations; ++i) {
    const ParseConfig& config = configs[i % 2];
    const Frame& base = bases[below(bases.size())];
    std::vector<uint8_t> b = base.bytes;
    const size_t header_end = std::min(b.size(), std::max<size_t>(base.inner_offset + 16, 64));
    for (size_t n = 1 + below(4); n > 0; --n) {
      switch (below(7)) {
        case 0:  // random byte in the headers
          if (header_end) b[below(header_end)] = static_cast<uint8_t>(rng());
          break;
        case 1:  // flip one bit in the headers
          if (header_end) b[below(header_end)] ^= static_cast<uint8_t>(1u << below(8));
          break;
        case 2:  // interesting byte in the headers
          if (header_end) b[below(header_end)] = kInteresting[below(sizeof kInteresting)];
          break;
        case 3: {  // nudge a length field: outer or nested IP length, UDP length
          const bool ipv6 = base.bytes[base.l2_len] >> 4 == 6;
          size_t at = below(2) ? base.l2_len + (ipv6 ? 4 : 2) : base.l4_offset + 4;
          if (base.geneve_payload != 0 && below(2)) {
            const bool nested6 = base.bytes[base.geneve_payload] >> 4 == 6;
            at = base.nested_l4_offset != 0 && below(2) ? base.nested_l4_offset + 4
                                                        : base.geneve_payload + (nested6 ? 4 : 2);
          }
          if (at + 1 < b.size()) add_be16(b, at, static_cast<int>(below(129)) - 64);
          break;
        }
        case 4:  // truncate
          b.resize(below(b.size() + 1));
          break;
        case 5:  // append trailer bytes
          for (size_t k = 1 + below(32); k > 0; --k) b.push_back(static_cast<uint8_t>(rng()));
          break;
        case 6:  // GENEVE Opt Len or an option's length
          if (base.geneve_payload != 0 && base.tunnel_offset < b.size()) {
            const size_t at = base.tunnel_offset + (below(2) ? 0 : 8 + 3 + 4 * below(4));
            if (at < b.size()) b[at] = static_cast<uint8_t>((b[at] & 0xc0) | below(64));
          }
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
    bool ok = same || bad_header;
    if (r.kind != OuterKind::drop) {
      if (const auto needed = headers_needed(r, b.data())) {
        ok = contiguous >= *needed ? same : bad_header;
      } else if (contiguous >= size_t{r.inner_offset} + r.inner_len) {
        ok = same;
      } else if (contiguous <= r.inner_offset) {
        ok = bad_header;
      }
    }
    ASSERT_TRUE(ok) << "iteration " << i << " contiguous " << contiguous << ": " << describe(split)
                    << " vs whole " << describe(r) << " frame " << hex(b.data(), b.size());
    ++seen[verdict_key(r)];
  }

  std::string summary;
  for (const auto& [verdict, count] : seen) summary += verdict + "=" + std::to_string(count) + " ";
  std::printf("verdicts over %d mutations: %s\n", kIterations, summary.c_str());
  // The mutations must reach every verdict, or the invariants were barely tested.
  for (const char* verdict : {"ethernet/vxlan", "ethernet/geneve", "ethernet/geneve_vxlan",
                              "ip/geneve", "ipv4_fragment", "exception", "drop/not_vxlan",
                              "drop/bad_header", "drop/fragment", "drop/unsupported_payload"})
    EXPECT_GT(seen[verdict], 100) << verdict;
}

// ---------------------------------------------------------------------------
// The builder, judged by tshark

// Runs tshark over `frames` written to a pcap; one line of tab-separated
// fields per frame.
std::vector<std::vector<std::string>> tshark_fields(const std::vector<Frame>& frames,
                                                    const std::string& options,
                                                    size_t field_count) {
  const std::string path =
      ::testing::TempDir() + "outer_parse_builder_" + std::to_string(getpid()) + ".pcap";
  pcap_t* dead = pcap_open_dead(DLT_EN10MB, 65535);
  EXPECT_NE(dead, nullptr);
  if (dead == nullptr) return {};
  pcap_dumper_t* dumper = pcap_dump_open(dead, path.c_str());
  EXPECT_NE(dumper, nullptr) << pcap_geterr(dead);
  if (dumper == nullptr) return {};
  for (const Frame& f : frames) {
    pcap_pkthdr h{};
    h.caplen = h.len = static_cast<bpf_u_int32>(f.bytes.size());
    pcap_dump(reinterpret_cast<u_char*>(dumper), &h, f.bytes.data());
  }
  pcap_dump_close(dumper);
  pcap_close(dead);

  const std::string cmd = "tshark -n -r " + path + " " + options + " 2>/dev/null";
  FILE* pipe = popen(cmd.c_str(), "r");
  EXPECT_NE(pipe, nullptr);
  if (pipe == nullptr) return {};
  std::vector<std::vector<std::string>> lines;
  char line[4096];
  while (std::fgets(line, sizeof line, pipe)) {
    std::string s(line);
    if (!s.empty() && s.back() == '\n') s.pop_back();
    std::vector<std::string> field;
    std::stringstream ss(s);
    for (std::string x; std::getline(ss, x, '\t');) field.push_back(x);
    field.resize(field_count);
    lines.push_back(field);
  }
  EXPECT_EQ(pclose(pipe), 0);
  std::filesystem::remove(path);
  return lines;
}

// Writes every accepted VXLAN table frame with a full inner TCP header to a
// pcap and checks that tshark finds the same VNI, outer source and inner TCP
// header.
TEST(FrameBuilderTshark, DecodesAcceptedFrames) {
  ASSERT_EQ(std::system("command -v tshark >/dev/null 2>&1"), 0)
      << "tshark not installed (deploy/setup-debian.sh)";
  std::vector<Case> accepted;
  for (const Case& c : vxlan_table())
    if (c.want.kind == OuterKind::ethernet && c.want.inner_len >= 54 && !c.poke)
      accepted.push_back(c);
  ASSERT_GT(accepted.size(), 20u);
  std::vector<Frame> frames;
  for (const Case& c : accepted) frames.push_back(build_frame(c.spec));

  // Checksums verified too: the builder's IPv4 and UDP checksums must be right.
  const auto lines =
      tshark_fields(frames,
                    "-d udp.port==8472,vxlan -o ip.check_checksum:TRUE -o udp.check_checksum:TRUE"
                    " -T fields -E separator=/t -E occurrence=f"
                    " -e vxlan.vni -e ip.src -e ipv6.src -e tcp.srcport -e ip.checksum.status"
                    " -e udp.checksum.status -e _ws.malformed",
                    7);
  ASSERT_EQ(lines.size(), accepted.size());

  for (size_t i = 0; i < accepted.size(); ++i) {
    const Verdict& want = accepted[i].want;
    const std::vector<std::string>& field = lines[i];
    char src[64];
    if (want.ip_version == 4) {
      std::snprintf(src, sizeof src, "%d.%d.%d.%d", want.src[0], want.src[1], want.src[2],
                    want.src[3]);
    } else {
      std::snprintf(src, sizeof src, "2001:db8::1");
    }
    SCOPED_TRACE(accepted[i].what);
    EXPECT_EQ(field[0], std::to_string(want.vni));
    EXPECT_EQ(field[want.ip_version == 4 ? 1 : 2], src);
    EXPECT_EQ(field[3], std::to_string(kInnerTcpSrcPort));
    EXPECT_EQ(field[4], "1") << "outer IPv4 checksum status (1 = good)";
    EXPECT_EQ(field[5], "1") << "UDP checksum status (1 = good)";
    EXPECT_EQ(field[6], "") << "tshark marks the frame malformed";
  }
}

std::string join(const std::vector<std::string>& parts) {
  std::string s;
  for (const std::string& p : parts) s += (s.empty() ? "" : ",") + p;
  return s;
}

// The same for the accepted GENEVE frames: tshark's GENEVE VNI, option
// classes and protocol type, the nested VXLAN VNI and source, every IPv4 and
// UDP checksum (outer and nested) good, the inner TCP header found.
TEST(FrameBuilderTshark, DecodesAcceptedGeneveFrames) {
  ASSERT_EQ(std::system("command -v tshark >/dev/null 2>&1"), 0)
      << "tshark not installed (deploy/setup-debian.sh)";
  std::vector<Case> accepted;
  for (const Case& c : geneve_table()) {
    const uint32_t tcp_needs = c.want.kind == OuterKind::ethernet ? 54
                               : c.want.inner_ethertype == kIpv4  ? 40
                                                                  : 60;
    // Not the nested UDP packets the parser leaves alone on purpose (fragment,
    // other port, I flag clear...): tshark decodes what it can of those.
    const bool nested_udp_left_alone = c.spec.nested_vxlan && c.want.encap != Encap::geneve_vxlan;
    if (c.spec.tunnel == Tunnel::geneve && carries_inner(c.want.kind) &&
        c.want.inner_len >= tcp_needs && !c.poke && c.contiguous == kWhole &&
        !c.spec.geneve_protocol && !nested_udp_left_alone)
      accepted.push_back(c);
  }
  ASSERT_GT(accepted.size(), 25u);
  std::vector<Frame> frames;
  for (const Case& c : accepted) frames.push_back(build_frame(c.spec));

  const auto lines = tshark_fields(
      frames,
      "-d udp.port==6082,geneve -d udp.port==8472,vxlan -o ip.check_checksum:TRUE"
      " -o udp.check_checksum:TRUE -T fields -E separator=/t -E occurrence=a -E aggregator=,"
      " -e geneve.vni -e geneve.proto_type -e geneve.option.class -e vxlan.vni -e ip.src"
      " -e ipv6.src -e tcp.srcport -e ip.checksum.status -e udp.checksum.status -e _ws.malformed",
      10);
  ASSERT_EQ(lines.size(), accepted.size());

  for (size_t i = 0; i < accepted.size(); ++i) {
    const Case& c = accepted[i];
    const Verdict& want = c.want;
    const std::vector<std::string>& field = lines[i];
    SCOPED_TRACE(c.what + ": " + join(field));
    char buf[64];
    std::snprintf(buf, sizeof buf, "0x%06x", c.spec.vni);
    EXPECT_EQ(field[0], buf) << "GENEVE VNI";
    const uint16_t protocol = want.encap == Encap::geneve_vxlan
                                  ? (want.tunnel_ip_version == 4 ? kIpv4 : kIpv6)
                              : want.kind == OuterKind::ip ? want.inner_ethertype
                                                           : kEtherTypeEthernet;
    std::snprintf(buf, sizeof buf, "0x%04x", protocol);
    EXPECT_EQ(field[1], buf) << "GENEVE protocol type";
    std::vector<std::string> classes;
    for (const GeneveOption& o : c.spec.geneve_options) {
      std::snprintf(buf, sizeof buf, "0x%04x", o.option_class);
      classes.push_back(buf);
    }
    EXPECT_EQ(field[2], join(classes)) << "GENEVE option classes";
    if (want.encap == Encap::geneve_vxlan) {
      EXPECT_EQ(field[3], std::to_string(want.vni)) << "nested VXLAN VNI";
      const std::string nested = want.tunnel_ip_version == 4 ? "172.31.5.10" : "2001:db8:5::a";
      EXPECT_NE(field[want.tunnel_ip_version == 4 ? 4 : 5].find(nested), std::string::npos)
          << "nested source";
    } else {
      EXPECT_EQ(field[3], "") << "no VXLAN";
    }
    EXPECT_EQ(field[6], std::to_string(kInnerTcpSrcPort)) << "inner TCP";
    EXPECT_EQ(field[7].find_first_not_of("1,"), std::string::npos) << "IPv4 checksum status";
    EXPECT_EQ(field[8].find_first_not_of("1,"), std::string::npos) << "UDP checksum status";
    EXPECT_FALSE(field[8].empty()) << "UDP checksum status";
    EXPECT_EQ(field[9], "") << "tshark marks the frame malformed";
  }
}

// ---------------------------------------------------------------------------
// The GENEVE captures of the shared corpus (/work/shared/corpus, MANIFEST.md)

std::string corpus_dir() {
  for (const std::string& d :
       {std::string(VXC_SOURCE_ROOT) + "/../shared/corpus", std::string("/work/shared/corpus")})
    if (std::filesystem::is_directory(d)) return d;
  return "";
}

// "verdict vni=... x count" per distinct verdict, in first-seen order. Frames
// are parsed as --read-pcap hands them over: the captured bytes.
std::string corpus_summary(const std::string& path, const ParseConfig& config) {
  char err[PCAP_ERRBUF_SIZE];
  pcap_t* p = pcap_open_offline(path.c_str(), err);
  if (p == nullptr) return std::string("cannot open: ") + err;
  std::vector<std::pair<std::string, int>> counts;
  pcap_pkthdr* h;
  const u_char* data;
  while (pcap_next_ex(p, &h, &data) == 1) {
    const OuterResult r = parse_checked(data, h->caplen, config);
    EXPECT_TRUE(invariants_hold(r, data, h->caplen, config)) << path;
    std::ostringstream key;
    key << verdict_key(r);
    if (carries_inner(r.kind)) {
      key << " vni=" << r.vni;
      if (r.kind == OuterKind::ip) key << " 0x" << std::hex << r.inner_ethertype << std::dec;
      if (r.has_gwlbe_eni) key << " eni=0x" << std::hex << r.gwlbe_eni << std::dec;
      if (r.has_attachment_id) key << " attachment=0x" << std::hex << r.attachment_id << std::dec;
      if (r.has_flow_cookie) key << " cookie";
    }
    auto it = std::find_if(counts.begin(), counts.end(),
                           [&](const auto& kv) { return kv.first == key.str(); });
    if (it == counts.end()) {
      counts.emplace_back(key.str(), 1);
    } else {
      ++it->second;
    }
  }
  pcap_close(p);
  std::string s;
  for (const auto& [k, n] : counts) s += (s.empty() ? "" : "; ") + k + " x" + std::to_string(n);
  return s;
}

TEST(OuterParseCorpus, GeneveCaptures) {
  const std::string dir = corpus_dir();
  ASSERT_FALSE(dir.empty()) << "shared corpus not found";
  const ParseConfig config;
  // What each capture holds, by its tshark dissection (MANIFEST.md).
  const std::vector<std::pair<std::string, std::string>> want = {
      {"zeek-geneve.pcap", "ethernet/geneve vni=0 x6"},
      {"zeek-geneve-47101.pcap", "ethernet/geneve vni=4242 x24"},
      // Three class 0x0100 options per frame, skipped.
      {"zeek-geneve-many-options.pcap", "ethernet/geneve vni=786734 x10"},
      {"zeek-geneve-tagged-udp-packet.pcap", "ethernet/geneve vni=100 x4"},
      {"zeek-geneve-ipv6.pcap", "ip/geneve vni=1193046 0x86dd x2"},
      // Cut by the snaplen (58 of 156 bytes): the outer IP length is past the frame.
      {"zeek-geneve-truncated.pcapng", "drop/bad_header x1"},
      // GENEVE -> IPv4 -> UDP 4789 -> VXLAN, but cut by the snaplen (176 of 182
      // and 202 bytes): the outer IP length is past the frame.
      {"zeek-geneve-vxlan-dns-truncated.pcap", "drop/bad_header x2"},
      {"zeek-geneve-inner-tcp-bad-checksum.pcap", "ethernet/geneve vni=42 x1"},
      // Protocol type 0x0806: ARP straight in GENEVE.
      {"zeek-geneve-arp.pcap", "drop/unsupported_payload x1"},
      // AWS GWLB: protocol IPv4 (tenant packet: IPv4 / GRE / IPv4 / TCP), the
      // three 0x0108 options, attachment id zero.
      {"suricata-verify-bug-6402-01-aws-gwlb-geneve.pcap",
       "ip/geneve vni=0 0x800 eni=0x31e129cdc0cd8633 attachment=0x0 cookie x12"},
      {"suricata-verify-geneve-decoder.pcap", "ethernet/geneve vni=123 x10"},
      // 19 frames carry a critical option (class 0x0000 type 0x80): recorded.
      {"tcpdump-geneve.pcap", "ethernet/geneve vni=10 x19; ethernet/geneve vni=11 x20"},
      // Google Cloud options (class 0x0132), skipped; protocol IPv4.
      {"tcpdump-geneve-gcp.pcap", "ip/geneve vni=0 0x800 x1"},
      {"tcpdump-gso-ipv6-geneve-ipv4.pcap", "ethernet/geneve vni=5001 x1"},
      {"tcpdump-gso-ipv6-geneve-ipv6.pcap", "ethernet/geneve vni=5001 x1"},
      // BIG TCP: outer IPv4 total length 0.
      {"tcpdump-bigtcp-ipv4-geneve-ipv4.pcap", "drop/bad_header x1"},
  };
  for (const auto& [file, summary] : want)
    EXPECT_EQ(corpus_summary(dir + "/" + file, config), summary) << file;
}

}  // namespace
}  // namespace vxc::test
