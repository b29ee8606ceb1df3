// Lane table, VNI -> worker assignment, allow-list CIDRs and --lane parsing.
#include <gtest/gtest.h>

#include <set>

#include "collector/options.h"
#include "dataplane/lanes.h"
#include "dataplane/pipeline.h"

namespace vxc {
namespace {

TEST(LaneTable, FindsWhatWasInsertedAndNothingElse) {
  LaneTable table(1024);
  for (uint32_t i = 0; i < 1024; ++i) EXPECT_TRUE(table.insert(LaneKey::for_vni(i * 7919 % 0x1000000), i));
  for (uint32_t i = 0; i < 1024; ++i) EXPECT_EQ(table.find(LaneKey::for_vni(i * 7919 % 0x1000000)), i);
  EXPECT_EQ(table.find(LaneKey::for_vni(0xffffff)), LaneTable::kMissing);
  EXPECT_EQ(table.find(LaneKey::for_vni(1)), LaneTable::kMissing);
  EXPECT_FALSE(table.insert(LaneKey::for_vni(1), 5)) << "full at max_entries";
}

TEST(LaneTable, VniZeroAndMaxAreOrdinaryKeys) {
  LaneTable table(2);
  table.insert(LaneKey::for_vni(0), 5);
  table.insert(LaneKey::for_vni(0xffffff), 6);
  EXPECT_EQ(table.find(LaneKey::for_vni(0)), 5u);
  EXPECT_EQ(table.find(LaneKey::for_vni(0xffffff)), 6u);
}

TEST(LaneKey, KindsNeverCollide) {
  const std::array<uint8_t, 16> a{10, 0, 0, 1};
  const std::array<uint8_t, 16> b{10, 0, 0, 2};
  LaneTable table(8);
  const LaneKey keys[] = {LaneKey::for_vni(42), LaneKey::for_source(42, 4, a),
                          LaneKey::for_source(42, 4, b), LaneKey::for_source(42, 6, a),
                          LaneKey::for_gwlbe(42), LaneKey::for_gwlbe(0), LaneKey::for_explicit(42)};
  for (uint32_t i = 0; i < std::size(keys); ++i) ASSERT_TRUE(table.insert(keys[i], i));
  for (uint32_t i = 0; i < std::size(keys); ++i) EXPECT_EQ(table.find(keys[i]), i);
  // IPv4 sources ignore the bytes past the address.
  std::array<uint8_t, 16> junk = a;
  junk[7] = 0x99;
  EXPECT_EQ(LaneKey::for_source(42, 4, junk), LaneKey::for_source(42, 4, a));
}

TEST(LaneKey, AutoLaneNamesArePlainFileNames) {
  EXPECT_EQ(auto_lane_name(LaneKey::for_vni(42)), "vni-42");
  EXPECT_EQ(auto_lane_name(LaneKey::for_source(7, 4, {10, 1, 2, 3})), "vni-7-10.1.2.3");
  EXPECT_EQ(lane_source_label(LaneKey::for_source(7, 4, {10, 1, 2, 3})), "10.1.2.3");
  const std::array<uint8_t, 16> v6{0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1};
  EXPECT_EQ(auto_lane_name(LaneKey::for_source(7, 6, v6)), "vni-7-2001-db8--1");
  EXPECT_EQ(lane_source_label(LaneKey::for_source(7, 6, v6)), "2001:db8::1");
  EXPECT_EQ(auto_lane_name(LaneKey::for_gwlbe(0x0123456789abcdefull)), "gwlbe-0123456789abcdef");
  EXPECT_EQ(lane_source_label(LaneKey::for_vni(42)), "");
}

TEST(WorkerForKey, IsStableAndSpreadsSequentialVnis) {
  std::set<uint16_t> used;
  for (uint32_t vni = 100; vni < 164; ++vni) {
    const uint16_t w = worker_for_key(LaneKey::for_vni(vni), 4);
    EXPECT_LT(w, 4);
    EXPECT_EQ(w, worker_for_key(LaneKey::for_vni(vni), 4));
    used.insert(w);
  }
  EXPECT_EQ(used.size(), 4u);
}

std::array<uint8_t, 16> v4(uint8_t a, uint8_t b, uint8_t c, uint8_t d) { return {a, b, c, d}; }

TEST(Cidr, MatchesPrefixesOfBothFamilies) {
  const Cidr net = Cidr::parse("172.16.0.0/12");
  EXPECT_TRUE(net.contains(4, v4(172, 31, 255, 255)));
  EXPECT_FALSE(net.contains(4, v4(172, 32, 0, 0)));
  EXPECT_FALSE(net.contains(6, v4(172, 16, 0, 0)));
  EXPECT_TRUE(Cidr::parse("10.0.0.1").contains(4, v4(10, 0, 0, 1)));
  EXPECT_FALSE(Cidr::parse("10.0.0.1").contains(4, v4(10, 0, 0, 2)));
  EXPECT_TRUE(Cidr::parse("0.0.0.0/0").contains(4, v4(1, 2, 3, 4)));
  const Cidr v6 = Cidr::parse("2001:db8::/33");
  std::array<uint8_t, 16> a{0x20, 0x01, 0x0d, 0xb8, 0x7f};
  EXPECT_TRUE(v6.contains(6, a));
  a[4] = 0x80;
  EXPECT_FALSE(v6.contains(6, a));
  EXPECT_THROW(Cidr::parse("10.0.0.0/33"), std::invalid_argument);
  EXPECT_THROW(Cidr::parse("10.0.0/8"), std::invalid_argument);
  EXPECT_THROW(Cidr::parse("10.0.0.0/"), std::invalid_argument);
  EXPECT_THROW(Cidr::parse("10.0.0.0/-1"), std::invalid_argument);
  EXPECT_THROW(Cidr::parse("10.0.0.1/24"), std::invalid_argument);  // host bits set
  EXPECT_THROW(Cidr::parse("2001:db8::1/64"), std::invalid_argument);
}

TEST(ParseLane, ReadsEveryKey) {
  const LaneOptions l = parse_lane(
      "name=web,vni=42,snaplen=256,filter=tcp port 443,rotate-mb=5,rotate-seconds=60,ring=3");
  EXPECT_EQ(l.name, "web");
  EXPECT_EQ(l.vni, 42u);
  EXPECT_EQ(l.snaplen, 256u);
  EXPECT_EQ(l.filter, "tcp port 443");
  EXPECT_EQ(l.rotate_mb, 5);
  EXPECT_EQ(l.rotate_seconds, 60);
  EXPECT_EQ(l.ring, 3);
}

TEST(ParseLane, FilterMayHoldCommasAndDefaultsApply) {
  const LaneOptions l = parse_lane("vni=7,filter=tcp[tcpflags] & (tcp-syn|tcp-fin) != 0 and len > 60,ring=2");
  EXPECT_EQ(l.name, "vni-7");
  EXPECT_EQ(l.filter, "tcp[tcpflags] & (tcp-syn|tcp-fin) != 0 and len > 60");
  EXPECT_EQ(l.ring, 2);
  EXPECT_EQ(l.snaplen, 0u);
  EXPECT_EQ(l.rotate_mb, -1);
  EXPECT_EQ(parse_lane("vni=1,filter=ether[12:2] = 0x0800, ring=4").filter, "ether[12:2] = 0x0800, ring=4");
}

TEST(ParseLane, SourceTakesACidr) {
  EXPECT_EQ(parse_lane("name=vm1,vni=900,source=10.1.0.0/16").source, "10.1.0.0/16");
  EXPECT_EQ(parse_lane("vni=900,source=2001:db8::5").source, "2001:db8::5");
}

TEST(ParseLane, RejectsBadSpecs) {
  for (const char* bad : {"name=web", "vni=16777216", "vni=-1", "vni=4x", "name=../x,vni=1",
                          "name=a/b,vni=1", "vni=1,snaplen=13", "vni=1,snaplen=65536", "vni=1,colour=red",
                          "vni=1,", "", "vni", "vni=1,source=10.0.0.1/8", "vni=1,source=x"}) {
    EXPECT_THROW(parse_lane(bad), OptionsError) << bad;
  }
}

}  // namespace
}  // namespace vxc
