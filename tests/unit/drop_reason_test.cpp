// The drop-reason list drives the enum, the metric label and the README table:
// this keeps the README in step with dataplane/drop_reasons.def.
#include <gtest/gtest.h>

#include <fstream>
#include <set>
#include <sstream>
#include <string>

#include "dataplane/drop_reason.h"

namespace vxc {
namespace {

TEST(DropReason, NamesAreUniqueLabelValues) {
  std::set<std::string_view> seen;
  for (std::string_view name : kDropReasonNames) {
    EXPECT_TRUE(seen.insert(name).second) << name;
    EXPECT_EQ(name.find_first_not_of("abcdefghijklmnopqrstuvwxyz_"), std::string_view::npos) << name;
  }
  EXPECT_EQ(drop_reason_name(DropReason::writer_busy), "writer_busy");
}

TEST(DropReason, ReadmeTableListsEveryReasonWithItsHelp) {
  std::ifstream in(std::string(VXC_SOURCE_ROOT) + "/README.md");
  ASSERT_TRUE(in) << "README.md not found under " << VXC_SOURCE_ROOT;
  std::stringstream text;
  text << in.rdbuf();
  const std::string readme = text.str();
  for (size_t i = 0; i < kDropReasonCount; ++i) {
    const std::string row = "| `" + std::string(kDropReasonNames[i]) + "` | " +
                            std::string(kDropReasonHelp[i]) + " |";
    EXPECT_NE(readme.find(row), std::string::npos) << "README.md lacks the row: " << row;
  }
}

}  // namespace
}  // namespace vxc
