// Counters shared between one writing thread and the scraper.
//
// One writer per counter: the owner updates with a relaxed load and a relaxed
// store (a plain add, no locked instruction); readers sum rows when /metrics
// is scraped (VPP's per-thread counters, katran's per-CPU maps).
#pragma once

#include <array>
#include <atomic>
#include <cstdint>

#include "drop_reason.h"

namespace vxc {

class Counter {
 public:
  void add(uint64_t n) noexcept {
    value_.store(value_.load(std::memory_order_relaxed) + n, std::memory_order_relaxed);
  }
  void inc() noexcept { add(1); }
  uint64_t get() const noexcept { return value_.load(std::memory_order_relaxed); }

 private:
  std::atomic<uint64_t> value_{0};
};

using DropCounters = std::array<Counter, kDropReasonCount>;

// Per RX lcore, per port: what this lcore took from its queue of the port.
struct alignas(64) PortQueueCounters {
  Counter packets;
  Counter bytes;
};

// Per dataplane lcore (RX or worker role). Writer: that lcore.
struct alignas(64) LcoreCounters {
  Counter received;          // frames taken from RX queues (RX role)
  Counter exception;         // frames handed to the exception path
  Counter exception_out;     // frames the kernel sent through the exception path, out of a port
  Counter exception_out_failed;  // of those, frames the port did not take
  Counter fragments_merged;  // fragments absorbed into a reassembled datagram (n-1 per datagram)
  Counter fragments_in;      // outer IPv4 fragments given to reassembly
  Counter reassembled;       // datagrams reassembly produced
  Counter loops;             // housekeeping passes: /healthz watches it move
  DropCounters drops;
};

}  // namespace vxc
