#include "pipeline.h"

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

#include <arpa/inet.h>
#include <rte_cycles.h>
#include <rte_errno.h>
#include <rte_ethdev.h>
#include <rte_ip.h>
#include <rte_ip_frag.h>
#include <rte_lcore.h>
#include <rte_mbuf.h>
#include <rte_mbuf_dyn.h>
#include <rte_memcpy.h>
#include <rte_pause.h>
#include <rte_prefetch.h>
#include <rte_ring.h>
#include <sys/mman.h>
#include <time.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <new>
#include <stdexcept>

#include "af_packet_stats.h"
#include "bpf_filter.h"
#include "device_clock.h"
#include "port.h"

namespace vxc {
namespace {

constexpr uint16_t kBurst = 32;
constexpr uint32_t kHousekeepingEvery = 64;  // loop passes between stop/flush/expiry checks
constexpr uint32_t kWorkerRingFrames = 4095;  // RX -> worker ring capacity
// Mbufs a replay keeps out of its worker rings for the port to read into: a
// burst, the worker lcores' mempool caches (up to 1.5 x 256 each), jumbo chains.
constexpr uint32_t kPoolReserve = 1024;

// Capacity of each RX -> worker ring. A replay waits for ring room instead of
// dropping, and net_pcap loses a frame it has read when the pool has no mbuf
// for it: its rings together must leave the port kPoolReserve of the pool.
uint32_t worker_ring_frames(const PipelineConfig& cfg) {
  if (!cfg.backpressure) return kWorkerRingFrames;
  const uint32_t ring_count = uint32_t{cfg.rx_lcores} * cfg.workers;
  const uint32_t spare = cfg.mbufs > kPoolReserve ? cfg.mbufs - kPoolReserve : 0;
  return std::clamp<uint32_t>(spare / ring_count, 2 * kBurst, kWorkerRingFrames);
}
constexpr uint16_t kMaxWorkers = 64;
constexpr uint32_t kFragBucketEntries = 4;  // entries per reassembly hash bucket (associativity)

// Copies `lines` 64-byte lines (both 16-byte aligned) past the cache: a
// non-temporal store takes a line without reading it first, and leaves no
// copy in this core's cache for the writer thread's core to fetch from.
inline void stream_lines(uint8_t* dst, const uint8_t* src, size_t lines) noexcept {
  for (size_t l = 0; l < lines; ++l, dst += 64, src += 64) {
#if defined(__SSE2__)
    const auto* from = reinterpret_cast<const __m128i*>(src);
    auto* to = reinterpret_cast<__m128i*>(dst);
    _mm_stream_si128(to, _mm_load_si128(from));
    _mm_stream_si128(to + 1, _mm_load_si128(from + 1));
    _mm_stream_si128(to + 2, _mm_load_si128(from + 2));
    _mm_stream_si128(to + 3, _mm_load_si128(from + 3));
#else
    std::memcpy(dst, src, 64);
#endif
  }
}

// Orders the streamed lines before the store that publishes their block.
inline void streamed_lines_fence() noexcept {
#if defined(__SSE2__)
  _mm_sfence();
#endif
}

// What the RX lcore tells the worker about a decapsulated packet. The mbuf
// data already starts at the inner Ethernet header.
struct PacketMeta {
  uint64_t ts_ns;      // UTC nanoseconds
  uint32_t inner_len;  // inner frame length (the pcap record's orig_len)
  uint32_t key_hash;   // LaneMeta::key.hash(), computed once on the RX lcore
};

// The rest of it, too large for the mbuf's dynamic fields, travels in the
// outer headers' bytes just in front of the inner frame: they are consumed,
// and there are always at least kMinOuterHeaders of them (Ethernet + IPv4 +
// UDP + the 8-byte VXLAN or GENEVE header), less the Ethernet header
// synthesized in front of a GENEVE L3 payload.
struct LaneMeta {
  LaneKey key;
  uint8_t gwlbe_eni[8];  // a uint64_t in host order, as bytes to keep the struct small; valid when has_gwlbe_eni
  uint8_t has_gwlbe_eni;
};
constexpr size_t kMinOuterHeaders = 14 + 20 + 8 + 8;
static_assert(sizeof(LaneMeta) + alignof(LaneMeta) - 1 <= kMinOuterHeaders - kEthHeaderLen);

// Where a packet's LaneMeta lives: aligned, just below the inner frame. The
// worker reads it in place; copying it to the stack and reading it back at
// other widths stalled store-to-load forwarding (~9% of a same-core run).
inline LaneMeta* lane_meta_at(const rte_mbuf* m) noexcept {
  const auto at = reinterpret_cast<uintptr_t>(rte_pktmbuf_mtod(m, const uint8_t*)) - sizeof(LaneMeta);
  return reinterpret_cast<LaneMeta*>(at & ~uintptr_t{alignof(LaneMeta) - 1});
}
// Begins the lifetime of a packet's LaneMeta (fields uninitialized).
inline LaneMeta* new_lane_meta(rte_mbuf* m) noexcept { return new (lane_meta_at(m)) LaneMeta; }
inline const LaneMeta& get_lane_meta(const rte_mbuf* m) noexcept {
  return *std::launder(lane_meta_at(m));
}

int g_meta_offset = -1;
int g_timestamp_offset = -1;  // the PMD's RX timestamp dynfield, when one registered it
uint64_t g_timestamp_flag = 0;

inline PacketMeta* meta_of(rte_mbuf* m) {
  return RTE_MBUF_DYNFIELD(m, g_meta_offset, PacketMeta*);
}

uint64_t realtime_ns() {
  timespec ts{};
  clock_gettime(CLOCK_REALTIME, &ts);
  return static_cast<uint64_t>(ts.tv_sec) * 1000000000u + static_cast<uint64_t>(ts.tv_nsec);
}

// Wall clock from the TSC, read once per burst. Re-anchored to
// CLOCK_REALTIME about once a second with the TSC rate measured over that
// second: EAL's rounded TSC frequency alone drifts by ~0.2% (seen: 2450 MHz
// reported, 2445.4 MHz real).
struct WallClock {
  uint64_t tsc0 = 0;
  uint64_t ns0 = 0;
  uint64_t next_anchor = 0;
  uint64_t anchor_cycles = 0;
  double ns_per_cycle = 0;
  void anchor() {
    tsc0 = rte_rdtsc();
    ns0 = realtime_ns();
    anchor_cycles = rte_get_tsc_hz();
    next_anchor = tsc0 + anchor_cycles;
    ns_per_cycle = 1e9 / static_cast<double>(anchor_cycles);
  }
  void tick(uint64_t tsc) noexcept {
    if (tsc < next_anchor) return;
    const uint64_t now = realtime_ns();
    if (now > ns0 && tsc > tsc0)
      ns_per_cycle = static_cast<double>(now - ns0) / static_cast<double>(tsc - tsc0);
    tsc0 = tsc;
    ns0 = now;
    next_anchor = tsc + anchor_cycles;
  }
  uint64_t ns(uint64_t tsc) const noexcept {
    return ns0 + static_cast<uint64_t>(static_cast<double>(tsc - tsc0) * ns_per_cycle);
  }
};

// Copies the first `len` bytes of a (possibly multi-segment) packet.
inline void copy_prefix(const rte_mbuf* m, uint8_t* dst, uint32_t len) noexcept {
  if (len <= m->data_len) {  // the usual case: DPDK's inline copy, not a libc call
    rte_memcpy(dst, rte_pktmbuf_mtod(m, const uint8_t*), len);
    return;
  }
  for (const rte_mbuf* seg = m; seg != nullptr && len != 0; seg = seg->next) {
    const uint32_t take = std::min<uint32_t>(len, seg->data_len);
    std::memcpy(dst, rte_pktmbuf_mtod(seg, const uint8_t*), take);
    dst += take;
    len -= take;
  }
}

// Whether a packet's segments hold its pkt_len bytes. Everything after the
// RX stage trusts that they do; a PMD can break it (see port_error).
inline bool chain_holds_length(const rte_mbuf* m) noexcept {
  uint64_t held = 0;
  uint16_t segs = 0;
  for (const rte_mbuf* seg = m; seg != nullptr && segs <= m->nb_segs; seg = seg->next, ++segs)
    held += seg->data_len;
  return held == m->pkt_len && segs == m->nb_segs;
}

// Cuts a (possibly multi-segment) packet to `len` bytes: drops the outer
// frame's trailer (Ethernet padding) so the capture filter sees the inner
// frame only. rte_pktmbuf_trim cannot when the trailer spans segments.
inline void cut_to(rte_mbuf* m, uint32_t len) noexcept {
  uint32_t left = len;
  rte_mbuf* seg = m;
  uint16_t segs = 1;
  while (seg->data_len < left && seg->next != nullptr) {
    left -= seg->data_len;
    seg = seg->next;
    ++segs;
  }
  seg->data_len = static_cast<uint16_t>(std::min<uint32_t>(left, seg->data_len));
  if (seg->next != nullptr) {
    rte_pktmbuf_free(seg->next);
    seg->next = nullptr;
  }
  m->nb_segs = segs;
  m->pkt_len = len;
}

}  // namespace

// ---- Cidr ------------------------------------------------------------------

Cidr Cidr::parse(const std::string& text) {
  Cidr c;
  const size_t slash = text.find('/');
  const std::string host = text.substr(0, slash);
  if (inet_pton(AF_INET, host.c_str(), c.addr.data()) == 1) {
    c.ip_version = 4;
  } else if (inet_pton(AF_INET6, host.c_str(), c.addr.data()) == 1) {
    c.ip_version = 6;
  } else {
    throw std::invalid_argument("not an IPv4 or IPv6 address: '" + host + "'");
  }
  const int max_len = c.ip_version == 4 ? 32 : 128;
  int len = max_len;
  if (slash != std::string::npos) {
    const std::string bits = text.substr(slash + 1);
    if (bits.empty() || bits.size() > 3 || bits.find_first_not_of("0123456789") != std::string::npos)
      throw std::invalid_argument("bad prefix length in '" + text + "'");
    len = std::stoi(bits);
    if (len > max_len) throw std::invalid_argument("prefix length too long in '" + text + "'");
  }
  c.prefix_len = static_cast<uint8_t>(len);
  // Host bits set (10.0.0.1/24) is almost always a typo for the network.
  for (int bit = len; bit < max_len; ++bit)
    if (c.addr[bit / 8] & (0x80 >> (bit % 8)))
      throw std::invalid_argument("'" + text + "' has host bits set beyond /" + std::to_string(len));
  return c;
}

bool Cidr::contains(uint8_t version, const std::array<uint8_t, 16>& address) const noexcept {
  if (version != ip_version) return false;
  const size_t full = prefix_len / 8;
  if (std::memcmp(addr.data(), address.data(), full) != 0) return false;
  const unsigned rest = prefix_len % 8;
  if (rest == 0) return true;
  const uint8_t mask = static_cast<uint8_t>(0xff00u >> rest);
  return (addr[full] & mask) == (address[full] & mask);
}

// ---- Lane names ----------------------------------------------------------------

std::string lane_source_label(const LaneKey& key) {
  char text[INET6_ADDRSTRLEN] = {};
  if (key.kind() == LaneKey::vni_source4) inet_ntop(AF_INET, key.id.data(), text, sizeof text);
  if (key.kind() == LaneKey::vni_source6) inet_ntop(AF_INET6, key.id.data(), text, sizeof text);
  return text;
}

std::string auto_lane_name(const LaneKey& key) {
  switch (key.kind()) {
    case LaneKey::vni_source4:
    case LaneKey::vni_source6: {
      std::string source = lane_source_label(key);
      std::replace(source.begin(), source.end(), ':', '-');  // keeps names plain file names
      return "vni-" + std::to_string(key.vni_value()) + "-" + source;
    }
    case LaneKey::gwlbe: {
      char hex[17];
      for (int i = 0; i < 8; ++i) std::snprintf(hex + 2 * i, 3, "%02x", key.id[i]);
      return std::string("gwlbe-") + hex;
    }
    default:
      return "vni-" + std::to_string(key.vni_value());
  }
}

// ---- Pipeline internals ------------------------------------------------------

struct alignas(64) RxRole {
  uint16_t queue = 0;
  rte_ip_frag_tbl* frags = nullptr;
  rte_ip_frag_death_row death_row{};
  uint64_t frag_timeout_cycles = 0;
  PortQueueCounters* port_counters = nullptr;  // [port index]
  WallClock clock;
  std::vector<DeviceClock> port_clocks;        // [port index] for TimeSource::device_clock
  uint64_t next_clock_sample = 0;              // TSC
  std::atomic<bool> done{false};               // RX stopped and handed everything on
  std::atomic<bool> sources_ended{false};      // file_sources: every port read to its end
};

struct alignas(64) WorkerRole {
  explicit WorkerRole(size_t max_lanes)
      : table(max_lanes), open(max_lanes, nullptr), listed(max_lanes, 0) {
    open_lanes.reserve(max_lanes);
  }
  LaneTable table;                  // every key this worker's lanes have: one per lane
  std::vector<WriteBlock*> open;    // [lane slot] block being filled, or null
  std::vector<uint32_t> open_lanes; // slots that had an open block since the last flush, once each
  std::vector<uint8_t> listed;      // [lane slot] in open_lanes
  size_t open_blocks = 0;           // non-null entries of `open`
  size_t total_blocks = 0;          // this worker's write blocks
  rte_ring* full = nullptr;         // worker -> writer
  rte_ring* free = nullptr;         // writer -> worker
  std::vector<WriteBlock*> spare;   // free blocks on this side, most recently returned last
  // A record larger than a block's stage being encoded, after the bytes of
  // the line it starts in.
  alignas(64) uint8_t scratch[128 + kWriteBlockBytes];
  std::atomic<bool> done{false};    // last block handed over
};

// The write blocks' memory: anonymous pages of the process, not the EAL's
// heap. Nothing DMAs into a block, so it needs no hugepage or IOVA, and
// rte_free would clear every byte at exit (~20 ms of a replay's 8 MiB).
// Transparent huge pages where the kernel offers them (fewer TLB entries for
// the blocks; vxbench here could not tell them from 4 KiB pages). Every page
// is faulted in here: none on the lcore's path, and the memory the collector
// holds is its whole budget from the start.
struct BlockArena {
  void* base = MAP_FAILED;
  size_t bytes = 0;
  BlockArena() = default;
  BlockArena(const BlockArena&) = delete;
  BlockArena& operator=(const BlockArena&) = delete;
  ~BlockArena() {
    if (base != MAP_FAILED) munmap(base, bytes);
  }
  WriteBlock* allocate(size_t count) {
    bytes = count * sizeof(WriteBlock);
    base = mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (base == MAP_FAILED) return nullptr;
    madvise(base, bytes, MADV_HUGEPAGE);  // a hint: THP may be off
    std::memset(base, 0, bytes);
    return static_cast<WriteBlock*>(base);
  }
};

struct Pipeline::Impl {
  const PipelineConfig& config;
  rte_mempool* pool = nullptr;
  std::vector<std::unique_ptr<BpfFilter>> filters;
  std::unique_ptr<LaneSlot[]> lanes;
  std::atomic<uint32_t> lanes_used{0};  // workers: fetch_add when a lane is created (rare)
  std::unique_ptr<LcoreCounters[]> counters;  // [role]
  std::vector<std::unique_ptr<RxRole>> rx;
  std::vector<std::unique_ptr<WorkerRole>> workers;
  std::vector<rte_ring*> rings;  // [rx * workers + w]; empty when workers == 0
  std::unique_ptr<PortQueueCounters[]> port_counters;  // [rx * ports + p]
  BlockArena block_arena;
  std::vector<unsigned> role_lcore;  // [role] -> lcore id
  // --lane-key vni+source: the explicit lanes, in order; the first match wins.
  struct SourceLane {
    uint32_t vni;
    std::optional<Cidr> source;  // none: every source of the VNI
    uint32_t slot;
  };
  std::vector<SourceLane> source_lanes;
  const std::atomic<bool>* stop = nullptr;
  bool ports_started = false;

