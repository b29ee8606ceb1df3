// Lanes (one per mirror session) as the dataplane sees them, and the write
// blocks that carry their records to the writer threads.
#pragma once

#include <algorithm>
#include <array>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <vector>

#include "counters.h"
#include "pcap_record.h"

namespace vxc {

class BpfFilter;

// Records of one lane, encoded by the worker lcore (dataplane/pcap_record.h),
// written by a writer thread with one write() and handed back. Always whole
// records, so a file never holds half a packet.
inline constexpr size_t kWriteBlockBytes = 64 * 1024 + 64;
// The largest record (pcapng, snaplen 65535) must fit in an empty block.
static_assert(record_size(PcapFormat::pcapng, 65535) <= kWriteBlockBytes);

// Bytes of records a block keeps on the worker's side before streaming them.
inline constexpr size_t kStageBytes = 2048;

// The worker encodes records into `stage` and streams them to data later, a
// whole cache line at a time with non-temporal stores, when the stage is full
// or the block is handed over (which writes the last, unfinished line too).
// The writer reads data[0, used).
struct WriteBlock {
  uint32_t lane = 0;         // LaneSlot index
  uint32_t packets = 0;      // records in the block
  uint32_t used = 0;         // bytes of records in the block
  uint32_t streamed = 0;     // worker only: bytes already in data, whole lines
  uint64_t inner_bytes = 0;  // sum of the packets' inner frame lengths (before truncation)
  // worker only: bytes [streamed, used), and room for a record's data copied in whole lines
  alignas(64) uint8_t stage[kStageBytes + 64];
  alignas(64) uint8_t data[kWriteBlockBytes];
};

// What a lane is keyed by. The RX lcore builds the key from the outer
// headers; the worker that owns the lane looks it up. 20 bytes, compared
// whole, so unused bytes stay zero.
struct LaneKey {
  enum Kind : uint8_t {
    vni = 0,            // VNI (VXLAN, or GENEVE with nested VXLAN / Ethernet payload)
    vni_source4 = 1,    // VNI + IPv4 source of the header that carried it (--lane-key vni+source)
    vni_source6 = 2,    // VNI + IPv6 source
    gwlbe = 3,          // GENEVE L3 payload without nested VXLAN: GWLB endpoint ENI id (0: none)
    explicit_lane = 4,  // resolved by the RX lcore to a --lane with source=CIDR: slot index
  };
  uint32_t kind_vni = 0;          // kind << 24 | VNI (24 bits)
  std::array<uint8_t, 16> id{};   // source address, ENI id (8 bytes, big-endian) or slot index

  Kind kind() const noexcept { return static_cast<Kind>(kind_vni >> 24); }
  uint32_t vni_value() const noexcept { return kind_vni & 0xffffff; }
  // Word by word: the defaulted == calls memcmp, per packet.
  bool operator==(const LaneKey& o) const noexcept {
    uint64_t a, b, oa, ob;
    std::memcpy(&a, id.data(), 8);
    std::memcpy(&b, id.data() + 8, 8);
    std::memcpy(&oa, o.id.data(), 8);
    std::memcpy(&ob, o.id.data() + 8, 8);
    return ((kind_vni ^ o.kind_vni) | (a ^ oa) | (b ^ ob)) == 0;
  }
  uint32_t hash() const noexcept {
    uint64_t a, b;
    std::memcpy(&a, id.data(), 8);
    std::memcpy(&b, id.data() + 8, 8);
    uint64_t h = (kind_vni * 0x9e3779b97f4a7c15ull) ^ (a * 0xc2b2ae3d27d4eb4full) ^
                 (b * 0x165667b19e3779f9ull);
    return static_cast<uint32_t>(h ^ (h >> 29) ^ (h >> 47));
  }

