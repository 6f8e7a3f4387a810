// Request checking: is a draft request complete for its kind and legal basis,
// and will the recipient accept it? The rules are the law's (DOMAIN.md,
// docs/PROTOCOL_BODIES.md "Conditional contents"):
//  - generic rules read from the schema itself: every body field carries
//    `presence` ("mandatory", "where_possible", "conditional", "optional");
//    a missing mandatory field is a `kMissing` finding, a missing
//    where-possible field a `kWarning`; the citation comes from the field's
//    doc comment (or the kind's legal basis);
//  - specific rules in code, each with its citation: UNTOC 18(15)(a)-(f) for
//    MLA and confiscation (plus property and order, 13(3)), extradition
//    (person, offences and penalties, facts, warrant or judgment, dual
//    criminality, 16), the Protocol's Art. 3 elements for trafficking in
//    persons (never the means where the victim is a child, 3(c)), a
//    repatriation's consent and safety assessment (8(2), 14), deadlines with
//    reasons (18(24)), and the recipient's capabilities from the directory
//    (kinds and languages accepted, UNTOC / Protocol party status).
//
// A request file ("draft") carries the header fields a sender chooses (kind,
// from, to, legal_basis, language, priority, case_ref) and the body as JSON
// in FlatBuffers' JSON form of the kind's table; the format is in
// workflow/README.md.
//
// Everything here is a pure function of its inputs (no clock, no I/O, no
// sockets). Thread-safe: the functions share only the process-wide JSON codec,
// which serialises itself.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "mlahub/core/bytes.h"
#include "mlahub/core/status.h"
#include "mlahub/directory/directory.h"
#include "mlahub/schemas/common_generated.h"

namespace mlahub::workflow {

enum class Severity {
  kMissing,  // a mandatory content is absent: blocks sending
  kRefused,  // the recipient or the law will not take it as it is: blocks sending
  kWarning,  // "where possible" content absent, or advice: does not block
};
std::string_view SeverityName(Severity s);  // "missing", "refused", "warning"

struct Finding {
  Severity severity = Severity::kWarning;
  std::string path;      // field path in the body, e.g. "persons_concerned[0].nationalities";
                         // "header.language" for header fields; "" for the whole request
  std::string citation;  // e.g. "UNTOC Art. 18(15)(c)"
  std::string message;   // what is wrong and what to add
};

// True if any finding blocks sending (kMissing or kRefused).
bool Blocks(const std::vector<Finding>& findings);

// A request as drafted: the header fields and the body (JSON text).
struct Draft {
  wire::MessageKind kind = wire::MessageKind::Unspecified;
  std::string from;  // sender node id (may be empty in a draft)
  std::string to;    // recipient node id
  wire::LegalBasis legal_basis = wire::LegalBasis::Unspecified;
  std::string language;  // ISO 639-1
  wire::Priority priority = wire::Priority::Normal;
  std::string case_ref;   // the sender's own case reference: a number, never a name
  std::string body_json;  // the body: FlatBuffers JSON of the kind's table
};

// Parses a request file (workflow/README.md "Request files"): a JSON object
// {"kind", "from", "to", "legal_basis", "language", "priority", "case_ref",
// "body"}. Header fields may be absent (the check then reports them);
// unknown top-level keys are refused (kInvalidArgument naming them); bad JSON
// is kMalformed. A file whose top level is a bare body (no "body" key) is
// accepted when `kind_if_bare` names its kind; header fields then come from
// the body where it has them (language, legal_basis.basis).
Result<Draft> ParseDraft(std::string_view text,
                         wire::MessageKind kind_if_bare = wire::MessageKind::Unspecified);
// The request file for `d`, pretty-printed (the body re-indented as is).
Result<std::string> DraftToJson(const Draft& d);

// Checks a request. `sender` and `recipient` are the directory entries of the
// two nodes, or nullptr when no directory is at hand (the directory rules are
// then skipped and one warning says so). Errors: kMalformed if the body is not
// JSON of the kind's table (FlatBuffers' own parser says what is wrong),
// kInvalidArgument if the kind is not a request kind. Findings come in body
// order, header findings first.
Result<std::vector<Finding>> CheckRequest(const Draft& draft, const directory::Entry* sender,
                                          const directory::Entry* recipient);
// The same with the two nodes looked up in `dir` at `now`: a recipient (or
// sender) that is not in the directory, or is revoked or outside its validity
// at `now`, is a kRefused finding; an empty `draft.from` skips the sender.
Result<std::vector<Finding>> CheckRequest(const Draft& draft, const directory::Directory& dir,
                                          UnixMillis now);
// The same for a body alone, as JSON text or as a FlatBuffer of the kind's
// table (verified here before it is read).
Result<std::vector<Finding>> CheckBody(wire::MessageKind kind, wire::LegalBasis legal_basis,
                                       std::string_view body_json, const directory::Entry* sender,
                                       const directory::Entry* recipient);
Result<std::vector<Finding>> CheckBinaryBody(wire::MessageKind kind, wire::LegalBasis legal_basis,
                                             ByteView body, const directory::Entry* sender,
                                             const directory::Entry* recipient);

// For `mlahub send` and the agents: OK if the draft may be submitted, else
// kInvalidArgument whose message lists every blocking finding ("missing
// summary_of_facts (UNTOC Art. 18(15)(c)): ...").
Status ReadyToSubmit(const Draft& draft, const directory::Entry* sender,
                     const directory::Entry* recipient);

// The schema's view of one body field, for prompting (mlahub request new).
struct FieldInfo {
  std::string name;
  std::string presence;  // mandatory | where_possible | conditional | optional
  std::string type;      // "string", "bool", "long", "enum:TraffickingAct", "[string]",
                         // "table:Authority", "[table:Offence]", "[enum:AssistanceType]"
  std::vector<std::string> enum_values;  // for enums: the value names (without Unspecified)
  std::string doc;                       // the doc comment, joined
  std::string citation;                  // first legal citation found in doc, or ""
  bool personal_data = false;
};
// Top-level fields of a table (e.g. "MlaRequest"), in id order.
Result<std::vector<FieldInfo>> DescribeTable(std::string_view table);

}  // namespace mlahub::workflow