  // A plain VXLAN frame's parse decides everything classify needs (no source
  // check, the VNI is the lane key): classify takes it without parse_outer.
  const bool plain_vxlan_is_final;

  explicit Impl(const PipelineConfig& c)
      : config(c), plain_vxlan_is_final(c.allow_sources.empty() && c.lane_key == LaneKeyMode::vni) {}

  // Lanes with the same expression share one compiled program: a worker then
  // calls one target instead of a different one per lane.
  const BpfFilter& filter_for(const std::string& expression) {
    for (const auto& f : filters)
      if (f->expression() == expression) return *f;
    filters.push_back(std::make_unique<BpfFilter>(expression));
    return *filters.back();
  }

  uint16_t worker_roles() const { return static_cast<uint16_t>(workers.size()); }
  size_t worker_role_index(uint16_t w) const {
    return config.workers == 0 ? 0 : config.rx_lcores + w;
  }

  // ---- worker stage ----

  uint32_t lane_for(WorkerRole& w, uint16_t w_index, const LaneMeta& lm, uint32_t key_hash,
                    LcoreCounters& c) noexcept {
    uint32_t slot = w.table.find(lm.key, key_hash);
    if (slot == LaneTable::kMissing) {
      if (!config.auto_lanes) {
        c.drops[static_cast<size_t>(DropReason::unknown_vni)].inc();
        return LaneTable::kMissing;
      }
      if (lanes_used.load(std::memory_order_relaxed) >= config.max_lanes) {
        c.drops[static_cast<size_t>(DropReason::lane_limit)].inc();
        return LaneTable::kMissing;
      }
      slot = lanes_used.fetch_add(1, std::memory_order_relaxed);  // once per new lane
      if (slot >= config.max_lanes) {
        c.drops[static_cast<size_t>(DropReason::lane_limit)].inc();
        return LaneTable::kMissing;
      }
      LaneSlot& lane = lanes[slot];
      lane.key = lm.key;
      lane.vni = lm.key.vni_value();
      lane.has_gwlbe_eni = lm.has_gwlbe_eni != 0;
      std::memcpy(&lane.gwlbe_eni, lm.gwlbe_eni, sizeof lane.gwlbe_eni);
      lane.snaplen = config.default_snaplen;
      lane.config_index = LaneSlot::kAutoLane;
      lane.worker = w_index;
      lane.filter = nullptr;
      lane.active.store(true, std::memory_order_release);
      w.table.insert(lm.key, slot);  // max_lanes entries: room for every slot
    }
    return slot;
  }

