// Appends big-endian fields to a byte vector: the frames vxbench and the
// micro-benchmarks build (bench/frames.cpp, bench/micro/micro_frames.cpp).
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

namespace vxc::bench {

class ByteWriter {
 public:
  explicit ByteWriter(std::vector<uint8_t>& out) : out_(out) {}
  size_t size() const { return out_.size(); }
  void u8(uint8_t v) { out_.push_back(v); }
  void u16(uint16_t v) {
    u8(static_cast<uint8_t>(v >> 8));
    u8(static_cast<uint8_t>(v));
  }
  void u32(uint32_t v) {
    u16(static_cast<uint16_t>(v >> 16));
    u16(static_cast<uint16_t>(v));
  }
  void u64(uint64_t v) {
    u32(static_cast<uint32_t>(v >> 32));
    u32(static_cast<uint32_t>(v));
  }
  void bytes(const uint8_t* p, size_t n) {
    for (size_t k = 0; k < n; ++k) out_.push_back(p[k]);  // (insert() trips GCC 12's -Wstringop-overflow)
  }
  // Overwrites two bytes already written (a checksum filled in afterwards).
  void set16(size_t at, uint16_t v) {
    out_[at] = static_cast<uint8_t>(v >> 8);
    out_[at + 1] = static_cast<uint8_t>(v);
  }

 private:
  std::vector<uint8_t>& out_;
};

}  // namespace vxc::bench