  static LaneKey for_vni(uint32_t vni) noexcept { return {vni & 0xffffff, {}}; }
  static LaneKey for_source(uint32_t vni, uint8_t ip_version, const std::array<uint8_t, 16>& src) noexcept {
    LaneKey k{(uint32_t{ip_version == 6 ? vni_source6 : vni_source4} << 24) | (vni & 0xffffff), src};
    if (ip_version != 6) std::fill(k.id.begin() + 4, k.id.end(), 0);
    return k;
  }
  static LaneKey for_gwlbe(uint64_t eni) noexcept {
    LaneKey k{uint32_t{gwlbe} << 24, {}};
    for (int i = 0; i < 8; ++i) k.id[i] = static_cast<uint8_t>(eni >> (56 - 8 * i));
    return k;
  }
  static LaneKey for_explicit(uint32_t slot) noexcept {
    LaneKey k{uint32_t{explicit_lane} << 24, {}};
    std::memcpy(k.id.data(), &slot, sizeof slot);
    return k;
  }
};
static_assert(sizeof(LaneKey) == 20);

// One lane. Slots live in one array sized --max-lanes, allocated at start.
// Explicit lanes are filled before the dataplane starts; auto lanes are filled
// by the owning worker, which then publishes `active` with release order.
struct alignas(64) LaneSlot {
  // Set before `active` is published; read-only afterwards.
  LaneKey key;
  uint32_t vni = 0;           // label: the VNI (for gwlbe lanes, that of the first packet)
  uint64_t gwlbe_eni = 0;     // label: GWLB endpoint ENI id of the first packet, when it had one
  bool has_gwlbe_eni = false;
  uint32_t snaplen = 0;
  uint32_t config_index = 0;  // index into the explicit lane list; kAutoLane for auto lanes
  uint16_t worker = 0;        // worker lcore that owns this lane
  const BpfFilter* filter = nullptr;
  std::atomic<bool> active{false};  // owner worker: wo once; everyone else: ro (acquire)

  // Owner worker writes.
  alignas(64) Counter filtered;
  Counter buffered;  // packets appended to write blocks

  // Writer thread writes.
  alignas(64) Counter written;
  Counter inner_bytes;
  Counter written_bytes;
  Counter files_completed;
  Counter write_failed;  // packets dropped as write_error or disk_full

  static constexpr uint32_t kAutoLane = UINT32_MAX;
};

// LaneKey -> lane slot, owned by one worker (no sharing, no locks). Open
// addressing with linear probing; sized at start for every key the worker
// could hold, so inserting never allocates.
class LaneTable {
 public:
  explicit LaneTable(size_t max_entries) : max_entries_(max_entries) {
    size_t cap = 16;
    while (cap < max_entries * 2) cap <<= 1;
    entries_.assign(cap, Entry{});
    mask_ = cap - 1;
  }
  static constexpr uint32_t kMissing = UINT32_MAX;

  uint32_t find(const LaneKey& key) const noexcept { return find(key, key.hash()); }
  // `hash` must be key.hash() (the RX lcore computes it once per packet).
  uint32_t find(const LaneKey& key, uint32_t hash) const noexcept {
    for (size_t i = hash & mask_;; i = (i + 1) & mask_) {
      const Entry& e = entries_[i];
      if (e.slot == kMissing || e.key == key) return e.slot;
    }
  }
  // False (and nothing inserted) once max_entries keys are held.
  bool insert(const LaneKey& key, uint32_t slot) noexcept {
    if (size_ == max_entries_) return false;
    size_t i = key.hash() & mask_;
    while (entries_[i].slot != kMissing) i = (i + 1) & mask_;
    entries_[i] = Entry{key, slot};
    ++size_;
    return true;
  }

 private:
  struct Entry {
    LaneKey key;
    uint32_t slot = kMissing;
  };
  std::vector<Entry> entries_;
  size_t mask_ = 0;
  size_t size_ = 0;
  size_t max_entries_;
};

// Which worker owns a key: fixed for the run, so every RX lcore sends a
// lane's packets to the same worker and each lane has exactly one writer.
inline uint16_t worker_for_hash(uint32_t key_hash, uint16_t workers) noexcept {
  return static_cast<uint16_t>((key_hash >> 8) % workers);
}
inline uint16_t worker_for_key(const LaneKey& key, uint16_t workers) noexcept {
  return worker_for_hash(key.hash(), workers);
}

}  // namespace vxc