  // Streams the stage's whole lines to the block's data and moves its
  // unfinished line to the front.
  static void stream_stage(WriteBlock* b) noexcept {
    const uint32_t pending = b->used - b->streamed;
    const uint32_t lines = pending / 64;
    stream_lines(b->data + b->streamed, b->stage, lines);
    if (lines != 0) std::memcpy(b->stage, b->stage + lines * 64, pending % 64);
    b->streamed += lines * 64;
  }

  void hand_over(WorkerRole& w, uint32_t slot) noexcept {
    WriteBlock* b = w.open[slot];
    stream_stage(b);
    const uint32_t lead = b->used - b->streamed;  // bytes of the unfinished line
    if (lead != 0) std::memcpy(b->data + b->streamed, b->stage, lead);
    streamed_lines_fence();
    // The full ring holds every block there is, so this cannot fail.
    rte_ring_sp_enqueue(w.full, b);
    w.open[slot] = nullptr;
    --w.open_blocks;
  }

  void flush_open_blocks(WorkerRole& w) noexcept {
    for (uint32_t slot : w.open_lanes) {
      if (w.open[slot] != nullptr) hand_over(w, slot);
      w.listed[slot] = 0;
    }
    w.open_lanes.clear();
  }

  // The free block returned last. Blocks come back in the order the writer
  // wrote them; reusing the newest keeps the few in flight in cache, where
  // taking them in ring order would cycle through the whole budget (64 MiB,
  // more than the L3 cache) and make every store into a block a miss.
  static WriteBlock* take_block(WorkerRole& w) noexcept {
    void* back[32];
    unsigned n;
    while ((n = rte_ring_sc_dequeue_burst(w.free, back, 32, nullptr)) != 0)
      for (unsigned i = 0; i < n; ++i) w.spare.push_back(static_cast<WriteBlock*>(back[i]));
    if (w.spare.empty()) return nullptr;
    WriteBlock* b = w.spare.back();
    w.spare.pop_back();
    return b;
  }

  void append_record(WorkerRole& w, LaneSlot& lane, uint32_t slot, rte_mbuf* m,
                     const PacketMeta& pm, LcoreCounters& c) noexcept {
    const uint32_t caplen = std::min(lane.snaplen, pm.inner_len);
    const size_t need = record_size(config.format, caplen);
    WriteBlock* b = w.open[slot];
    if (b != nullptr && b->used + need > kWriteBlockBytes) {
      hand_over(w, slot);
      b = nullptr;
    }
    if (b == nullptr) {
      b = take_block(w);
      if (b == nullptr) {
        // When every block is open (as many open lanes as blocks) none would
        // come back before the flush timer, and a replay, which waits, would
        // wait forever: the other lanes' partly filled blocks go to the
        // writer. Otherwise blocks are on their way back and handing over
        // partly filled ones would only make the writer's writes smaller
        // when it is already behind (seen: 64 lanes at overload wrote 1.7
        // Mpps of records instead of 4.0).
        if (w.open_blocks == w.total_blocks) flush_open_blocks(w);
        if (!config.backpressure) {
          b = take_block(w);
          if (b == nullptr) {
            c.drops[static_cast<size_t>(DropReason::writer_busy)].inc();
            return;
          }
        } else {
          while ((b = take_block(w)) == nullptr) rte_pause();  // a replay waits
        }
      }
      b->lane = slot;
      b->packets = 0;
      b->used = 0;
      b->streamed = 0;
      b->inner_bytes = 0;
      w.open[slot] = b;
      ++w.open_blocks;
      if (w.listed[slot] == 0) {
        w.listed[slot] = 1;
        w.open_lanes.push_back(slot);  // once per slot, reserved for max_lanes: never reallocates
      }
    }
    // Records are encoded into the block's stage and streamed to the block
    // a stage at a time. Stored normally, each new line of a block cost a
    // read of it first, from the writer thread's core that had just read the
    // block: ~20% of the lcore's time (vxbench readsink against nullsink).
    // Streamed right after it was encoded, a record's lines were read back
    // while its stores were still in flight: a store-forwarding stall on
    // almost every record (perf: the hottest instruction of the lane stage).
    if (b->used - b->streamed + need > kStageBytes) stream_stage(b);
    const uint32_t pending = b->used - b->streamed;
    if (pending + need <= kStageBytes) {
      // The data in whole 64-byte lines when the mbuf's buffer holds them:
      // fixed-size copies instead of a copy of any length (its branches and
      // call). The bytes past caplen stay in the stage's room behind the
      // record until the next record covers them; they never reach data.
      uint8_t* data = begin_record(config.format, b->stage + pending, pm.ts_ns, caplen, pm.inner_len);
      const uint32_t lines = (caplen + 63) / 64;
      if (caplen <= m->data_len && uint32_t{m->buf_len} - m->data_off >= lines * 64u) {
        const uint8_t* from = rte_pktmbuf_mtod(m, const uint8_t*);
        if (lines == 2) {  // snaplen 128, the default: no loop around the copy
          std::memcpy(data, from, 128);
        } else {
          for (uint32_t l = 0; l < lines; ++l) std::memcpy(data + l * 64, from + l * 64, 64);
        }
      } else {
        copy_prefix(m, data, caplen);
      }
      finish_record(config.format, b->stage + pending, caplen);
    } else {
      // Larger than the stage: encoded in the scratch behind the unfinished
      // line and streamed at once.
      uint8_t* scratch = w.scratch;
      std::memcpy(scratch, b->stage, 64);
      uint8_t* record = scratch + pending;
      copy_prefix(m, begin_record(config.format, record, pm.ts_ns, caplen, pm.inner_len), caplen);
      finish_record(config.format, record, caplen);
      const size_t lines = (pending + need) / 64;
      stream_lines(b->data + b->streamed, scratch, lines);
      std::memcpy(b->stage, scratch + lines * 64, 64);
      b->streamed += static_cast<uint32_t>(lines * 64);
    }
    b->used += static_cast<uint32_t>(need);
    b->packets += 1;
    b->inner_bytes += pm.inner_len;
    lane.buffered.inc();
  }

