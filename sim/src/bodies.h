// The steps both engines take and the message bodies the live engine sends.
// MakeStep gives workflow's view of a step (what the state machine and the
// deadline clocks read); BodyFor gives the body of the same step as
// FlatBuffers JSON of its kind's table, built from the schema's own template
// (schemas::JsonTemplate) with the fields the step needs (a decision's
// outcome, grounds and reasons; an execution report's completeness; ...) and,
// for requests, the contents the law requires filled with simulated values
// (no personal data: fixed placeholder text).
//
// Internal to mlahub::sim. Thread-safe (BodyFor caches templates under a lock).
#pragma once

#include <cstdint>
#include <string>

#include <nlohmann/json.hpp>

#include "mlahub/schemas/common_generated.h"
#include "mlahub/workflow/workflow.h"

namespace mlahub::sim {

// What a message carries beyond its kind.
enum class Variant : uint8_t { kPlain, kExecuteDecision, kRefuseDecision, kFull, kCompleted, kExtension };

workflow::Step MakeStep(wire::MessageKind kind, Variant v, int64_t t);

struct BodyParams {
  wire::MessageKind kind = wire::MessageKind::Unspecified;
  Variant variant = Variant::kPlain;
  wire::LegalBasis basis = wire::LegalBasis::Untoc;
  wire::MessageKind request_kind = wire::MessageKind::MlaRequest;
  std::string extension_kind;  // DeadlineKind name of a DeadlineExtension
  int64_t new_deadline_ms = 0; // its new date (on the sending agent's clock)
};

// The body as JSON (an object). Never fails: a kind without a template gets {}.
nlohmann::json BodyFor(const BodyParams& p);

}  // namespace mlahub::sim
