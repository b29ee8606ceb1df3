// libFuzzer target: one outer frame through what the dataplane does with it,
// without DPDK (dataplane/pipeline.cpp: Impl::classify, lane_for,
// append_record):
//
//   parse_outer, contiguous form and (first segment, contiguous, frame_len)
//   form -> verdict invariants and agreement between the two forms (VXLAN,
//   GENEVE with options, GENEVE -> VXLAN, inner L3 packets, the exception path)
//   -> IPv4 fragment: the datagram reassembly would hand back, parsed again
//   -> rte_pktmbuf_adj / rte_pktmbuf_trim preconditions on a 2-segment model
//   -> the lane key (by VNI, by VNI + tunnel source, or a GENEVE L3 packet's
//      GWLB endpoint ENI id), the worker it goes to, and its lookup in a
//      LaneTable holding explicit lanes, auto lanes up to a cap
//   -> the pcap/pcapng record for the lane's snaplen (inner Ethernet frame or
//      inner L3 packet), encoded into a heap buffer of exactly record_size
//      bytes (ASan reports any overflow) and decoded back.
//
// Input: a 5-byte control header, then the frame.
//   [0]    bits 0-1  record format: 0 pcap_usec, 1 pcap_nsec, 2 and 3 pcapng
//          bit 2     UDP 8472 is a VXLAN port too (two configured ports)
//          bit 3     --unknown-vni=drop (no auto lanes)
//          bits 4-6  auto lanes allowed beyond the explicit ones (max_lanes - 5)
//          bit 7     exception path on, TCP port 9469 an exception port
//          (GENEVE is always on UDP 6081.)
//   [1..2] bytes in the first mbuf segment, big-endian, clamped to the frame
//          (the low 3 bits also pick how far a first segment longer than the
//          frame overshoots in the clamping check)
//   [3..4] snaplen, big-endian, clamped to the option's range 14..65535
//
// A broken invariant prints what was expected and aborts (a libFuzzer crash).
// VXC_FUZZ_STRICT=1 also fails on the known, non-memory issue described at
// check_mbuf_model (tests/fuzz/README.md).
#include <algorithm>
#include <array>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "lanes.h"
#include "outer_parse.h"
#include "pcap_record.h"

