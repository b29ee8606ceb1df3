#include "collector/exposition.h"

#include <charconv>
#include <cmath>
#include <stdexcept>
#include <system_error>

namespace vxc {
namespace {

// [a-zA-Z_:][a-zA-Z0-9_:]* for metric names; label names the same without ':'.
bool valid_name(std::string_view name, bool allow_colon) {
  if (name.empty()) return false;
  for (size_t i = 0; i < name.size(); ++i) {
    const char c = name[i];
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' ||
                    (allow_colon && c == ':') || (i > 0 && c >= '0' && c <= '9');
    if (!ok) return false;
  }
  return true;
}

// HELP escapes \ and newline; label values additionally escape ".
void append_escaped(std::string& out, std::string_view text, bool escape_quote) {
  for (const char c : text) {
    if (c == '\\') {
      out += "\\\\";
    } else if (c == '\n') {
      out += "\\n";
    } else if (c == '"' && escape_quote) {
      out += "\\\"";
    } else {
      out += c;
    }
  }
}

template <typename T>
void append_number(std::string& out, T value) {
  char buf[64];
  const auto [end, ec] = std::to_chars(buf, buf + sizeof(buf), value);
  if (ec != std::errc()) throw std::logic_error("exposition: number does not fit");
  out.append(buf, end);
}

}  // namespace

void Exposition::family(std::string_view name, std::string_view type, std::string_view help) {
  if (!valid_name(name, true)) {
    throw std::invalid_argument("exposition: invalid metric name '" + std::string(name) + "'");
  }
  if (type != "counter" && type != "gauge") {
    throw std::invalid_argument("exposition: unknown type '" + std::string(type) + "' for " +
                                std::string(name));
  }
  if (!families_.emplace(name).second) {
    throw std::invalid_argument("exposition: family added twice: " + std::string(name));
  }
  family_ = name;
  text_ += "# HELP ";
  text_ += name;
  text_ += ' ';
  append_escaped(text_, help, false);
  text_ += "\n# TYPE ";
  text_ += name;
  text_ += ' ';
  text_ += type;
  text_ += '\n';
}

void Exposition::start_sample(std::initializer_list<Label> labels) {
  if (family_.empty()) throw std::logic_error("exposition: sample before any family");
  // Check everything before writing, so a throw leaves the text well formed.
  for (auto it = labels.begin(); it != labels.end(); ++it) {
    if (!valid_name(it->first, false)) {
      throw std::invalid_argument("exposition: invalid label name '" + std::string(it->first) +
                                  "' in " + family_);
    }
    for (auto prev = labels.begin(); prev != it; ++prev) {
      if (prev->first == it->first) {
        throw std::invalid_argument("exposition: label '" + std::string(it->first) +
                                    "' repeated in " + family_);
      }
    }
  }
  text_ += family_;
  char sep = '{';
  for (const auto& [label, value] : labels) {
    text_ += sep;
    text_ += label;
    text_ += "=\"";
    append_escaped(text_, value, true);
    text_ += '"';
    sep = ',';
  }
  if (labels.size() > 0) text_ += '}';
  text_ += ' ';
}

void Exposition::sample(std::initializer_list<Label> labels, uint64_t value) {
  start_sample(labels);
  append_number(text_, value);
  text_ += '\n';
}

void Exposition::sample(std::initializer_list<Label> labels, double value) {
  start_sample(labels);
  if (std::isnan(value)) {
    text_ += "NaN";
  } else if (std::isinf(value)) {
    text_ += value > 0 ? "+Inf" : "-Inf";
  } else {
    append_number(text_, value);  // shortest text that round-trips
  }
  text_ += '\n';
}

const std::string& Exposition::text() const { return text_; }

}  // namespace vxc
