#include "project/compose.hpp"

#include <yaml-cpp/yaml.h>

#include <fmt/format.h>

#include <set>

namespace portd::project {
namespace {

bool is_name_char(char c) {
  return c == '_' || (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
}

/// Expands the ${...} body `expr` (without braces).
std::optional<std::string> expand(std::string_view expr, const VariableLookup& lookup,
                                  std::string& error) {
  std::size_t n = 0;
  while (n < expr.size() && is_name_char(expr[n])) ++n;
  std::string name(expr.substr(0, n));
  std::string_view op = expr.substr(n);
  if (name.empty()) {
    error = fmt::format("invalid interpolation '${{{}}}'", expr);
    return std::nullopt;
  }
  auto value = lookup(name);
  bool colon = op.starts_with(':');
  std::string_view rest = colon ? op.substr(1) : op;
  bool missing = !value || (colon && value->empty());
  if (op.empty()) {
    if (value) return value;
  } else if (rest.starts_with('-')) {
    if (!missing) return value;
    return interpolate(rest.substr(1), lookup, error);
  } else if (rest.starts_with('?')) {
    if (!missing) return value;
    error = fmt::format("variable {} is not set: {}", name, rest.substr(1));
    return std::nullopt;
  } else if (rest.starts_with('+')) {
    if (missing) return std::string();
    return interpolate(rest.substr(1), lookup, error);
  } else {
    error = fmt::format("invalid interpolation '${{{}}}'", expr);
    return std::nullopt;
  }
  error = fmt::format("variable {} is not set", name);
  return std::nullopt;
}

}  // namespace

std::optional<std::string> interpolate(std::string_view text, const VariableLookup& lookup,
                                       std::string& error) {
  std::string out;
  for (std::size_t i = 0; i < text.size(); ++i) {
    if (text[i] != '$' || i + 1 == text.size()) {
      out += text[i];
      continue;
    }
    char next = text[i + 1];
    if (next == '$') {
      out += '$';
      ++i;
    } else if (next == '{') {
      // Find the matching brace: defaults may hold ${...} themselves.
      int depth = 0;
      std::size_t j = i + 1;
      for (; j < text.size(); ++j) {
        if (text[j] == '{') ++depth;
        if (text[j] == '}' && --depth == 0) break;
      }
      if (j == text.size()) {
        error = fmt::format("unterminated '${{' in '{}'", text);
        return std::nullopt;
      }
      auto value = expand(text.substr(i + 2, j - i - 2), lookup, error);
      if (!value) return std::nullopt;
      out += *value;
      i = j;
    } else if (is_name_char(next)) {
      std::size_t j = i + 1;
      while (j < text.size() && is_name_char(text[j])) ++j;
      auto value = expand(text.substr(i + 1, j - i - 1), lookup, error);
      if (!value) return std::nullopt;
      out += *value;
      i = j - 1;
    } else {
      out += '$';
    }
  }
  return out;
}

bool is_compose_file_name(std::string_view name) {
  for (std::string_view base : {"compose", "docker-compose"}) {
    if (!name.starts_with(base)) continue;
    std::string_view rest = name.substr(base.size());
    if (rest == ".yml" || rest == ".yaml") return true;
    if (rest.size() > 5 && rest[0] == '.' && (rest.ends_with(".yml") || rest.ends_with(".yaml"))) {
      return true;
    }
  }
  return false;
}

namespace {

/// Parses "N" or "N1-N2" into a list of ports; empty on error.
std::vector<std::uint16_t> port_range(std::string_view text) {
  auto dash = text.find('-');
  if (dash == std::string_view::npos) {
    auto p = parse_port(text);
    return p ? std::vector<std::uint16_t>{p} : std::vector<std::uint16_t>{};
  }
  auto lo = parse_port(text.substr(0, dash));
  auto hi = parse_port(text.substr(dash + 1));
  if (lo == 0 || hi == 0 || hi < lo) return {};
  std::vector<std::uint16_t> ports;
  for (unsigned p = lo; p <= hi; ++p) ports.push_back(static_cast<std::uint16_t>(p));
  return ports;
}

/// Collects a service's findings and names them.
class ServicePorts {
 public:
  ServicePorts(std::string file, std::string service, ScanResult& out)
      : file_(std::move(file)), service_(std::move(service)), out_(out) {}

  void skipped(int line, std::string_view container, std::string protocol, std::string why) {
    Finding f = base(line, std::move(protocol));
    auto dash = container.find('-');
    f.port = parse_port(container.substr(0, dash));
    f.skipped = std::move(why);
    out_.findings.push_back(std::move(f));
  }

  void published(int line, std::string_view host, std::string protocol, std::string host_ip) {
    auto ports = port_range(host);
    if (ports.empty()) {
      Finding f = base(line, std::move(protocol));
      f.skipped = fmt::format("not a host port or range: '{}'", host);
      out_.findings.push_back(std::move(f));
      return;
    }
    for (auto port : ports) {
      Finding f = base(line, protocol);
      f.port = port;
      f.host_ip = host_ip;
      if (named_) f.service = service_name(fmt::format("{}-{}", service_, port));
      named_ = true;
      out_.findings.push_back(std::move(f));
    }
  }

