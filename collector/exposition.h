// Prometheus text exposition format 0.0.4, written by hand because
// prometheus-cpp is not packaged for Debian 12.
//
//   # HELP <name> <help, with \ and newline escaped>
//   # TYPE <name> counter|gauge
//   <name>{label="value",...} <value>
//
// Label values escape backslash, double quote and newline. Families must be
// added once each; samples follow their family.
#pragma once

#include <cstdint>
#include <initializer_list>
#include <string>
#include <string_view>
#include <utility>

namespace vxc {

using Label = std::pair<std::string_view, std::string_view>;

class Exposition {
 public:
  // Starts a family: writes its HELP and TYPE lines. type: "counter" or "gauge".
  void family(std::string_view name, std::string_view type, std::string_view help);
  // One sample of the current family.
  void sample(std::initializer_list<Label> labels, uint64_t value);
  void sample(std::initializer_list<Label> labels, double value);
  const std::string& text() const;

  static constexpr std::string_view kContentType = "text/plain; version=0.0.4; charset=utf-8";
};

}  // namespace vxc