  void run_lanes(WorkerRole& w, uint16_t w_index, LcoreCounters& c, rte_mbuf** pkts,
                 uint16_t n) noexcept {
    uint32_t slots[kBurst];
    for (uint16_t i = 0; i < n; ++i) {
      rte_mbuf* m = pkts[i];
      slots[i] = lane_for(w, w_index, get_lane_meta(m), meta_of(m)->key_hash, c);
    }
    // The filter runs right before the packet's record is appended: the
    // record's copy then finds the mbuf and the header lines the filter read
    // in the L1 cache. A pass of its own over the burst read them again
    // after other packets' records had evicted them (callgrind, 64 lanes:
    // ~2 more L1 misses a packet).
    // Without filters, or with one program for all, nothing to prefetch: the
    // test alone cost ~9 instructions a packet (callgrind, 4 lanes, no filter).
    const bool own_programs = filters.size() > 1;
    for (uint16_t i = 0; i < n; ++i) {
      if (own_programs && i + kProgramPrefetchAhead < n)
        prefetch_program(slots[i + kProgramPrefetchAhead]);
      if (slots[i] == LaneTable::kMissing) continue;
      LaneSlot& lane = lanes[slots[i]];
      if (lane.filter != nullptr && !passes(*lane.filter, own_programs, pkts[i])) {
        lane.filtered.inc();
        continue;
      }
      append_record(w, lane, slots[i], pkts[i], *meta_of(pkts[i]), c);
    }
    free_burst(pkts, n);
  }

  // A lane's capture filter on one packet. With one program (every filtered
  // lane has the same expression) the JIT's code runs. With several (lanes
  // with their own) the classic BPF interpreter runs (cbpf.h), whose code is
  // the same for every program: a different JIT program at almost every
  // packet missed the instruction cache each time (64 lanes with their own
  // programs, null sink: 13.7 Mpps through the JIT, 16.4 interpreted; 4
  // lanes, 4 programs: the JIT 7% slower). The choice is the
  // configuration's, not each burst's: finding out whether a burst mixes
  // programs cost a pass of ~19 instructions a packet, and bursts of lanes
  // with their own programs mostly do.
  static bool passes(const BpfFilter& f, bool own_programs, rte_mbuf* m) noexcept {
    return own_programs ? f.matches_interpreted(m) : f.matches(m);
  }

  // With many lanes, each with its own program, a program's first line is
  // mostly out of L1 by its lane's next packet (the lanes' write stages
  // evict it): run_lanes asks for it two packets ahead. 64 lanes, null
  // sink, 30 interleaved rounds each against no prefetch: 2 ahead 1.041 and
  // 1.046 (19 and 23 of 30 faster), 4 ahead 1.028; 4 lanes 1.027.
  static constexpr uint16_t kProgramPrefetchAhead = 2;
  void prefetch_program(uint32_t slot) const noexcept {
    if (slot == LaneTable::kMissing) return;
    const BpfFilter* f = lanes[slot].filter;
    if (f != nullptr) f->prefetch_interpreted();
  }

  // Frees a burst as rte_pktmbuf_free_bulk(pkts, n) does. The usual burst,
  // single-segment direct mbufs of the pipeline's pool that nothing else
  // holds, goes back to the pool in one put: what free_bulk ends with after
  // checking and resetting each mbuf (~40 instructions a packet, a tenth of
  // the dataplane's). Anything else (reassembled chains) takes free_bulk.
  void free_burst(rte_mbuf** pkts, uint16_t n) noexcept {
    for (uint16_t i = 0; i < n; ++i) {
      const rte_mbuf* m = pkts[i];
      if (m->pool != pool || m->nb_segs != 1 || !RTE_MBUF_DIRECT(m) ||
          rte_mbuf_refcnt_read(m) != 1) {
        rte_pktmbuf_free_bulk(pkts, n);
        return;
      }
    }
    rte_mempool_put_bulk(pool, reinterpret_cast<void**>(pkts), n);
  }

  // ---- RX stage ----

  bool source_allowed(const OuterResult& r) const noexcept {
    if (config.allow_sources.empty()) return true;
    for (const Cidr& c : config.allow_sources)
      if (c.contains(r.ip_version, r.src_addr)) return true;
    return false;
  }

  // Feeds an outer IPv4 fragment to the reassembly table. Returns the whole
  // datagram, or null when the fragment is held or was dropped (counted when
  // the death row is freed).
  rte_mbuf* reassemble(RxRole& rx, LcoreCounters& c, rte_mbuf* m, const OuterResult& r,
                       uint64_t tsc) noexcept {
    c.fragments_in.inc();
    if (m->nb_segs != 1) {  // keeps "n fragments -> n segments" exact for accounting
      c.drops[static_cast<size_t>(DropReason::fragment)].inc();
      rte_pktmbuf_free(m);
      return nullptr;
    }
    if (RTE_MBUF_HAS_EXTBUF(m)) {
      // A replayed frame lives in the capture reader's buffer only until its
      // burst is done (capture_replay.h); a fragment may wait longer.
      rte_mbuf* own = rte_pktmbuf_copy(m, pool, 0, UINT32_MAX);
      rte_pktmbuf_free(m);
      if (own == nullptr || own->nb_segs != 1) {
        c.drops[static_cast<size_t>(DropReason::fragment)].inc();
        rte_pktmbuf_free(own);
        return nullptr;
      }
      m = own;
    }
    m->l2_len = r.l2_len;
    m->l3_len = r.l3_len;
    auto* ip = rte_pktmbuf_mtod_offset(m, rte_ipv4_hdr*, r.l2_len);
    rte_mbuf* whole = rte_ipv4_frag_reassemble_packet(rx.frags, &rx.death_row, m, tsc, ip);
    if (whole == nullptr) return nullptr;
    c.reassembled.inc();
    c.fragments_merged.add(whole->nb_segs - 1u);
    return whole;
  }

  void free_death_row(RxRole& rx, LcoreCounters& c) noexcept {
    if (rx.death_row.cnt == 0) return;
    c.drops[static_cast<size_t>(DropReason::fragment)].add(rx.death_row.cnt);
    rte_ip_frag_free_death_row(&rx.death_row, 0);
  }

