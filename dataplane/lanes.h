// Lanes (one per mirror session) as the dataplane sees them, and the write
// blocks that carry their records to the writer threads.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
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

struct WriteBlock {
  uint32_t lane = 0;         // LaneSlot index
  uint32_t packets = 0;      // records in data
  uint32_t used = 0;         // bytes of data in use
  uint64_t inner_bytes = 0;  // sum of the packets' inner frame lengths (before truncation)
  alignas(64) uint8_t data[kWriteBlockBytes];
};

// One lane. Slots live in one array sized --max-lanes, allocated at start.
// Explicit lanes are filled before the dataplane starts; auto lanes are filled
// by the owning worker, which then publishes `active` with release order.
struct alignas(64) LaneSlot {
  // Set before `active` is published; read-only afterwards.
  uint32_t vni = 0;
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

// VNI -> lane slot, owned by one worker (no sharing, no locks). Open
// addressing with linear probing; sized at start for every lane the worker
// could own, so inserting never allocates.
class VniTable {
 public:
  explicit VniTable(size_t max_entries) {
    size_t cap = 16;
    while (cap < max_entries * 2) cap <<= 1;
    entries_.assign(cap, 0);
    mask_ = cap - 1;
  }
  static constexpr uint32_t kMissing = UINT32_MAX;

  uint32_t find(uint32_t vni) const noexcept {
    for (size_t i = hash(vni);; i = (i + 1) & mask_) {
      const uint64_t e = entries_[i];
      if (e == 0) return kMissing;
      if (static_cast<uint32_t>(e >> 32) == vni + 1) return static_cast<uint32_t>(e);
    }
  }
  // The caller guarantees capacity (at most max_entries inserts).
  void insert(uint32_t vni, uint32_t slot) noexcept {
    size_t i = hash(vni);
    while (entries_[i] != 0) i = (i + 1) & mask_;
    entries_[i] = static_cast<uint64_t>(vni + 1) << 32 | slot;
  }

 private:
  size_t hash(uint32_t vni) const noexcept { return (vni * 0x9e3779b1u) & mask_; }
  std::vector<uint64_t> entries_;  // (vni + 1) << 32 | slot; 0 = empty
  size_t mask_ = 0;
};

// Which worker owns a VNI: fixed for the run, so every RX lcore sends a VNI's
// packets to the same worker and each lane has exactly one writer.
inline uint16_t worker_for_vni(uint32_t vni, uint16_t workers) noexcept {
  return static_cast<uint16_t>((vni * 0x9e3779b1u >> 16) % workers);
}

}  // namespace vxc