 private:
  Finding base(int line, std::string protocol) const {
    Finding f;
    f.file = file_;
    f.line = line;
    f.service = service_name(service_);
    f.protocol = protocol.empty() ? "tcp" : std::move(protocol);
    return f;
  }
  std::string file_;
  std::string service_;
  ScanResult& out_;
  bool named_ = false;
};

int line_of(const YAML::Node& node) {
  return node.Mark().line + 1;
}

void short_syntax(ServicePorts& svc, int line, std::string spec) {
  std::string protocol = "tcp";
  if (auto slash = spec.rfind('/'); slash != std::string::npos) {
    protocol = spec.substr(slash + 1);
    spec.resize(slash);
  }
  std::string host_ip;
  std::string_view rest = spec;
  if (rest.starts_with('[')) {
    auto close = rest.find(']');
    if (close == std::string_view::npos || close + 1 >= rest.size() || rest[close + 1] != ':') {
      svc.skipped(line, "", protocol, fmt::format("not a port mapping: '{}'", spec));
      return;
    }
    host_ip = std::string(rest.substr(1, close - 1));
    rest = rest.substr(close + 2);
  }
  std::vector<std::string_view> parts;
  for (std::size_t pos = 0;;) {
    auto colon = rest.find(':', pos);
    parts.push_back(rest.substr(pos, colon - pos));
    if (colon == std::string_view::npos) break;
    pos = colon + 1;
  }
  if (!host_ip.empty() && parts.size() == 2) {
    parts.insert(parts.begin(), std::string_view(host_ip));
  }
  if (parts.size() == 1) {
    svc.skipped(line, parts[0], protocol, "container-only (no host port)");
  } else if (parts.size() == 2 || parts.size() == 3) {
    std::string_view host = parts[parts.size() - 2];
    if (parts.size() == 3) host_ip = std::string(parts[0]);
    if (host.empty()) {
      svc.skipped(line, parts.back(), protocol, "random host port");
    } else {
      svc.published(line, host, protocol, host_ip);
    }
  } else {
    svc.skipped(line, "", protocol, fmt::format("not a port mapping: '{}'", spec));
  }
}

std::optional<std::string> scalar(const YAML::Node& node, const VariableLookup& lookup,
                                  std::string& error) {
  if (!node || !node.IsScalar()) return std::nullopt;
  return interpolate(node.Scalar(), lookup, error);
}

void long_syntax(ServicePorts& svc, const YAML::Node& entry, const VariableLookup& lookup) {
  int line = line_of(entry);
  std::string error;
  auto target = scalar(entry["target"], lookup, error).value_or("");
  auto protocol = scalar(entry["protocol"], lookup, error).value_or("tcp");
  auto host_ip = scalar(entry["host_ip"], lookup, error).value_or("");
  auto published = scalar(entry["published"], lookup, error);
  if (!error.empty()) {
    svc.skipped(line, target, protocol, error);
  } else if (!published || published->empty()) {
    svc.skipped(line, target, protocol, "random host port");
  } else {
    svc.published(line, *published, protocol, host_ip);
  }
}

}  // namespace

ScanResult scan_compose(std::string_view text, const std::string& file,
                        const VariableLookup& lookup) {
  ScanResult result;
  YAML::Node root;
  try {
    root = YAML::Load(std::string(text));
  } catch (const YAML::Exception& e) {
    result.errors.push_back({file, e.mark.line + 1, "not valid YAML: " + e.msg});
    return result;
  }
  if (!root.IsMap()) {
    result.errors.push_back({file, 1, "not a compose file: the document is not a mapping"});
    return result;
  }
  YAML::Node services = root["services"];
  if (!services) return result;
  if (!services.IsMap()) {
    result.errors.push_back({file, line_of(services), "'services' is not a mapping"});
    return result;
  }
  for (const auto& item : services) {
    std::string name = item.first.Scalar();
    const YAML::Node& service = item.second;
    if (!service.IsMap()) continue;
    ServicePorts svc(file, name, result);
    if (YAML::Node ports = service["ports"]; ports && ports.IsSequence()) {
      for (const auto& entry : ports) {
        int line = line_of(entry);
        if (entry.IsMap()) {
          long_syntax(svc, entry, lookup);
        } else if (entry.IsScalar()) {
          std::string error;
          auto spec = interpolate(entry.Scalar(), lookup, error);
          if (spec) {
            short_syntax(svc, line, *spec);
          } else {
            svc.skipped(line, "", "tcp", error);
          }
        }
      }
    }
    if (YAML::Node expose = service["expose"]; expose && expose.IsSequence()) {
      for (const auto& entry : expose) {
        if (!entry.IsScalar()) continue;
        std::string spec = entry.Scalar();
        std::string protocol = "tcp";
        if (auto slash = spec.rfind('/'); slash != std::string::npos) {
          protocol = spec.substr(slash + 1);
          spec.resize(slash);
        }
        svc.skipped(line_of(entry), spec, protocol, "container-only (expose)");
      }
    }
  }
  return result;
}

}  // namespace portd::project