  // Classifies and decapsulates one frame. Returns the worker the packet goes
  // to, kToKernel for the exception path, or -1 when it was consumed (dropped
  // and counted, or held for reassembly). `m` may be replaced by the
  // reassembled datagram.
  static constexpr int kToKernel = -2;
  int classify(RxRole& rx, size_t port_index, LcoreCounters& c, rte_mbuf*& m,
               uint64_t burst_ns, uint64_t tsc) noexcept {
    // A reassembled datagram takes the time of its last fragment: when it was
    // whole. Records of a lane then stay in arrival order.
    const uint64_t ts_ns = frame_time(rx, port_index, m, burst_ns);
    if (m->pkt_len != m->data_len && !chain_holds_length(m)) {
      c.drops[static_cast<size_t>(DropReason::port_error)].inc();
      rte_pktmbuf_free(m);
      return -1;
    }
    PlainVxlan plain;
    if (plain_vxlan_is_final && parse_plain_vxlan(rte_pktmbuf_mtod(m, const uint8_t*), m->data_len,
                                                  m->pkt_len, config.parse, plain)) {
      LaneMeta* lm = decapsulate(m, plain.inner_offset, plain.inner_len);
      lm->key.kind_vni = plain.vni;  // LaneKey::vni, as set_lane_key writes it
      lm->key.id = {};
      lm->has_gwlbe_eni = 0;
      return to_worker(m, *lm, ts_ns, plain.inner_len);
    }
    OuterResult r = parse_outer(rte_pktmbuf_mtod(m, const uint8_t*), m->data_len, m->pkt_len,
                                config.parse);
    if (r.kind == OuterKind::ipv4_fragment) {
      if (!source_allowed(r)) {
        c.drops[static_cast<size_t>(DropReason::source_not_allowed)].inc();
        rte_pktmbuf_free(m);
        return -1;
      }
      m = reassemble(rx, c, m, r, tsc);
      if (m == nullptr) return -1;
      r = parse_outer(rte_pktmbuf_mtod(m, const uint8_t*), m->data_len, m->pkt_len, config.parse);
      if (r.kind == OuterKind::ipv4_fragment) {
        r.kind = OuterKind::drop;
        r.reason = DropReason::fragment;
      }
    }
    if (r.kind == OuterKind::drop) {
      c.drops[static_cast<size_t>(r.reason)].inc();
      rte_pktmbuf_free(m);
      return -1;
    }
    if (r.kind == OuterKind::exception) return kToKernel;  // the kernel judges who may talk to it
    if (!source_allowed(r)) {
      c.drops[static_cast<size_t>(DropReason::source_not_allowed)].inc();
      rte_pktmbuf_free(m);
      return -1;
    }
    uint32_t inner_offset = r.inner_offset;
    uint32_t inner_len = r.inner_len;
    if (r.kind == OuterKind::ip) {
      // A GENEVE L3 payload gets an Ethernet header in front, in the bytes of
      // the consumed outer headers: MACs zero, EtherType from GENEVE.
      inner_offset -= kEthHeaderLen;
      inner_len += kEthHeaderLen;
      uint8_t* eth = rte_pktmbuf_mtod_offset(m, uint8_t*, inner_offset);
      std::memset(eth, 0, 12);
      eth[12] = static_cast<uint8_t>(r.inner_ethertype >> 8);
      eth[13] = static_cast<uint8_t>(r.inner_ethertype);
    }
    LaneMeta* lm = decapsulate(m, inner_offset, inner_len);
    set_lane_key(r, lm->key);
    std::memcpy(lm->gwlbe_eni, &r.gwlbe_eni, sizeof lm->gwlbe_eni);
    lm->has_gwlbe_eni = r.has_gwlbe_eni;
    return to_worker(m, *lm, ts_ns, inner_len);
  }

  // Cuts `m` to its inner frame and begins the LaneMeta in front of it, for
  // the caller to fill. Fields go straight to their places: a LaneMeta or key
  // assembled on the stack and copied whole was read back across stores of
  // other widths, which stalls store-to-load forwarding (three stalls per
  // packet in perf).
  static LaneMeta* decapsulate(rte_mbuf* m, uint32_t inner_offset, uint32_t inner_len) noexcept {
    rte_pktmbuf_adj(m, static_cast<uint16_t>(inner_offset));
    if (m->pkt_len > inner_len) cut_to(m, inner_len);
    return new_lane_meta(m);
  }
  // Stamps a decapsulated packet whose LaneMeta is filled; returns its worker.
  int to_worker(rte_mbuf* m, const LaneMeta& lm, uint64_t ts_ns, uint32_t inner_len) const noexcept {
    const uint32_t key_hash = lm.key.hash();
    PacketMeta* pm = meta_of(m);
    pm->ts_ns = ts_ns;
    pm->inner_len = inner_len;
    pm->key_hash = key_hash;
    return config.workers == 0 ? 0 : worker_for_hash(key_hash, config.workers);
  }

  // Writes the lane key of a classified packet (see LaneKey) into `out`. The
  // usual VNI key is stored field by field, not built elsewhere and copied.
  void set_lane_key(const OuterResult& r, LaneKey& out) const noexcept {
    if (r.kind == OuterKind::ip) {
      out = LaneKey::for_gwlbe(r.has_gwlbe_eni ? r.gwlbe_eni : 0);
    } else if (config.lane_key == LaneKeyMode::vni) {
      out.kind_vni = r.vni & 0xffffff;
      out.id = {};
    } else {
      out = lane_key_with_source(r);
    }
  }
  LaneKey lane_key_with_source(const OuterResult& r) const noexcept {
    for (const SourceLane& l : source_lanes)
      if (l.vni == r.vni && (!l.source || l.source->contains(r.tunnel_ip_version, r.tunnel_src_addr)))
        return LaneKey::for_explicit(l.slot);
    return LaneKey::for_source(r.vni, r.tunnel_ip_version, r.tunnel_src_addr);
  }

  // Where a port's frames get their time. Decided once the ports are started.
  enum class TimeSource : uint8_t {
    tsc,           // the RX lcore's TSC at the burst, on the wall clock
    capture_us,    // the PMD stamps microseconds since the epoch (net_pcap: the capture's own)
    capture_ns,    // a PortFeed stamps nanoseconds since the epoch (the capture's own)
    device_clock,  // the NIC stamps its own clock; DeviceClock puts it on the wall clock
  };
  std::vector<TimeSource> port_time;  // [port index]

  const PortFeed* feed(size_t p) const noexcept {
    return p < config.port_feeds.size() ? config.port_feeds[p] : nullptr;
  }

  // Wall-clock ns of a frame from port p polled in a burst at burst_ns.
  uint64_t frame_time(const RxRole& rx, size_t p, const rte_mbuf* m,
                      uint64_t burst_ns) const noexcept {
    if (port_time[p] == TimeSource::tsc || (m->ol_flags & g_timestamp_flag) == 0) return burst_ns;
    const uint64_t stamp = *RTE_MBUF_DYNFIELD(m, g_timestamp_offset, const rte_mbuf_timestamp_t*);
    if (port_time[p] == TimeSource::capture_us) return stamp * 1000;
    if (port_time[p] == TimeSource::capture_ns) return stamp;
    return rx.port_clocks[p].wall_ns(stamp, burst_ns);
  }

