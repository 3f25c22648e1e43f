// Packing a MessagePack map whose entries depend on the data (optional
// fields) without counting them by hand: the caller's field list runs once
// to count and once to pack, so the header and the entries cannot disagree.
#pragma once

#include <cstdint>
#include <string_view>

#include <msgpack.hpp>

#include "proto/sink.hpp"

namespace portd::proto {

/// Receives the entries of one map. In the counting pass nothing is packed
/// and value callbacks are not called, so values that cost something to
/// build (an RFC 3339 string, a nested map) belong in a callback.
class MapWriter {
 public:
  /// One entry with a string value.
  void str(std::string_view key, std::string_view value) {
    if (key_(key)) pack_string(*pk_, value);
  }
  /// One entry whose value msgpack packs from its C++ type (integers in
  /// their shortest form, bool as true/false).
  template <class T>
  void num(std::string_view key, T value) {
    if (key_(key)) pk_->pack(value);
  }
  /// One entry whose value `pack(Packer&)` writes (maps, arrays, ...).
  template <class F>
  void value(std::string_view key, F&& pack) {
    if (key_(key)) pack(*pk_);
  }

  /// Packs the map that `fields(MapWriter&)` describes. `fields` runs twice
  /// and must add the same entries both times.
  template <class F>
  static void pack(Packer& pk, F&& fields) {
    MapWriter counter(nullptr);
    fields(counter);
    pk.pack_map(counter.count_);
    MapWriter writer(&pk);
    fields(writer);
  }

 private:
  explicit MapWriter(Packer* pk) : pk_(pk) {}

  // Counts the entry, or packs its key; true when the value is to be packed.
  bool key_(std::string_view key) {
    ++count_;
    if (!pk_) return false;
    pack_key(*pk_, key);
    return true;
  }

  Packer* pk_;
  std::uint32_t count_ = 0;
};

/// Packs the map of `fields` (see MapWriter::pack).
template <class F>
void pack_map(Packer& pk, F&& fields) {
  MapWriter::pack(pk, std::forward<F>(fields));
}

}  // namespace portd::proto
