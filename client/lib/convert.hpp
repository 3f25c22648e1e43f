// Conversions between the core model (src/model) and the public client types,
// which must not expose anything from src/ (the public header stands alone).
#pragma once

#include "model/allocate_request.hpp"
#include "model/allocation.hpp"
#include "model/error.hpp"
#include "portd/client.hpp"
#include "proto/codec.hpp"

namespace portd::client::detail {

/// Core allocation -> public allocation.
Allocation to_public(const portd::Allocation& a);
/// Public allocation -> core allocation (for import).
portd::Allocation to_model(const Allocation& a);
/// Public filter -> core filter.
portd::Filter to_model(const Filter& f);
/// Public allocate arguments -> the registry's (allocated_by and prefer unset).
portd::AllocateRequest to_model(const AllocateRequest& a);
/// Public allocate_all arguments -> the codec's request (op allocate_all).
proto::Request to_model(const AllocateAllRequest& a);
/// A core error (from the codec, the daemon's reply or paths) as a client
/// Error with the same code, message, holder and owner.
Error to_client_error(const portd::Error& e);

}  // namespace portd::client::detail
