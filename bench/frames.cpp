#include "frames.h"

#include "bench/builder.h"

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <memory>
#include <random>
#include <stdexcept>

namespace vxc::bench {
namespace {

constexpr uint32_t kTcpHeaderLen = 32;  // 20 + NOP NOP timestamps(10)

// ByteWriter plus a locally administered MAC ending in `last`.
class Builder : public ByteWriter {
 public:
  using ByteWriter::ByteWriter;
  void mac(uint8_t last) {
    const uint8_t m[6] = {0x02, 0, 0, 0, 0, last};
    bytes(m, 6);
  }
};

uint32_t sum16(const uint8_t* p, size_t n, uint32_t sum = 0) {
  for (size_t i = 0; i + 1 < n; i += 2) sum += static_cast<uint32_t>(p[i] << 8 | p[i + 1]);
  if (n % 2 != 0) sum += static_cast<uint32_t>(p[n - 1] << 8);
  return sum;
}

uint16_t fold(uint32_t sum) {
  while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
  return static_cast<uint16_t>(~sum);
}

struct Addrs {
  uint8_t version = 4;
  uint8_t src[16] = {};
  uint8_t dst[16] = {};
};

// IPv4 (with its checksum) or IPv6 header for `payload_len` bytes of `proto`.
void ip_header(Builder& b, const Addrs& a, uint8_t proto, uint32_t payload_len, uint16_t id,
               std::vector<uint8_t>& out) {
  const size_t at = b.size();
  if (a.version == 4) {
    b.u8(0x45);
    b.u8(0);
    b.u16(static_cast<uint16_t>(20 + payload_len));
    b.u16(id);
    b.u16(0x4000);  // DF
    b.u8(64);
    b.u8(proto);
    b.u16(0);
    b.bytes(a.src, 4);
    b.bytes(a.dst, 4);
    b.set16(at + 10, fold(sum16(out.data() + at, 20)));
  } else {
    b.u32(0x60000000u);
    b.u16(static_cast<uint16_t>(payload_len));
    b.u8(proto);
    b.u8(64);
    b.bytes(a.src, 16);
    b.bytes(a.dst, 16);
  }
}

uint32_t pseudo_sum(const Addrs& a, uint8_t proto, uint32_t len) {
  const size_t alen = a.version == 4 ? 4 : 16;
  uint32_t s = sum16(a.src, alen);
  s = sum16(a.dst, alen, s);
  return s + proto + (len >> 16) + (len & 0xffff);
}

// Inner Ethernet + IP + TCP (+ payload) of template i.
std::vector<uint8_t> inner_frame(uint32_t i, bool ack, bool v6, uint32_t payload) {
  std::vector<uint8_t> out;
  Builder b(out);
  Addrs server, client;
  server.version = client.version = v6 ? 6 : 4;
  if (v6) {
    const uint8_t s[16] = {0xfd, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1};
    std::memcpy(server.src, s, 16);
    std::memcpy(client.src, s, 16);
    client.src[15] = 2;
    client.src[12] = static_cast<uint8_t>(i >> 8);
    client.src[13] = static_cast<uint8_t>(i);
  } else {
    const uint8_t s[4] = {192, 168, static_cast<uint8_t>(i % 7), static_cast<uint8_t>(10 + i % 5)};
    const uint8_t c[4] = {172, 16, static_cast<uint8_t>(i >> 8), static_cast<uint8_t>(i)};
    std::memcpy(server.src, s, 4);
    std::memcpy(client.src, c, 4);
  }
  // Data flows server -> client, ACKs client -> server.
  Addrs a = ack ? client : server;
  std::memcpy(a.dst, ack ? server.src : client.src, 16);
  const uint16_t server_port = 443;
  const uint16_t client_port = static_cast<uint16_t>(32768 + (i * 7919u) % 28000);
  const uint32_t data_len = ack ? 0 : payload;

  b.mac(static_cast<uint8_t>(ack ? 0x21 : 0x11));
  b.mac(static_cast<uint8_t>(ack ? 0x11 : 0x21));
  b.u16(v6 ? 0x86dd : 0x0800);
  ip_header(b, a, 6, kTcpHeaderLen + data_len, static_cast<uint16_t>(i * 31), out);
  const size_t tcp = b.size();
  b.u16(ack ? client_port : server_port);
  b.u16(ack ? server_port : client_port);
  b.u32(0x10000000u + i * 1448u);  // seq
  b.u32(0x20000000u + i * 977u);   // ack
  b.u8(static_cast<uint8_t>((kTcpHeaderLen / 4) << 4));
  b.u8(ack ? 0x10 : 0x18);  // ACK / PSH,ACK
  b.u16(502);
  b.u16(0);  // checksum, below
  b.u16(0);
  b.u8(1);
  b.u8(1);
  b.u8(8);
  b.u8(10);
  b.u32(1000000u + i);
  b.u32(2000000u + i);
  for (uint32_t k = 0; k < data_len; ++k) b.u8(static_cast<uint8_t>(i + k));
  const uint32_t tcp_len = static_cast<uint32_t>(out.size() - tcp);
  b.set16(tcp + 16, fold(sum16(out.data() + tcp, tcp_len, pseudo_sum(a, 6, tcp_len))));
  return out;
}

}  // namespace

std::vector<Frame> build_frames(const FrameMix& mix) {
  if (mix.vnis.empty()) throw std::invalid_argument("build_frames: no VNIs");
  std::vector<Frame> frames;
  frames.reserve(mix.templates);
  for (uint32_t i = 0; i < mix.templates; ++i) {
    Frame f;
    f.ack = i % 3 == 2;
    // i / 4 shifts the VNI of every outer-IPv6 frame (i % 4 == 3), so each
    // VNI gets both outer versions.
    f.vni = mix.vnis[(i + i / 4) % mix.vnis.size()];
    const bool outer_v6 = i % 4 == 3;
    const std::vector<uint8_t> inner = inner_frame(i, f.ack, i % 8 == 5, mix.payload);

    Builder b(f.bytes);
    b.mac(0x01);  // the collector
    b.mac(0xfe);  // the cloud's mirror gateway
    b.u16(outer_v6 ? 0x86dd : 0x0800);
    Addrs outer;
    outer.version = outer_v6 ? 6 : 4;
    if (outer_v6) {
      const uint8_t s[16] = {0x20, 0x01, 0x0d, 0xb8, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0};
      std::memcpy(outer.src, s, 16);
      std::memcpy(outer.dst, s, 16);
      outer.src[15] = static_cast<uint8_t>(1 + i % 16);  // 16 mirror sources
      outer.dst[5] = 0;
      outer.dst[15] = 10;
    } else {
      const uint8_t s[4] = {10, 1, 0, static_cast<uint8_t>(1 + i % 16)};
      const uint8_t d[4] = {10, 0, 0, 10};
      std::memcpy(outer.src, s, 4);
      std::memcpy(outer.dst, d, 4);
    }
    const uint32_t udp_len = 8 + 8 + static_cast<uint32_t>(inner.size());
    ip_header(b, outer, 17, udp_len, static_cast<uint16_t>(i), f.bytes);
    b.u16(static_cast<uint16_t>(49152 + (i * 2654435761u >> 18) % 16384));  // flow entropy
    b.u16(4789);
    b.u16(static_cast<uint16_t>(udp_len));
    const size_t udp = b.size() - 6;
    b.u16(0);  // IPv4: no UDP checksum (RFC 7348); IPv6: set below (RFC 6935 would allow 0)
    b.u32(0x08000000u);
    b.u32(f.vni << 8);
    f.outer_len = static_cast<uint32_t>(f.bytes.size());
    b.bytes(inner.data(), inner.size());
    if (outer_v6)
      b.set16(udp + 6, fold(sum16(f.bytes.data() + udp, udp_len, pseudo_sum(outer, 17, udp_len))));
    frames.push_back(std::move(f));
  }
  std::mt19937 rng(42);
  std::shuffle(frames.begin(), frames.end(), rng);
  return frames;
}

void write_pcap(const std::string& path, const std::vector<Frame>& frames, uint64_t count) {
  std::unique_ptr<FILE, int (*)(FILE*)> f(std::fopen(path.c_str(), "wb"), &std::fclose);
  if (!f) throw std::runtime_error("cannot create " + path);
  std::setvbuf(f.get(), nullptr, _IOFBF, 4 << 20);
  struct {
    uint32_t magic = 0xa1b2c3d4u;  // microseconds, host byte order
    uint16_t major = 2, minor = 4;
    uint32_t thiszone = 0, sigfigs = 0, snaplen = 65535, linktype = 1;
  } h;
  static_assert(sizeof h == 24);
  bool ok = std::fwrite(&h, sizeof h, 1, f.get()) == 1;
  const uint64_t t0_us = 1'700'000'000ull * 1'000'000ull;
  for (uint64_t n = 0; n < count && ok; ++n) {
    const Frame& fr = frames[n % frames.size()];
    const uint64_t ts = t0_us + n;
    const uint32_t len = static_cast<uint32_t>(fr.bytes.size());
    const uint32_t rec[4] = {static_cast<uint32_t>(ts / 1'000'000),
                             static_cast<uint32_t>(ts % 1'000'000), len, len};
    ok = std::fwrite(rec, sizeof rec, 1, f.get()) == 1 &&
         std::fwrite(fr.bytes.data(), len, 1, f.get()) == 1;
  }
  if (!ok || std::fflush(f.get()) != 0) throw std::runtime_error("writing " + path + " failed");
  if (std::fclose(f.release()) != 0) throw std::runtime_error("closing " + path + " failed");
}

}  // namespace vxc::bench