  // About every 100 ms: a (NIC clock, wall clock) pair per port that stamps
  // frames in its own clock. A read that took long (the lcore was preempted,
  // the device was slow) says little about when it happened: skipped.
  void sample_device_clocks(RxRole& rx, uint64_t now) noexcept {
    if (now < rx.next_clock_sample) return;
    const uint64_t hz = rte_get_tsc_hz();
    rx.next_clock_sample = now + hz / 10;
    for (size_t p = 0; p < port_time.size(); ++p) {
      if (port_time[p] != TimeSource::device_clock) continue;
      uint64_t ticks = 0;
      const uint64_t before = rte_rdtsc();
      if (rte_eth_read_clock(config.ports[p], &ticks) != 0) continue;
      const uint64_t after = rte_rdtsc();
      if (after - before > hz / 100'000) continue;  // 10 us
      rx.port_clocks[p].sample(ticks, rx.clock.ns(before + (after - before) / 2));
    }
  }

  // A started port's TimeSource. A PortFeed stamps the capture's nanoseconds;
  // net_pcap (DPDK 22.11) stamps microseconds
  // since the epoch (without offering the offload); a NIC with the timestamp
  // offload on (start_port asks for it) stamps in the clock rte_eth_read_clock
  // reads; stamps whose clock cannot be read have no known origin: TSC.
  static TimeSource time_source(uint16_t port, bool stamps_registered, const PortFeed* feed) {
    if (!stamps_registered) return TimeSource::tsc;
    if (feed != nullptr) return TimeSource::capture_ns;
    if (port_name(port).rfind("net_pcap", 0) == 0) return TimeSource::capture_us;
    rte_eth_conf conf{};
    uint64_t ticks = 0;
    if (rte_eth_dev_conf_get(port, &conf) == 0 &&
        (conf.rxmode.offloads & RTE_ETH_RX_OFFLOAD_TIMESTAMP) != 0 &&
        rte_eth_read_clock(port, &ticks) == 0)
      return TimeSource::device_clock;
    return TimeSource::tsc;
  }

  void rx_burst(size_t rx_index, size_t port_index, LcoreCounters& c, rte_mbuf** pkts,
                uint16_t n, uint64_t tsc) noexcept {
    RxRole& rx = *this->rx[rx_index];
    const uint64_t burst_ns = rx.clock.ns(tsc);
    const uint16_t targets = config.workers == 0 ? 1 : config.workers;
    rte_mbuf* out[kMaxWorkers][kBurst];
    uint16_t out_n[kMaxWorkers] = {};
    rte_mbuf* to_kernel[kBurst];
    uint16_t to_kernel_n = 0;
    for (uint16_t i = 0; i < n; ++i) {
      rte_mbuf* m = pkts[i];
      const int w = classify(rx, port_index, c, m, burst_ns, tsc);
      if (w >= 0) out[w][out_n[w]++] = m;
      if (w == kToKernel) to_kernel[to_kernel_n++] = m;
    }
    free_death_row(rx, c);
    if (to_kernel_n != 0) {
      const uint16_t sent =
          rte_eth_tx_burst(config.exception_ports[port_index], rx.queue, to_kernel, to_kernel_n);
      c.exception.add(sent);
      if (sent < to_kernel_n) {
        c.drops[static_cast<size_t>(DropReason::exception_busy)].add(to_kernel_n - sent);
        rte_pktmbuf_free_bulk(to_kernel + sent, to_kernel_n - sent);
      }
    }
    for (uint16_t w = 0; w < targets; ++w) {
      if (out_n[w] == 0) continue;
      if (config.workers == 0) {
        run_lanes(*workers[0], 0, c, out[w], out_n[w]);
        continue;
      }
      rte_ring* ring = rings[rx_index * config.workers + w];
      const unsigned sent = rte_ring_sp_enqueue_burst(ring, reinterpret_cast<void**>(out[w]),
                                                      out_n[w], nullptr);
      if (sent < out_n[w]) {
        if (config.backpressure || stop->load(std::memory_order_relaxed)) {
          // A replay, or draining at shutdown: the worker is running, wait for room.
          for (unsigned k = sent; k < out_n[w];)
            k += rte_ring_sp_enqueue_burst(ring, reinterpret_cast<void**>(out[w] + k), out_n[w] - k,
                                           nullptr);
        } else {
          c.drops[static_cast<size_t>(DropReason::worker_busy)].add(out_n[w] - sent);
          rte_pktmbuf_free_bulk(out[w] + sent, out_n[w] - sent);
        }
      }
    }
  }

  // Exception path, kernel to wire: what the TAP interfaces send goes out of
  // their ports, on this lcore's queues. Polled with the housekeeping, as the
  // kernel's few answers can wait a few microseconds.
  void from_kernel(RxRole& rx, LcoreCounters& c) noexcept {
    rte_mbuf* pkts[kBurst];
    for (size_t p = 0; p < config.exception_ports.size(); ++p) {
      const uint16_t n = rte_eth_rx_burst(config.exception_ports[p], rx.queue, pkts, kBurst);
      if (n == 0) continue;
      const uint16_t sent = rte_eth_tx_burst(config.ports[p], rx.queue, pkts, n);
      c.exception_out.add(n);
      if (sent < n) {
        c.exception_out_failed.add(n - sent);
        rte_pktmbuf_free_bulk(pkts + sent, n - sent);
      }
    }
  }

  // Expires reassembly entries older than the timeout (and, at shutdown,
  // every entry) into the death row, counting their fragments as dropped.
  void expire_fragments(RxRole& rx, LcoreCounters& c, uint64_t tms) noexcept {
    for (;;) {
      rte_ip_frag_table_del_expired_entries(rx.frags, &rx.death_row, tms);
      if (rx.death_row.cnt == 0) return;
      free_death_row(rx, c);
    }
  }

  // After a poll of port p that returned n < kBurst frames. A net_pcap
  // queue returns a short burst at the end of its file, when no mbuf was
  // left for a frame it read (rx_nombuf: the frame is lost, reading goes on)
  // and at a record libpcap cannot read (ierrors). After a record header
  // libpcap rejects (a cut or corrupt caplen) its next read takes the frame's
  // bytes for a header, so nothing after it is records: the file ends at its
  // first read error, as tcpdump -r ends there. Otherwise an empty burst
  // with rx_nombuf unchanged since the previous short one is the end.
  // A stats read that fails concludes nothing. A PortFeed's port (the
  // collector's own reader) ends at an empty poll once its feed has ended.
  // Only with file_sources.
  // Returns true once every port has ended.
  static constexpr uint64_t kUnknown = UINT64_MAX;
  bool file_ended(std::vector<uint64_t>& nombuf_marks, std::vector<uint8_t>& ended, size_t p,
                  uint16_t n) noexcept {
    if (ended[p] != 0) return false;
    bool over = false;
    if (const PortFeed* f = feed(p)) {
      // The feed reads within this lcore's polls: after it has ended, an empty poll is the end.
      over = n == 0 && f->ended.load(std::memory_order_relaxed);
    } else {
      rte_eth_stats st{};
      if (rte_eth_stats_get(config.ports[p], &st) != 0) {
        nombuf_marks[p] = kUnknown;
        return false;
      }
      const bool quiet = n == 0 && st.rx_nombuf == nombuf_marks[p];
      nombuf_marks[p] = st.rx_nombuf;
      over = quiet || st.ierrors != 0;
    }
    if (!over) return false;
    ended[p] = 1;
    return std::all_of(ended.begin(), ended.end(), [](uint8_t e) { return e != 0; });
  }

  void rx_loop(size_t rx_index) noexcept {
    RxRole& rx = *this->rx[rx_index];
    LcoreCounters& c = counters[rx_index];
    WallClock& clock = rx.clock;
    clock.anchor();
    WorkerRole* inline_worker = config.workers == 0 ? workers[0].get() : nullptr;
    const uint64_t flush_cycles = rte_get_tsc_hz() / 1000 * config.flush_ms;
    uint64_t next_flush = rte_rdtsc() + flush_cycles;
    rte_mbuf* pkts[kBurst];
    const size_t ports = config.ports.size();
    // After a stop, drain what the queues held, but never more than a full
    // descriptor ring's worth of bursts: a source that never pauses must not
    // keep the collector from stopping.
    const uint32_t drain_passes = config.rx_descriptors / kBurst + 2;
    uint32_t drain_left = UINT32_MAX;
    // file_sources: [port index] rx_nombuf at the last short poll,
    // and whether the port's file has ended. Sized before the loop.
    std::vector<uint64_t> nombuf_marks(config.file_sources ? ports : 0, kUnknown);
    std::vector<uint8_t> ended(config.file_sources ? ports : 0, 0);
    for (uint32_t pass = 0;; ++pass) {
      bool stopping = drain_left != UINT32_MAX;
      if (pass % kHousekeepingEvery == 0) {
        c.loops.inc();
        const uint64_t now = rte_rdtsc();
        expire_fragments(rx, c, now);
        clock.tick(now);
        sample_device_clocks(rx, now);
        if (inline_worker != nullptr && now >= next_flush) {
          flush_open_blocks(*inline_worker);
          next_flush = now + flush_cycles;
        }
        from_kernel(rx, c);
        if (!stopping && stop->load(std::memory_order_relaxed)) {
          stopping = true;
          drain_left = drain_passes;
        }
      }
      if (stopping && drain_left-- == 0) break;
      uint16_t got_total = 0;
      for (size_t p = 0; p < ports; ++p) {
        if (config.file_sources && ended[p] != 0) continue;  // nothing more to read there
        const uint16_t n = rte_eth_rx_burst(config.ports[p], rx.queue, pkts, kBurst);
        if (config.file_sources && n < kBurst && file_ended(nombuf_marks, ended, p, n))
          rx.sources_ended.store(true, std::memory_order_release);
        if (n == 0) continue;
        got_total += n;
        uint64_t bytes = 0;
        for (uint16_t i = 0; i < n; ++i) bytes += pkts[i]->pkt_len;
        c.received.add(n);
        rx.port_counters[p].packets.add(n);
        rx.port_counters[p].bytes.add(bytes);
        rx_burst(rx_index, p, c, pkts, n, rte_rdtsc());
      }
      if (stopping && got_total == 0) break;  // queues drained after stop
    }
    // Fragments still waiting can never complete now.
    expire_fragments(rx, c, UINT64_MAX);
    if (inline_worker != nullptr) {
      flush_open_blocks(*inline_worker);
      inline_worker->done.store(true, std::memory_order_release);
    }
    rx.done.store(true, std::memory_order_release);
  }

  void worker_loop(uint16_t w_index) noexcept {
    WorkerRole& w = *workers[w_index];
    LcoreCounters& c = counters[worker_role_index(w_index)];
    const uint64_t flush_cycles = rte_get_tsc_hz() / 1000 * config.flush_ms;
    uint64_t next_flush = rte_rdtsc() + flush_cycles;
    rte_mbuf* pkts[kBurst];
    const size_t rx_count = rx.size();
    for (uint32_t pass = 0;; ++pass) {
      unsigned got_total = 0;
      for (size_t r = 0; r < rx_count; ++r) {
        const unsigned n = rte_ring_sc_dequeue_burst(rings[r * config.workers + w_index],
                                                     reinterpret_cast<void**>(pkts), kBurst,
                                                     nullptr);
        got_total += n;
        if (n != 0) run_lanes(w, w_index, c, pkts, static_cast<uint16_t>(n));
      }
      if (pass % kHousekeepingEvery == 0) {
        c.loops.inc();
        const uint64_t now = rte_rdtsc();
        if (now >= next_flush) {
          flush_open_blocks(w);
          next_flush = now + flush_cycles;
        }
        if (got_total == 0 && all_rx_done() && rings_empty(w_index)) break;
      }
    }
    flush_open_blocks(w);
    w.done.store(true, std::memory_order_release);
  }

  bool all_rx_done() const noexcept {
    for (const auto& r : rx)
      if (!r->done.load(std::memory_order_acquire)) return false;
    return true;
  }

  bool rings_empty(uint16_t w_index) const noexcept {
    for (size_t r = 0; r < rx.size(); ++r)
      if (rte_ring_count(rings[r * config.workers + w_index]) != 0) return false;
    return true;
  }

  void run_role(size_t role) noexcept {
    if (role < rx.size())
      rx_loop(role);
    else
      worker_loop(static_cast<uint16_t>(role - rx.size()));
  }
};

// ---- Pipeline ----------------------------------------------------------------

Pipeline::Pipeline(const PipelineConfig& config, const std::vector<ExplicitLane>& lanes)
    : config_(config) {
  impl_ = std::make_unique<Impl>(config_);
  Impl& im = *impl_;
  im.stop = &stop_;
  const PipelineConfig& cfg = config_;
  if (cfg.ports.empty()) throw std::runtime_error("no ports: give DPDK a device (EAL -a or --vdev)");
  if (cfg.rx_lcores == 0) throw std::runtime_error("--rx-lcores must be at least 1");
  if (cfg.workers == 0 && cfg.rx_lcores != 1)
    throw std::runtime_error("with --workers 0 the single RX lcore runs the lanes: use --rx-lcores 1");
  if (cfg.workers > kMaxWorkers) throw std::runtime_error("at most 64 workers");
  if (lanes.size() > cfg.max_lanes) throw std::runtime_error("more --lane than --max-lanes");

  // Roles on lcores: the main lcore first, then the workers in EAL order.
  const size_t roles = cfg.rx_lcores + cfg.workers;
  im.role_lcore.push_back(rte_get_main_lcore());
  unsigned lcore_id;
  RTE_LCORE_FOREACH_WORKER(lcore_id) im.role_lcore.push_back(lcore_id);
  if (im.role_lcore.size() < roles)
    throw std::runtime_error(std::to_string(cfg.rx_lcores) + " RX lcores + " +
                             std::to_string(cfg.workers) + " workers need " +
                             std::to_string(roles) + " EAL lcores; EAL has " +
                             std::to_string(im.role_lcore.size()) + " (-l)");
  im.role_lcore.resize(roles);

  static const rte_mbuf_dynfield kMetaField = {"vxcollector_packet_meta", sizeof(PacketMeta),
                                               alignof(PacketMeta), 0};
  g_meta_offset = rte_mbuf_dynfield_register(&kMetaField);
  if (g_meta_offset < 0)
    throw std::runtime_error(std::string("mbuf dynfield: ") + rte_strerror(rte_errno));

  const unsigned socket =
      rte_socket_id() == static_cast<unsigned>(SOCKET_ID_ANY) ? 0 : rte_socket_id();
  im.pool = rte_pktmbuf_pool_create("vxc_mbufs", cfg.mbufs, 256, 0,
                                    static_cast<uint16_t>(RTE_PKTMBUF_HEADROOM + cfg.mbuf_data_room),
                                    static_cast<int>(socket));
  if (im.pool == nullptr)
    throw std::runtime_error(std::string("mbuf pool of ") + std::to_string(cfg.mbufs) +
                             " mbufs: " + rte_strerror(rte_errno) +
                             " (with --no-huge, give EAL more memory: -m)");

  im.counters = std::make_unique<LcoreCounters[]>(roles);
  im.port_counters = std::make_unique<PortQueueCounters[]>(cfg.rx_lcores * cfg.ports.size());

  // Lanes and their workers.
  const uint16_t worker_roles = cfg.workers == 0 ? 1 : cfg.workers;
  im.lanes = std::make_unique<LaneSlot[]>(cfg.max_lanes);
  for (uint16_t w = 0; w < worker_roles; ++w)
    im.workers.push_back(std::make_unique<WorkerRole>(cfg.max_lanes));
  for (size_t i = 0; i < lanes.size(); ++i) {
    LaneSlot& slot = im.lanes[i];
    const bool by_source = cfg.lane_key == LaneKeyMode::vni_source;
    if (lanes[i].source && !by_source)
      throw std::runtime_error("a lane's source= needs --lane-key vni+source");
    slot.key = by_source ? LaneKey::for_explicit(static_cast<uint32_t>(i))
                         : LaneKey::for_vni(lanes[i].vni);
    if (by_source) im.source_lanes.push_back({lanes[i].vni, lanes[i].source, static_cast<uint32_t>(i)});
    slot.vni = lanes[i].vni;
    slot.snaplen = lanes[i].snaplen;
    slot.config_index = static_cast<uint32_t>(i);
    slot.worker = cfg.workers == 0 ? 0 : worker_for_key(slot.key, cfg.workers);
    if (!lanes[i].filter.empty()) slot.filter = &im.filter_for(lanes[i].filter);
    if (im.workers[slot.worker]->table.find(slot.key) != LaneTable::kMissing)
      throw std::runtime_error("two lanes for VNI " + std::to_string(slot.vni));
    im.workers[slot.worker]->table.insert(slot.key, static_cast<uint32_t>(i));
    slot.active.store(true, std::memory_order_release);
  }
  im.lanes_used.store(static_cast<uint32_t>(lanes.size()));

  // Write blocks: a fixed budget per worker, handed back and forth on two rings
  // that can each hold every block (so enqueue never fails).
  const size_t blocks_per_worker =
      std::max<size_t>(4, static_cast<size_t>(cfg.write_buffer_mb) * 1024 * 1024 / sizeof(WriteBlock));
  WriteBlock* next_block = im.block_arena.allocate(blocks_per_worker * worker_roles);
  if (next_block == nullptr)
    throw std::runtime_error(std::string("write buffers (--write-buffer-mb): ") + std::strerror(errno));
  for (uint16_t w = 0; w < worker_roles; ++w) {
    WorkerRole& wr = *im.workers[w];
    wr.spare.reserve(blocks_per_worker);  // holds every block: never reallocates
    wr.total_blocks = blocks_per_worker;
    const std::string suffix = std::to_string(w);
    const unsigned ring_size = static_cast<unsigned>(blocks_per_worker + 1);
    wr.full = rte_ring_create(("vxc_full_" + suffix).c_str(), ring_size, static_cast<int>(socket),
                              RING_F_SP_ENQ | RING_F_SC_DEQ | RING_F_EXACT_SZ);
    wr.free = rte_ring_create(("vxc_free_" + suffix).c_str(), ring_size, static_cast<int>(socket),
                              RING_F_SP_ENQ | RING_F_SC_DEQ | RING_F_EXACT_SZ);
    if (wr.full == nullptr || wr.free == nullptr)
      throw std::runtime_error(std::string("block rings: ") + rte_strerror(rte_errno));
    for (size_t b = 0; b < blocks_per_worker; ++b) wr.spare.push_back(next_block++);
  }

  // RX roles: reassembly table, per-port counters, rings to the workers.
  const uint64_t hz = rte_get_tsc_hz();
  for (uint16_t r = 0; r < cfg.rx_lcores; ++r) {
    auto rx = std::make_unique<RxRole>();
    rx->queue = r;
    rx->port_counters = &im.port_counters[r * cfg.ports.size()];
    rx->frag_timeout_cycles = hz / 1000 * cfg.frag_timeout_ms;
    rx->frags = rte_ip_frag_table_create(cfg.frag_max_flows, kFragBucketEntries,
                                         cfg.frag_max_flows, rx->frag_timeout_cycles,
                                         static_cast<int>(socket));
    if (rx->frags == nullptr)
      throw std::runtime_error(std::string("fragment table: ") + rte_strerror(rte_errno));
    im.rx.push_back(std::move(rx));
    for (uint16_t w = 0; w < cfg.workers; ++w) {
      const std::string name = "vxc_rx" + std::to_string(r) + "_w" + std::to_string(w);
      rte_ring* ring = rte_ring_create(name.c_str(), worker_ring_frames(cfg), static_cast<int>(socket),
                                       RING_F_SP_ENQ | RING_F_SC_DEQ | RING_F_EXACT_SZ);
      if (ring == nullptr) throw std::runtime_error(name + ": " + rte_strerror(rte_errno));
      im.rings.push_back(ring);
    }
  }

  if (!cfg.exception_ports.empty() && cfg.exception_ports.size() != cfg.ports.size())
    throw std::runtime_error("exception path: one TAP port per port");
  PortSetup setup;
  setup.rx_queues = cfg.rx_lcores;
  setup.tx_queues = cfg.exception_ports.empty() ? 0 : cfg.rx_lcores;
  setup.rx_descriptors = cfg.rx_descriptors;
  setup.mtu = cfg.mtu;
  for (uint16_t port : cfg.ports) start_port(port, setup, im.pool);
  for (size_t p = 0; p < cfg.exception_ports.size(); ++p) {
    // The kernel interface answers ARP for the port: give it the port's MAC.
    PortSetup tap;
    tap.rx_queues = cfg.rx_lcores;
    tap.tx_queues = cfg.rx_lcores;
    start_port(cfg.exception_ports[p], tap, im.pool);
    rte_ether_addr mac{};
    if (rte_eth_macaddr_get(cfg.ports[p], &mac) != 0 ||
        rte_eth_dev_default_mac_addr_set(cfg.exception_ports[p], &mac) != 0)
      throw std::runtime_error("exception path: cannot give " + port_name(cfg.exception_ports[p]) +
                               " the MAC address of " + port_name(cfg.ports[p]));
  }
  im.ports_started = true;

  // A PMD that stamps packets registers the timestamp dynfield when started.
  g_timestamp_offset = rte_mbuf_dynfield_lookup(RTE_MBUF_DYNFIELD_TIMESTAMP_NAME, nullptr);
  const int flag_bit = rte_mbuf_dynflag_lookup(RTE_MBUF_DYNFLAG_RX_TIMESTAMP_NAME, nullptr);
  g_timestamp_flag = flag_bit >= 0 && g_timestamp_offset >= 0 ? (1ull << flag_bit) : 0;
  for (size_t p = 0; p < cfg.ports.size(); ++p)
    im.port_time.push_back(Impl::time_source(cfg.ports[p], g_timestamp_flag != 0, im.feed(p)));
  for (auto& rx : im.rx) rx->port_clocks.resize(cfg.ports.size());
}

Pipeline::~Pipeline() {
  Impl& im = *impl_;
  if (im.ports_started) {
    for (uint16_t port : config_.ports) stop_port(port);
    for (uint16_t port : config_.exception_ports) stop_port(port);
  }
  for (rte_ring* ring : im.rings) rte_ring_free(ring);
  for (auto& w : im.workers) {
    rte_ring_free(w->full);
    rte_ring_free(w->free);
  }
  if (config_.leave_memory_to_eal) return;
  for (auto& rx : im.rx) rte_ip_frag_table_destroy(rx->frags);
  rte_mempool_free(im.pool);
}

void Pipeline::run() {
  Impl& im = *impl_;
  std::vector<std::pair<Impl*, size_t>> jobs;
  jobs.reserve(im.role_lcore.size());
  for (size_t role = 0; role < im.role_lcore.size(); ++role) jobs.emplace_back(&im, role);
  auto launch_role = [](void* arg) -> int {
    auto* job = static_cast<std::pair<Impl*, size_t>*>(arg);
    job->first->run_role(job->second);
    return 0;
  };
  for (size_t role = 1; role < jobs.size(); ++role) {
    const int rc = rte_eal_remote_launch(launch_role, &jobs[role], im.role_lcore[role]);
    if (rc != 0)
      throw std::runtime_error("cannot launch lcore " + std::to_string(im.role_lcore[role]));
  }
  im.run_role(0);
  for (size_t role = 1; role < jobs.size(); ++role) rte_eal_wait_lcore(im.role_lcore[role]);
}

uint16_t Pipeline::worker_count() const { return impl_->worker_roles(); }
rte_ring* Pipeline::full_blocks(uint16_t w) const { return impl_->workers[w]->full; }
rte_ring* Pipeline::free_blocks(uint16_t w) const { return impl_->workers[w]->free; }
bool Pipeline::worker_done(uint16_t w) const {
  return impl_->workers[w]->done.load(std::memory_order_acquire);
}

bool Pipeline::sources_ended() const {
  for (const auto& r : impl_->rx)
    if (!r->sources_ended.load(std::memory_order_acquire)) return false;
  return true;
}

uint32_t Pipeline::lane_count() const {
  return std::min(impl_->lanes_used.load(std::memory_order_relaxed), config_.max_lanes);
}
LaneSlot& Pipeline::lane(uint32_t index) const { return impl_->lanes[index]; }

size_t Pipeline::lcore_count() const { return impl_->role_lcore.size(); }
const LcoreCounters& Pipeline::lcore_counters(size_t role) const { return impl_->counters[role]; }

uint64_t Pipeline::packets_in_rings() const {
  uint64_t n = 0;
  for (rte_ring* ring : impl_->rings) n += rte_ring_count(ring);
  return n;
}

const char* Pipeline::port_time_source(size_t port_index) const {
  switch (impl_->port_time.at(port_index)) {
    case Impl::TimeSource::capture_us:
      return "the capture's own (net_pcap)";
    case Impl::TimeSource::capture_ns:
      return "the capture's own";
    case Impl::TimeSource::device_clock:
      return "the NIC's clock, put on the wall clock";
    default:
      return "the TSC at each burst, put on the wall clock";
  }
}

PortStats Pipeline::port_stats(size_t port_index) const {
  PortStats s;
  for (size_t r = 0; r < impl_->rx.size(); ++r) {
    s.rx_packets += impl_->rx[r]->port_counters[port_index].packets.get();
    s.rx_bytes += impl_->rx[r]->port_counters[port_index].bytes.get();
  }
  const uint16_t port = config_.ports[port_index];
  rte_eth_stats st{};
  if (const PortFeed* feed = impl_->feed(port_index)) {
    s.nic_rx_packets = feed->frames.load(std::memory_order_relaxed);
    s.errors = feed->unreadable.load(std::memory_order_relaxed);
  } else if (rte_eth_stats_get(port, &st) == 0) {
    s.nic_rx_packets = st.ipackets;
    s.missed = st.imissed;
    s.errors = st.ierrors;
    s.nombuf = st.rx_nombuf;
  }
  // net_af_packet's ring overflows count only in its kernel socket (DPDK 22.11
  // reports imissed = 0): they are missed frames too.
  s.missed += af_packet_port_drops(port);
  rte_eth_link link{};
  if (rte_eth_link_get_nowait(port, &link) == 0) s.link_up = link.link_status == RTE_ETH_LINK_UP;
  return s;
}

}  // namespace vxc
