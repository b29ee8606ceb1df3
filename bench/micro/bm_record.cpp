// pcap record writer. BM_Record: what the worker does per packet in
// append_record (dataplane/pipeline.cpp): truncate to snaplen, encode the
// record header, copy the inner frame's first bytes out of the mbuf, into a
// 64 KiB write block. A full block starts over (the pipeline hands it to the
// writer thread and takes a free one). Bytes are the record bytes produced.
// BM_LaneFileAppend: the writer thread's side, LaneFile::append of full
// blocks into the page cache (a real file under /tmp, rotated, ring of 2).
#include <benchmark/benchmark.h>
#include <rte_mbuf.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <memory>

#include "collector/pcap_file.h"
#include "dataplane/lanes.h"
#include "dataplane/pcap_record.h"
#include "eal.h"

namespace vxc::micro {
namespace {

constexpr uint64_t kStartNs = 1'700'000'000'000'000'000ull;

void BM_Record(benchmark::State& state, PcapFormat format) {
  const uint32_t snaplen = static_cast<uint32_t>(state.range(0));
  const std::vector<rte_mbuf*>& pkts = inner_mbufs();
  auto block = std::make_unique<WriteBlock>();
  uint64_t ts_ns = kStartNs;
  uint64_t bytes = 0;
  size_t i = 0;
  for (auto _ : state) {
    const rte_mbuf* m = pkts[i];
    const uint32_t caplen = std::min(snaplen, m->pkt_len);
    const size_t need = record_size(format, caplen);
    if (block->used + need > kWriteBlockBytes) {
      benchmark::ClobberMemory();  // the block's bytes are "handed over"
      block->used = 0;
    }
    uint8_t* record = block->data + block->used;
    uint8_t* data = begin_record(format, record, ts_ns, caplen, m->pkt_len);
    std::memcpy(data, rte_pktmbuf_mtod(m, const uint8_t*), caplen);  // single segment
    finish_record(format, record, caplen);
    block->used += static_cast<uint32_t>(need);
    bytes += need;
    ts_ns += 1000;
    if (++i == pkts.size()) i = 0;
  }
  benchmark::DoNotOptimize(block->data);
  benchmark::ClobberMemory();
  state.SetItemsProcessed(state.iterations());
  state.SetBytesProcessed(static_cast<int64_t>(bytes));
}

BENCHMARK_CAPTURE(BM_Record, pcap, PcapFormat::pcap_usec)->Arg(64)->Arg(128)->Arg(256)->Arg(65535);
BENCHMARK_CAPTURE(BM_Record, pcapng, PcapFormat::pcapng)->Arg(128)->Arg(65535);

void BM_LaneFileAppend(benchmark::State& state) {
  const std::vector<rte_mbuf*>& pkts = inner_mbufs();
  auto block = std::make_unique<WriteBlock>();
  for (size_t i = 0;; i = (i + 1) % pkts.size()) {  // fill one block with snaplen-128 records
    const uint32_t caplen = std::min<uint32_t>(128, pkts[i]->pkt_len);
    const size_t need = record_size(PcapFormat::pcap_usec, caplen);
    if (block->used + need > kWriteBlockBytes) break;
    uint8_t* data = begin_record(PcapFormat::pcap_usec, block->data + block->used,
                                 kStartNs + i * 1000, caplen, pkts[i]->pkt_len);
    std::memcpy(data, rte_pktmbuf_mtod(pkts[i], const uint8_t*), caplen);
    block->used += static_cast<uint32_t>(need);
  }

  const std::filesystem::path dir =
      std::filesystem::temp_directory_path() / ("vxmicro_" + std::to_string(getpid()));
  std::filesystem::create_directories(dir);
  {
    CompletedFiles completed(dir, 0);
    LaneFileOptions options;
    options.lane_name = "bench";
    options.rotate_bytes = 64ull << 20;
    options.ring_files = 2;
    LaneFile file(dir, options, completed);
    for (auto _ : state) {
      if (const int err = file.append(block->data, block->used); err != 0) {
        state.SkipWithError(std::strerror(err));
        break;
      }
    }
  }
  std::filesystem::remove_all(dir);
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * block->used));
}

BENCHMARK(BM_LaneFileAppend)->Unit(benchmark::kMicrosecond);

}  // namespace
}  // namespace vxc::micro
