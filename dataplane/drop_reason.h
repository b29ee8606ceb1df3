// Drop reasons: one list (drop_reasons.def) drives the enum, the metric label
// and the README table.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <string_view>

namespace vxc {

enum class DropReason : uint8_t {
#define X(name, help) name,
#include "drop_reasons.def"
#undef X
};

inline constexpr std::array kDropReasonNames = {
#define X(name, help) std::string_view(#name),
#include "drop_reasons.def"
#undef X
};

inline constexpr std::array kDropReasonHelp = {
#define X(name, help) std::string_view(help),
#include "drop_reasons.def"
#undef X
};

inline constexpr size_t kDropReasonCount = kDropReasonNames.size();

constexpr std::string_view drop_reason_name(DropReason r) {
  return kDropReasonNames[static_cast<size_t>(r)];
}

}  // namespace vxc