namespace vxc::fuzz {
namespace {

constexpr size_t kControlLen = 5;
constexpr uint32_t kMinSnaplen = 14;
constexpr uint32_t kMaxSnaplen = 65535;
constexpr std::array<uint32_t, 5> kExplicitVnis{0, 1, 42, 4242, 0xffffff};
constexpr uint64_t kTimestampNs = 1700000000123456789ull;

bool g_strict = false;

#define FUZZ_CHECK(cond)                                                                       \
  do {                                                                                         \
    if (!(cond)) {                                                                             \
      std::fprintf(stderr, "classify_fuzzer: check failed at %s:%d: %s\n", __FILE__, __LINE__, \
                   #cond);                                                                     \
      std::abort();                                                                            \
    }                                                                                          \
  } while (0)

struct Control {
  PcapFormat format = PcapFormat::pcap_usec;
  bool second_port = false;
  bool auto_lanes = true;
  uint32_t auto_lane_cap = 0;
  bool exception_path = false;
  size_t contiguous = 0;
  uint32_t snaplen = 0;
};

Control read_control(const uint8_t* c, size_t frame_len) {
  Control ctl;
  const uint8_t f = c[0] & 3;
  ctl.format = f == 0 ? PcapFormat::pcap_usec : f == 1 ? PcapFormat::pcap_nsec : PcapFormat::pcapng;
  ctl.second_port = (c[0] & 0x04) != 0;
  ctl.auto_lanes = (c[0] & 0x08) == 0;
  ctl.auto_lane_cap = (c[0] >> 4) & 7;
  ctl.exception_path = (c[0] & 0x80) != 0;
  ctl.contiguous = std::min<size_t>(static_cast<size_t>(c[1] << 8 | c[2]), frame_len);
  ctl.snaplen =
      std::clamp<uint32_t>(static_cast<uint32_t>(c[3] << 8 | c[4]), kMinSnaplen, kMaxSnaplen);
  return ctl;
}

void print_result(const char* what, const OuterResult& r) {
  std::fprintf(stderr,
               "  %s: kind=%d reason=%s ip_version=%u l2_len=%u l3_len=%u encap=%d vni=%u "
               "inner_offset=%u inner_len=%u inner_ethertype=0x%x tunnel_ip_version=%u\n",
               what, static_cast<int>(r.kind),
               r.kind == OuterKind::drop ? std::string(drop_reason_name(r.reason)).c_str() : "-",
               r.ip_version, r.l2_len, r.l3_len, static_cast<int>(r.encap), r.vni, r.inner_offset,
               r.inner_len, r.inner_ethertype, r.tunnel_ip_version);
}

// Every field the RX stage uses once the verdict is not a drop.
bool same_verdict(const OuterResult& a, const OuterResult& b) {
  return a.kind == b.kind && a.ip_version == b.ip_version && a.l2_len == b.l2_len &&
         a.l3_len == b.l3_len && a.vni == b.vni && a.inner_offset == b.inner_offset &&
         a.inner_len == b.inner_len && a.src_addr == b.src_addr && a.encap == b.encap &&
         a.inner_ethertype == b.inner_ethertype && a.has_gwlbe_eni == b.has_gwlbe_eni &&
         a.gwlbe_eni == b.gwlbe_eni && a.has_attachment_id == b.has_attachment_id &&
         a.attachment_id == b.attachment_id && a.has_flow_cookie == b.has_flow_cookie &&
         a.flow_cookie == b.flow_cookie && a.tunnel_ip_version == b.tunnel_ip_version &&
         a.tunnel_src_addr == b.tunnel_src_addr;
}

bool carries_inner(const OuterResult& r) {
  return r.kind == OuterKind::ethernet || r.kind == OuterKind::ip;
}

void check_outer_ip(const OuterResult& r) {
  FUZZ_CHECK(r.l2_len == 14 || r.l2_len == 18 || r.l2_len == 22);
  if (r.ip_version == 4) {
    FUZZ_CHECK(r.l3_len >= 20 && r.l3_len <= 60 && r.l3_len % 4 == 0);
    for (size_t i = 4; i < r.src_addr.size(); ++i) FUZZ_CHECK(r.src_addr[i] == 0);
  } else {
    FUZZ_CHECK(r.ip_version == 6);
    FUZZ_CHECK(r.l3_len >= 40 && (r.l3_len - 40) % 8 == 0);
  }
}

// Invariants of one verdict for a frame of `len` bytes whose first
// `contiguous` bytes were readable.
void check_result(const OuterResult& r, const ParseConfig& config, size_t contiguous, size_t len) {
  switch (r.kind) {
    case OuterKind::drop:
      FUZZ_CHECK(static_cast<size_t>(r.reason) < kDropReasonCount);
      // The parser only ever says these four; the rest belong to later stages.
      FUZZ_CHECK(r.reason == DropReason::not_vxlan || r.reason == DropReason::bad_header ||
                 r.reason == DropReason::fragment || r.reason == DropReason::unsupported_payload);
      return;
    case OuterKind::exception:
      // The pipeline hands the frame as it is to the TAP interface.
      FUZZ_CHECK(config.exception_path);
      FUZZ_CHECK(r.l2_len == 14 || r.l2_len == 18 || r.l2_len == 22);
      FUZZ_CHECK(r.l2_len <= contiguous);
      if (r.ip_version == 0) {  // ARP
        FUZZ_CHECK(r.l3_len == 0);
        return;
      }
      check_outer_ip(r);
      FUZZ_CHECK(static_cast<size_t>(r.l2_len) + r.l3_len <= contiguous);
      return;
    case OuterKind::ipv4_fragment:
      FUZZ_CHECK(r.ip_version == 4);
      FUZZ_CHECK(r.l2_len == 14 || r.l2_len == 18 || r.l2_len == 22);
      FUZZ_CHECK(r.l3_len >= 20 && r.l3_len <= 60 && r.l3_len % 4 == 0);
      // rte_ipv4_frag_reassemble_packet reads the IP header at l2_len in the
      // first segment.
      FUZZ_CHECK(static_cast<size_t>(r.l2_len) + r.l3_len <= contiguous);
      return;
    case OuterKind::ethernet:
    case OuterKind::ip:
      break;
    default:
      FUZZ_CHECK(!"unknown OuterKind");
  }
  check_outer_ip(r);
  FUZZ_CHECK(r.vni <= 0xffffff);
  // Outer UDP (8) and a tunnel header (8) come first.
  const uint32_t tunnel_end = static_cast<uint32_t>(r.l2_len) + r.l3_len + 8 + kVxlanHeaderLen;
  const bool options = r.has_gwlbe_eni || r.has_attachment_id || r.has_flow_cookie;
  switch (r.encap) {
    case Encap::vxlan:
      FUZZ_CHECK(r.kind == OuterKind::ethernet);
      FUZZ_CHECK(r.inner_offset == tunnel_end);
      FUZZ_CHECK(!options);
      break;
    case Encap::geneve:
      // GENEVE options: at most 63 words, all read in the first segment.
      FUZZ_CHECK(r.inner_offset >= tunnel_end && r.inner_offset <= tunnel_end + 252);
      FUZZ_CHECK((r.inner_offset - tunnel_end) % 4 == 0);
      if (options) FUZZ_CHECK(r.inner_offset >= tunnel_end + 8);
      break;
    case Encap::geneve_vxlan:
      // Nested IP (>= 20), UDP (8), VXLAN (8).
      FUZZ_CHECK(r.kind == OuterKind::ethernet);
      FUZZ_CHECK(r.inner_offset >= tunnel_end + 20 + 16);
      break;
    default:
      FUZZ_CHECK(!"unknown Encap");
  }
  if (r.encap == Encap::geneve_vxlan) {
    FUZZ_CHECK(r.tunnel_ip_version == 4 || r.tunnel_ip_version == 6);
    if (r.tunnel_ip_version == 4)
      for (size_t i = 4; i < r.tunnel_src_addr.size(); ++i) FUZZ_CHECK(r.tunnel_src_addr[i] == 0);
  } else {
    FUZZ_CHECK(r.tunnel_ip_version == r.ip_version && r.tunnel_src_addr == r.src_addr);
  }
  if (r.kind == OuterKind::ethernet) {
    FUZZ_CHECK(r.inner_ethertype == 0);
    FUZZ_CHECK(r.inner_len >= kEthHeaderLen);
  } else {
    FUZZ_CHECK(r.encap == Encap::geneve);
    FUZZ_CHECK(r.inner_ethertype == 0x0800 || r.inner_ethertype == 0x86dd);
    FUZZ_CHECK(r.inner_len >= (r.inner_ethertype == 0x0800 ? 20u : 40u));
  }
  // rte_pktmbuf_adj(m, uint16_t(inner_offset)) only moves within the first segment.
  FUZZ_CHECK(r.inner_offset <= contiguous);
  FUZZ_CHECK(r.inner_offset <= UINT16_MAX);
  FUZZ_CHECK(static_cast<size_t>(r.inner_offset) + r.inner_len <= len);
  // The outer UDP length bounds the inner frame: 16-bit field minus UDP and tunnel headers.
  FUZZ_CHECK(r.inner_len <= UINT16_MAX - 8 - kVxlanHeaderLen);
}

// Reading fewer bytes can lose a verdict (bad_header) but never change one.
void check_forms_agree(const OuterResult& whole, const OuterResult& split, size_t contiguous,
                       size_t len) {
  bool ok = true;
  if (contiguous == len)
    ok = same_verdict(whole, split) &&
         (whole.kind != OuterKind::drop || whole.reason == split.reason);
  if (split.kind != OuterKind::drop) ok = ok && same_verdict(whole, split);
  if (whole.kind == OuterKind::drop) ok = ok && split.kind == OuterKind::drop;
  // The parser reads nothing at or past an inner Ethernet frame, and nothing
  // past an inner L3 packet.
  if (whole.kind == OuterKind::ethernet && contiguous >= whole.inner_offset)
    ok = ok && same_verdict(whole, split);
  if (whole.kind == OuterKind::ip && contiguous >= whole.inner_offset + whole.inner_len)
    ok = ok && same_verdict(whole, split);
  // Nor past the IP header of a fragment or of a frame for the exception path
  // (ARP: the Ethernet header; TCP: 4 bytes of ports more).
  if (whole.kind == OuterKind::ipv4_fragment &&
      contiguous >= static_cast<size_t>(whole.l2_len) + whole.l3_len)
    ok = ok && same_verdict(whole, split);
  if (whole.kind == OuterKind::exception &&
      contiguous >= static_cast<size_t>(whole.l2_len) + whole.l3_len + 4)
    ok = ok && same_verdict(whole, split);
  if (!ok) {
    std::fprintf(stderr, "classify_fuzzer: forms disagree (contiguous %zu of %zu bytes)\n",
                 contiguous, len);
    print_result("whole", whole);
    print_result("split", split);
    std::abort();
  }
}

// The frame as a 2-segment mbuf: seg0 holds the first `contiguous` bytes in an
// allocation of exactly that size; the rest (if any) stays in `tail`.
struct Frame {
  std::unique_ptr<uint8_t[]> seg0;
  size_t contiguous = 0;
  const uint8_t* tail = nullptr;
  size_t len = 0;

  Frame(const uint8_t* bytes, size_t contiguous_len, size_t frame_len)
      : seg0(new uint8_t[contiguous_len]),
        contiguous(contiguous_len),
        tail(bytes + contiguous_len),
        len(frame_len) {
    std::memcpy(seg0.get(), bytes, contiguous_len);
  }
  // copy_prefix in pipeline.cpp: the bytes from `offset` on, segment by segment.
  void copy(size_t offset, uint8_t* dst, size_t n) const {
    FUZZ_CHECK(offset + n <= len);
    if (offset < contiguous) {
      const size_t take = std::min(n, contiguous - offset);
      std::memcpy(dst, seg0.get() + offset, take);
      dst += take;
      n -= take;
      offset = contiguous;
    }
    std::memcpy(dst, tail + (offset - contiguous), n);
  }
};

// classify() then calls rte_pktmbuf_adj(m, inner_offset) and
// rte_pktmbuf_trim(m, pkt_len - inner_len). DPDK's trim refuses (returns -1,
// ignored there) when the cut is longer than the last segment: the mbuf then
// keeps the bytes after the UDP datagram and the lane's BPF filter sees
// pkt_len > inner_len. Only a multi-segment frame with a trailer longer than
// its last segment does that; strict mode makes it a finding.
void check_mbuf_model(const OuterResult& r, size_t contiguous, size_t len) {
  const size_t after_adj = len - r.inner_offset;
  const size_t cut = after_adj - r.inner_len;
  FUZZ_CHECK(cut <= UINT16_MAX);  // the uint16_t cast in classify()
  const size_t last_seg = contiguous < len ? len - contiguous : contiguous - r.inner_offset;
  if (g_strict && cut > last_seg) {
    std::fprintf(stderr,
                 "classify_fuzzer: rte_pktmbuf_trim(%zu) fails on a last segment of %zu bytes: "
                 "pkt_len stays %zu for an inner frame of %u bytes\n",
                 cut, last_seg, after_adj, r.inner_len);
    std::abort();
  }
}

// The lane key classify() gives a verdict (Impl::lane_key, without
// --lane source=CIDR lanes): a GENEVE L3 packet by its GWLB endpoint ENI id,
// the rest by VNI, or with --lane-key vni+source by VNI and tunnel source.
LaneKey lane_key_of(const OuterResult& r, bool by_source) {
  if (r.kind == OuterKind::ip) return LaneKey::for_gwlbe(r.has_gwlbe_eni ? r.gwlbe_eni : 0);
  if (!by_source) return LaneKey::for_vni(r.vni);
  return LaneKey::for_source(r.vni, r.tunnel_ip_version, r.tunnel_src_addr);
}

// The worker's lane table: explicit lanes (by VNI) filled at start, auto lanes
// added on first sight of a key until max_lanes (Impl::lane_for).
class Lanes {
 public:
  Lanes(bool auto_lanes, uint32_t max_lanes)
      : auto_lanes_(auto_lanes), max_lanes_(max_lanes), table_(max_lanes) {
    for (uint32_t vni : kExplicitVnis) {
      FUZZ_CHECK(table_.insert(LaneKey::for_vni(vni), used_));
      slot_key_.push_back(LaneKey::for_vni(vni));
      ++used_;
    }
  }

  uint32_t lane_for(const LaneKey& key) {
    if (has_last_ && key == last_key_) return last_slot_;
    uint32_t slot = table_.find(key);
    if (slot == LaneTable::kMissing) {
      if (!auto_lanes_ || used_ >= max_lanes_) return LaneTable::kMissing;
      slot = used_++;
      slot_key_.push_back(key);
      FUZZ_CHECK(table_.insert(key, slot));
    }
    FUZZ_CHECK(slot < used_ && slot_key_[slot] == key);
    has_last_ = true;
    last_key_ = key;
    last_slot_ = slot;
    return slot;
  }

  // Every key that has a lane is found in its slot; the table never holds more.
  void check() {
    FUZZ_CHECK(used_ <= max_lanes_);
    for (uint32_t slot = 0; slot < used_; ++slot) FUZZ_CHECK(table_.find(slot_key_[slot]) == slot);
    if (used_ == max_lanes_) {  // full: one more key is refused
      LaneKey extra = LaneKey::for_explicit(UINT32_MAX);
      FUZZ_CHECK(!table_.insert(extra, used_));
    }
  }
  uint32_t used() const { return used_; }

 private:
  bool auto_lanes_;
  uint32_t max_lanes_;
  LaneTable table_;
  std::vector<LaneKey> slot_key_;
  uint32_t used_ = 0;
  bool has_last_ = false;
  LaneKey last_key_;
  uint32_t last_slot_ = 0;
};

void check_lanes(const Control& ctl, const LaneKey& key) {
  // classify() hands the packet to worker_for_key's ring: it must exist.
  for (uint16_t workers = 1; workers <= 64; ++workers)
    FUZZ_CHECK(worker_for_key(key, workers) < workers);
  const uint32_t max_lanes = static_cast<uint32_t>(kExplicitVnis.size()) + ctl.auto_lane_cap;
  Lanes lanes(ctl.auto_lanes, max_lanes);
  bool is_explicit = false;
  for (uint32_t vni : kExplicitVnis) is_explicit |= key == LaneKey::for_vni(vni);
  const uint32_t slot = lanes.lane_for(key);
  FUZZ_CHECK((slot != LaneTable::kMissing) ==
             (is_explicit || (ctl.auto_lanes && ctl.auto_lane_cap > 0)));
  FUZZ_CHECK(lanes.lane_for(key) == slot);  // the last-key shortcut agrees
  // A burst of other sessions (same key kind, other VNI bits): fills the auto
  // lanes up to the cap, then lane_limit.
  for (uint32_t k = 1; k <= 24; ++k) {
    LaneKey other = key;
    other.kind_vni = (key.kind_vni & 0xff000000u) | ((key.vni_value() + k * 0x9e37u) & 0xffffff);
    const uint32_t before = lanes.used();
    const uint32_t s = lanes.lane_for(other);
    if (s == LaneTable::kMissing) FUZZ_CHECK(!ctl.auto_lanes || before == max_lanes);
    FUZZ_CHECK(lanes.lane_for(key) == slot);
  }
  lanes.check();
}

// What classify() records of a verdict: the inner Ethernet frame, or for an
// inner L3 packet a 14-byte Ethernet header (MACs zero, EtherType from GENEVE)
// written over the consumed outer headers in front of it, then the packet.
// The header must land in the first segment, where rte_pktmbuf_adj moves.
OuterResult recorded(const OuterResult& r, Frame& frame) {
  OuterResult rec = r;
  if (r.kind != OuterKind::ip) return rec;
  FUZZ_CHECK(r.inner_offset >= kEthHeaderLen && r.inner_offset <= frame.contiguous);
  rec.inner_offset -= kEthHeaderLen;
  rec.inner_len += kEthHeaderLen;
  uint8_t* eth = frame.seg0.get() + rec.inner_offset;
  std::memset(eth, 0, 12);
  eth[12] = static_cast<uint8_t>(r.inner_ethertype >> 8);
  eth[13] = static_cast<uint8_t>(r.inner_ethertype);
  return rec;
}

// append_record for a lane with `snaplen`: the record must fit an empty write
// block, and must encode into exactly record_size bytes.
void check_record(const Control& ctl, const Frame& frame, const OuterResult& r) {
  const uint32_t caplen = std::min(ctl.snaplen, r.inner_len);
  const size_t need = record_size(ctl.format, caplen);
  if (need > kWriteBlockBytes) {
    std::fprintf(stderr,
                 "classify_fuzzer: a %zu-byte record (caplen %u, snaplen %u, inner_len %u) does "
                 "not fit a %zu-byte WriteBlock: append_record writes past the block\n",
                 need, caplen, ctl.snaplen, r.inner_len, kWriteBlockBytes);
    std::abort();
  }
  std::unique_ptr<uint8_t[]> record(new uint8_t[need]);
  uint8_t* data = begin_record(ctl.format, record.get(), kTimestampNs, caplen, r.inner_len);
  frame.copy(r.inner_offset, data, caplen);
  finish_record(ctl.format, record.get(), caplen);

  uint32_t h[7];
  if (ctl.format == PcapFormat::pcapng) {
    std::memcpy(h, record.get(), 28);
    uint32_t trailer = 0;
    std::memcpy(&trailer, record.get() + need - 4, 4);
    FUZZ_CHECK(h[0] == 6 && h[1] == need && trailer == need && h[2] == 0);
    FUZZ_CHECK((static_cast<uint64_t>(h[3]) << 32 | h[4]) == kTimestampNs);
    FUZZ_CHECK(h[5] == caplen && h[6] == r.inner_len);
    FUZZ_CHECK(data == record.get() + 28);
    for (size_t i = 28 + caplen; i < need - 4; ++i) FUZZ_CHECK(record[i] == 0);
  } else {
    std::memcpy(h, record.get(), kPcapRecordHeaderLen);
    FUZZ_CHECK(h[0] == kTimestampNs / 1000000000u);
    const uint32_t frac = kTimestampNs % 1000000000u;
    FUZZ_CHECK(h[1] == (ctl.format == PcapFormat::pcap_usec ? frac / 1000u : frac));
    FUZZ_CHECK(h[2] == caplen && h[3] == r.inner_len);
    FUZZ_CHECK(data == record.get() + kPcapRecordHeaderLen &&
               need == kPcapRecordHeaderLen + caplen);
  }
  std::vector<uint8_t> expect(caplen);
  frame.copy(r.inner_offset, expect.data(), caplen);
  FUZZ_CHECK(caplen == 0 || std::memcmp(data, expect.data(), caplen) == 0);
}

// A fragment goes to rte_ipv4_frag_reassemble_packet; what comes back is a
// datagram with the fragment bits cleared (DF kept), parsed again. Modelled
// here as the fragment's own datagram: it must not be a fragment any more.
OuterResult reassembled(const Frame& frame, const OuterResult& frag, const ParseConfig& config,
                        std::vector<uint8_t>& whole) {
  whole.resize(frame.len);
  frame.copy(0, whole.data(), frame.len);
  uint8_t* ip = whole.data() + frag.l2_len;
  ip[6] &= 0x40;
  ip[7] = 0;
  const Frame datagram(whole.data(), frame.contiguous, whole.size());
  const OuterResult r = parse_outer(datagram.seg0.get(), datagram.contiguous, datagram.len, config);
  FUZZ_CHECK(r.kind != OuterKind::ipv4_fragment && r.kind != OuterKind::exception);
  return r;
}

}  // namespace
}  // namespace vxc::fuzz

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  const char* strict = std::getenv("VXC_FUZZ_STRICT");
  vxc::fuzz::g_strict = strict != nullptr && std::strcmp(strict, "1") == 0;
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace vxc;
  using namespace vxc::fuzz;
  if (size < kControlLen) return 0;
  const uint8_t* bytes = data + kControlLen;
  const size_t len = size - kControlLen;
  const Control ctl = read_control(data, len);
  ParseConfig config;
  if (ctl.second_port) {
    config.vxlan_ports[1] = 8472;
    config.vxlan_port_count = 2;
  }
  if (ctl.exception_path) {
    config.exception_path = true;
    config.exception_tcp_ports[0] = 9469;
    config.exception_tcp_port_count = 1;
  }

