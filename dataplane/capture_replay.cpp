#include "dataplane/capture_replay.h"

#include <rte_errno.h>
#include <rte_malloc.h>
#include <rte_memcpy.h>
#include <rte_mbuf_dyn.h>
#include <sys/stat.h>

#include <algorithm>
#include <cstring>
#include <fstream>
#include <stdexcept>

namespace vxc {
namespace {

// The most bytes one mbuf can point at (buf_len is 16 bits): a longer record
// (up to 256 KiB) takes a chain of segments.
constexpr uint32_t kSegmentBytes = UINT16_MAX;
constexpr uint32_t kMaxSegments = (kMaxCaptureRecordBytes + kSegmentBytes - 1) / kSegmentBytes;

// A record copied into mbufs of the smallest data room (--mbuf-data-room 256).
constexpr uint32_t kMaxCopySegments = kMaxCaptureRecordBytes / 256 + 1;

// Records up to this long are copied into the mbuf's own data room instead:
// for a short frame the copy costs less than attaching the mbuf and detaching
// it again, and a burst of plain mbufs goes back to the pool in one put.
constexpr uint32_t kCopyBytes = 512;

template <typename T>
void store_relaxed(std::atomic<T>& a, T v) noexcept {
  a.store(v, std::memory_order_relaxed);
}

}  // namespace

bool CaptureReplay::takes(const std::string& path, uint16_t rx_lcores) {
  if (rx_lcores != 1) return false;  // one reader, one queue
  struct stat st {};
  if (stat(path.c_str(), &st) != 0 || !S_ISREG(st.st_mode)) return false;  // read with pread()
  std::ifstream in(path, std::ios::binary);
  uint8_t header[kCaptureFileHeaderLen] = {};
  in.read(reinterpret_cast<char*>(header), sizeof header);
  return parse_classic_pcap_header(header, static_cast<size_t>(in.gcount())).has_value();
}

CaptureReplay::CaptureReplay(const std::string& path, bool copy_all)
    : file_(path), copy_all_(copy_all) {
  if (rte_mbuf_dyn_rx_timestamp_register(&timestamp_offset_, &timestamp_flag_) != 0)
    throw std::runtime_error(std::string("--read-pcap: RX timestamp field: ") +
                             rte_strerror(rte_errno));
}

CaptureReplay::~CaptureReplay() {
  if (rte_eth_dev_is_valid_port(port_)) detach();
}

void CaptureReplay::detach() noexcept {
  if (callback_ == nullptr) return;
  // No lcore polls the port any more: the callback's memory is free to go.
  if (rte_eth_remove_rx_callback(port_, 0, callback_) == 0)
    rte_free(const_cast<rte_eth_rxtx_callback*>(callback_));
  callback_ = nullptr;
}

void CaptureReplay::attach(uint16_t port) {
  port_ = port;
  callback_ = rte_eth_add_rx_callback(port, 0, &CaptureReplay::rx_callback, this);
  if (callback_ == nullptr)
    throw std::runtime_error(std::string("--read-pcap: RX callback: ") + rte_strerror(rte_errno));
}

const char* CaptureReplay::stop_reason() const noexcept {
  switch (over_) {
    case CaptureFile::Next::cut:
      return "the file ends inside a record";
    case CaptureFile::Next::too_big:
      return "a record's length is above 262144 bytes (a corrupt record header)";
    case CaptureFile::Next::read_error:
      return "the file could not be read";
    default:
      return "";
  }
}

uint16_t CaptureReplay::rx_callback(uint16_t, uint16_t, rte_mbuf** pkts, uint16_t n, uint16_t,
                                    void* self) noexcept {
  return static_cast<CaptureReplay*>(self)->fill(pkts, n);
}

void CaptureReplay::frame_freed(void*, void* self) noexcept {
  ++static_cast<CaptureReplay*>(self)->segments_freed_;
}

uint16_t CaptureReplay::fill(rte_mbuf** pkts, uint16_t n) noexcept {
  uint16_t got = 0;
  while (got < n && over_ == CaptureFile::Next::record) {
    if (!record_pending_) {
      // Only with no frame of ours in use may the buffer move.
      const bool idle = copy_all_ || segments_attached_ == segments_freed_;
      const CaptureFile::Next next = file_.next(record_, idle);
      if (next == CaptureFile::Next::later) break;  // this burst's frames hold the buffer
      if (next != CaptureFile::Next::record) {
        over_ = next;
        if (next != CaptureFile::Next::end) store_relaxed<uint64_t>(feed_.unreadable, 1);
        store_relaxed(feed_.ended, true);
        break;
      }
      record_pending_ = true;
    }
    if (!give_record(pkts[got])) break;
    record_pending_ = false;
    ++got;
  }
  if (got < n) rte_pktmbuf_free_bulk(pkts + got, n - got);
  if (got != 0) store_relaxed(feed_.frames, feed_.frames.load(std::memory_order_relaxed) + got);
  return got;
}

bool CaptureReplay::give_record(rte_mbuf* head) noexcept {
  const bool copy = copy_all_ || record_.caplen <= kCopyBytes;
  if (!(copy ? copy_record(head) : attach_record(head))) return false;
  *RTE_MBUF_DYNFIELD(head, timestamp_offset_, rte_mbuf_timestamp_t*) = record_.ts_ns;
  head->ol_flags |= timestamp_flag_;
  return true;
}

bool CaptureReplay::copy_record(rte_mbuf* head) noexcept {
  const uint32_t caplen = record_.caplen;
  const uint32_t room = head->buf_len - head->data_off;  // every mbuf of the pool alike
  if (caplen <= room) {  // the usual case
    rte_memcpy(rte_pktmbuf_mtod(head, uint8_t*), record_.data, caplen);
    head->data_len = static_cast<uint16_t>(caplen);
    head->pkt_len = caplen;
    return true;
  }
  const uint32_t segments = (caplen + room - 1) / room;  // <= kMaxCopySegments
  rte_mbuf* chain[kMaxCopySegments];
  chain[0] = head;
  if (rte_pktmbuf_alloc_bulk(head->pool, chain + 1, segments - 1) != 0) return false;
  const uint8_t* from = record_.data;
  uint32_t left = caplen;
  for (uint32_t i = 0; i < segments; ++i) {
    rte_mbuf* m = chain[i];
    const uint32_t len = std::min(left, room);
    std::memcpy(rte_pktmbuf_mtod(m, uint8_t*), from, len);
    m->data_len = static_cast<uint16_t>(len);
    if (i != 0) chain[i - 1]->next = m;
    from += len;
    left -= len;
  }
  head->nb_segs = static_cast<uint16_t>(segments);
  head->pkt_len = caplen;
  return true;
}

bool CaptureReplay::attach_record(rte_mbuf* head) noexcept {
  const uint32_t caplen = record_.caplen;
  const uint32_t segments = std::max<uint32_t>(1, (caplen + kSegmentBytes - 1) / kSegmentBytes);
  rte_mbuf* chain[kMaxSegments];
  chain[0] = head;
  if (segments > 1 && rte_pktmbuf_alloc_bulk(head->pool, chain + 1, segments - 1) != 0) return false;
  // The read buffer is CaptureFile's own memory: the dataplane may write into
  // the frame (it keeps a packet's lane in the consumed outer headers).
  auto* at = const_cast<uint8_t*>(record_.data);
  uint32_t left = caplen;
  for (uint32_t i = 0; i < segments; ++i) {
    rte_mbuf* m = chain[i];
    // The mbuf's own data room is unused while it points at the record: it
    // holds the external buffer's bookkeeping. Refcount 1: freeing it takes
    // no atomic operation.
    auto* info = static_cast<rte_mbuf_ext_shared_info*>(m->buf_addr);
    info->free_cb = &CaptureReplay::frame_freed;
    info->fcb_opaque = this;
    rte_mbuf_ext_refcnt_set(info, 1);
    const auto len = static_cast<uint16_t>(std::min(left, kSegmentBytes));
    rte_pktmbuf_attach_extbuf(m, at, RTE_BAD_IOVA, len, info);  // never DMA'd
    m->data_len = len;
    if (i != 0) chain[i - 1]->next = m;
    at += len;
    left -= len;
  }
  head->nb_segs = static_cast<uint16_t>(segments);
  head->pkt_len = caplen;
  segments_attached_ += segments;
  return true;
}

}  // namespace vxc
