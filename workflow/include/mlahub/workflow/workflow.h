// The legal workflow of one request, as a state machine kept apart from the
// transport state (accepted, delivered, receipt: agents/ and broker/). Both
// ends run the same machine over the same steps: the requesting side checks
// a step before it sends it, the requested side checks it again when it
// arrives, so a step out of order, by the wrong side, or a refusal without
// grounds and reasons is refused at both ends (UNTOC 18(21), 18(23)).
//
// States (workflow/README.md has the full table):
//   received -> acknowledged -> [further_information_requested -> (reply) back]
//   -> decided (execute | execute_partially | refuse | postpone | consult)
//   -> in_execution -> partially_executed -> executed -> closed; withdrawn.
// Follow-ups that outlive the main line are kept in `CaseState::follow_ups`:
// an extradition refused solely on nationality opens "extradite or
// prosecute" (UNTOC 16(10)), closed by a ProsecutionSubmissionNotice. Every
// step is appended to `history` with its time: deadlines.h computes the
// clocks from it.
//
// Pure functions over values; no clock (times are inputs). Thread-safe.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "mlahub/core/clock.h"
#include "mlahub/core/status.h"
#include "mlahub/schemas/common_generated.h"

namespace mlahub::workflow {

enum class Role { kRequesting, kRequested };
std::string_view RoleName(Role r);  // "requesting", "requested"

enum class Stage {
  kReceived,
  kAcknowledged,
  kFurtherInformationRequested,
  kDecided,  // see CaseState::decision for which decision
  kInExecution,
  kPartiallyExecuted,
  kExecuted,
  kClosed,
  kWithdrawn,
};
std::string_view StageName(Stage s);  // "received", "further_information_requested", ...

enum class Outcome { kNone, kExecute, kExecutePartially, kRefuse, kPostpone, kConsult };
std::string_view OutcomeName(Outcome o);  // "none", "execute", ..., "consult"

// The essentials of one step (an answer or later step of the workflow),
// decoded from its body (StepFromJson) or filled in by the caller.
struct Step {
  wire::MessageKind kind = wire::MessageKind::Unspecified;
  UnixMillis at_ms = 0;  // when it was sent (or received)
  // Decision
  Outcome outcome = Outcome::kNone;
  std::vector<std::string> refusal_grounds;  // RefusalGround names
  std::string reasons;
  std::string postponement_ground;
  std::vector<std::string> consultation_topics;
  UnixMillis postponed_until_ms = 0;
  // ExecutionReport: "Partial" or "Full"
  std::string completeness;
  // DeadlineExtension
  std::string deadline_kind;   // DeadlineKind name, e.g. "RecognitionDecision"
  std::string extension_mode;  // ExtensionMode name
  UnixMillis new_deadline_ms = 0;
  std::string legal_basis_for_extension;
  // Withdrawal: items withdrawn (empty = the whole request)
  std::vector<std::string> items;
  // SurrenderArrangement stage; ProsecutionSubmissionNotice status; CaseClosed reason
  std::string stage;
  std::string status;
  std::string closure_reason;
  // FurtherInformationRequest / ProgressEnquiry / Decision(Consult): answer wanted by
  UnixMillis reply_by_ms = 0;
};

// Decodes the essentials of a step from its body as FlatBuffers JSON.
// kMalformed if the JSON is not an object; kInvalidArgument if `kind` is not
// an answer kind (32-63).
Result<Step> StepFromJson(wire::MessageKind kind, std::string_view body_json, UnixMillis at_ms);

// An obligation that outlives the main line of the case.
struct FollowUp {
  std::string what;      // "prosecution_submission"
  std::string citation;  // "UNTOC Art. 16(10)"
  UnixMillis opened_ms = 0;
  UnixMillis closed_ms = 0;  // 0 while open
  bool open() const { return closed_ms == 0; }
};

// One entry of the history: who took which step when.
struct Event {
  Role actor;
  Step step;
  Stage stage_after;
};

// What a request needs the clocks to know, given when the case starts.
struct RequestInfo {
  wire::MessageKind kind = wire::MessageKind::MlaRequest;
  wire::LegalBasis legal_basis = wire::LegalBasis::Untoc;
  bool urgent = false;                   // Header.priority Urgent (emergency under e-Evidence)
  UnixMillis received_ms = 0;            // the request reached the requested side
  UnixMillis requested_deadline_ms = 0;  // Deadline.deadline_ms of the body (UNTOC 18(24))
  bool provisional_measures = false;     // EIO Art. 32 provisional measures asked for
  UnixMillis arrest_ms = 0;              // EAW: when the person was arrested (0 = received_ms)
  UnixMillis consent_ms = 0;             // EAW: when the person consented to surrender (0 = not)
  // A provisional arrest: when the full extradition request that follows it
  // (its `provisional_arrest_ref` names this request) reached the requested
  // side, or, on the requesting side, was sent; 0 = not yet. Stops the
  // full_extradition_request clock.
  UnixMillis full_request_ms = 0;
  // Requesting side: `received_ms` is the sending time because the requested
  // authority's signed receipt has not come back yet (the clocks that count
  // from receipt say so: ClockStatus::receipt_unconfirmed).
  bool receipt_unconfirmed = false;
};

struct CaseState {
  RequestInfo request;
  Stage stage = Stage::kReceived;
  Outcome decision = Outcome::kNone;                        // the latest decision
  Stage before_further_information = Stage::kAcknowledged;  // where a reply returns to
  std::vector<FollowUp> follow_ups;
  std::vector<Event> history;

  bool HasOpenFollowUp() const;
  // Which steps `role` may take now, as MessageKind names (for messages and UIs).
  std::vector<std::string> AllowedSteps(Role role) const;
};

// A new case: the request has been received at `info.received_ms`.
CaseState Start(const RequestInfo& info);

// Applies `step` taken by `actor`. Returns the new state, or:
//  - kPermissionDenied: the other side's step ("an Acknowledgement is the
//    requested state's step");
//  - kInvalidArgument: out of order, or invalid in itself (a refusal without
//    grounds and reasons, a postponement without reasons, an extension
//    without reasons or new date, an execution report without completeness),
//    with a message naming the steps allowed now.
Result<CaseState> Apply(const CaseState& state, Role actor, const Step& step);

// Checks a step without applying it (same errors as Apply).
Status Validate(const CaseState& state, Role actor, const Step& step);

}  // namespace mlahub::workflow