  // Contiguous form: libFuzzer's buffer ends exactly where the frame does.
  const OuterResult whole = parse_outer(bytes, len, config);
  check_result(whole, config, len, len);
  // A first segment longer than the frame is clamped to the frame.
  if (const size_t shorter = len - std::min<size_t>(len, 1 + (data[1] & 7)); shorter != 0) {
    const OuterResult clamped = parse_outer(bytes, len, shorter, config);
    const OuterResult exact = parse_outer(bytes, shorter, config);
    FUZZ_CHECK(same_verdict(clamped, exact) && clamped.reason == exact.reason);
  }

  // What classify() passes: the first segment (data_len) and the frame (pkt_len).
  Frame frame(bytes, ctl.contiguous, len);
  OuterResult r = parse_outer(frame.seg0.get(), frame.contiguous, frame.len, config);
  check_result(r, config, frame.contiguous, frame.len);
  check_forms_agree(whole, r, frame.contiguous, frame.len);
  // The fast paths for plain VXLAN over IPv4 and IPv6 give the general parser's result.
  const OuterResult general =
      parse_outer_without_fast_path(frame.seg0.get(), frame.contiguous, frame.len, config);
  FUZZ_CHECK(same_verdict(r, general) && r.reason == general.reason);

  std::vector<uint8_t> datagram;
  if (r.kind == OuterKind::ipv4_fragment) {
    r = reassembled(frame, r, config, datagram);
    check_result(r, config, frame.contiguous, frame.len);
  }
  if (!carries_inner(r)) return 0;

  check_lanes(ctl, lane_key_of(r, false));
  check_lanes(ctl, lane_key_of(r, true));
  if (datagram.empty()) {
    const OuterResult rec = recorded(r, frame);
    check_mbuf_model(rec, frame.contiguous, frame.len);
    check_record(ctl, frame, rec);
  } else {
    Frame whole_datagram(datagram.data(), frame.contiguous, datagram.size());
    const OuterResult rec = recorded(r, whole_datagram);
    check_mbuf_model(rec, whole_datagram.contiguous, whole_datagram.len);
    check_record(ctl, whole_datagram, rec);
  }
  return 0;
}
