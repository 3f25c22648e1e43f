#include <array>

#include "ops.hpp"

namespace portd::daemon {
namespace {

using Handler = void (*)(OpContext&);

struct Entry {
  proto::Op op;
  Handler handler;
  bool needs_store;
};

// Indexed by proto::Op, which is sorted by name; the static_assert below
// keeps the two in step.
constexpr std::array<Entry, 12> kOps = {{
    {proto::Op::allocate, op_allocate, true},
    {proto::Op::allocate_all, op_allocate_all, true},
    {proto::Op::check, op_check, true},
    {proto::Op::export_, op_export, true},
    {proto::Op::gc, op_gc, true},
    {proto::Op::health, op_health, true},
    {proto::Op::hello, op_hello, false},
    {proto::Op::import, op_import, true},
    {proto::Op::list, op_list, true},
    {proto::Op::release, op_release, true},
    {proto::Op::stats, op_stats, true},
    {proto::Op::watch, op_watch, false},
}};

constexpr bool table_in_order() {
  for (std::size_t i = 0; i < kOps.size(); ++i) {
    if (static_cast<std::size_t>(kOps[i].op) != i) return false;
  }
  return true;
}
static_assert(table_in_order(), "kOps must list every proto::Op in enum order");

}  // namespace

bool needs_store(proto::Op op) noexcept {
  return kOps[static_cast<std::size_t>(op)].needs_store;
}

void dispatch(OpContext& ctx) {
  kOps[static_cast<std::size_t>(ctx.request.op)].handler(ctx);
}

}  // namespace portd::daemon
