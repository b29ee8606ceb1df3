// --read-pcap of a classic pcap Ethernet capture, read by the RX lcore
// itself: no libpcap, and no copy of a long frame into an mbuf.
//
// The replay's port is a net_null vdev. Its RX callback (on the RX lcore,
// inside rte_eth_rx_burst) takes the mbufs net_null allocated and attaches
// each to the next record where it lies in CaptureFile's read buffer (an
// external buffer, RTE_MBUF_F_EXTERNAL): the file is read with large pread()s
// into that buffer and a long frame is never copied again; a short one (up to
// 512 bytes) is copied into the mbuf, which costs less than attaching and
// detaching it. net_pcap instead reads through libpcap's 4 KiB reads and
// copies every frame into an mbuf.
//
// The buffer is refilled (which moves or overwrites its records) only when
// every frame attached to it has been freed again: the mbufs' free callback
// counts them. With one RX lcore running the lanes itself (no worker lcores)
// that is at the start of every poll, as a burst is written, filtered or
// dropped before the next; a fragment waiting for reassembly is copied
// first (Pipeline). With worker lcores, frames wait in rings and are freed
// on other lcores: every record is then copied into mbufs (a chain where it
// is longer than one holds), and the buffer is free to move at any time.
// The records are the capture's own bytes, as libpcap would give them
// (CaptureFile); frames are stamped with the capture's time in nanoseconds
// (PortFeed).
//
// Replays this does not take (pcapng, other link types, a file that is not
// a regular file, more than one RX lcore) go through net_pcap:
// CaptureReplay::takes().
#pragma once

#include <rte_ethdev.h>
#include <rte_mbuf.h>

#include <cstdint>
#include <string>

#include "dataplane/capture_file.h"
#include "dataplane/pipeline.h"

namespace vxc {

class CaptureReplay {
 public:
  // Whether `path` is a capture this reads (a regular file holding a classic
  // pcap Ethernet capture; false when it cannot be opened), for a pipeline
  // of `rx_lcores` RX lcores.
  static bool takes(const std::string& path, uint16_t rx_lcores);

  // Opens `path` (throws std::runtime_error naming it when it cannot be
  // opened) and registers DPDK's RX timestamp field. Before the Pipeline.
  // `copy_all`: every record is copied into mbufs (for worker lcores, which
  // free frames on their own lcores).
  CaptureReplay(const std::string& path, bool copy_all);
  // detach() if the port is still there.
  ~CaptureReplay();
  CaptureReplay(const CaptureReplay&) = delete;
  CaptureReplay& operator=(const CaptureReplay&) = delete;

  // For PipelineConfig::port_feeds.
  const PortFeed& feed() const noexcept { return feed_; }
  // Starts feeding queue 0 of `port` (a started net_null port). Throws
  // std::runtime_error when the callback cannot be added.
  void attach(uint16_t port);
  // Removes the RX callback. Once the dataplane has stopped, before the port closes.
  void detach() noexcept;
  // Why reading stopped early, for the log ("" when the file ended whole).
  const char* stop_reason() const noexcept;

 private:
  static uint16_t rx_callback(uint16_t port, uint16_t queue, rte_mbuf** pkts, uint16_t n,
                              uint16_t max, void* self) noexcept;
  static void frame_freed(void* addr, void* self) noexcept;
  // Attaches mbufs[0, n) to the next records; frees the rest. Returns how many.
  uint16_t fill(rte_mbuf** pkts, uint16_t n) noexcept;
  // Gives record_ to `head`: copied into it when short or copy_all_ (into a
  // chain with more mbufs from its pool where it does not fit), else `head`
  // (and more segments for a record longer than an mbuf can point at) is
  // attached to it. False when no mbuf was left for a segment: the record is
  // then given at the next poll.
  bool give_record(rte_mbuf* head) noexcept;
  bool copy_record(rte_mbuf* head) noexcept;
  bool attach_record(rte_mbuf* head) noexcept;

  CaptureFile file_;
  const bool copy_all_;
  PortFeed feed_;
  CaptureRecord record_;        // the next record to attach, when record_pending_
  bool record_pending_ = false;
  CaptureFile::Next over_ = CaptureFile::Next::record;  // how reading ended, once it has
  uint64_t segments_attached_ = 0;  // RX lcore only
  uint64_t segments_freed_ = 0;     // RX lcore only (the mbufs' free callback)
  int timestamp_offset_ = -1;
  uint64_t timestamp_flag_ = 0;
  uint16_t port_ = 0;
  const rte_eth_rxtx_callback* callback_ = nullptr;
};

}  // namespace vxc
