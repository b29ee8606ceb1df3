// Prometheus text exposition format 0.0.4, written by hand because
// prometheus-cpp is not packaged for Debian 12.
//
//   # HELP <name> <help, with \ and newline escaped>
//   # TYPE <name> counter|gauge
//   <name>{label="value",...} <value>
//
// Label values escape backslash, double quote and newline. Families must be
// added once each; samples follow their family. Integers print exactly;
// doubles print the shortest text that reads back to the same value, and NaN,
// +Inf, -Inf as the format spells them.
//
// A malformed exposition makes Prometheus reject the whole scrape, so misuse
// throws before anything is written: std::invalid_argument for a bad metric or
// label name, an unknown type, a repeated family or a label repeated in one
// sample; std::logic_error for a sample before any family.
#pragma once

#include <cstdint>
#include <initializer_list>
#include <set>
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

 private:
  void start_sample(std::initializer_list<Label> labels);

  std::string text_;
  std::string family_;              // name of the current family; empty before the first
  std::set<std::string> families_;  // every family so far, to refuse repeats
};

}  // namespace vxc
