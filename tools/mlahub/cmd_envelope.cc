// mlahub envelope seal|open|inspect: sealed envelopes from the command line.
#include <iostream>
#include <nlohmann/json.hpp>

#include "cli.h"
#include "mlahub/core/ids.h"
#include "mlahub/crypto/encoding.h"
#include "mlahub/envelope/envelope.h"
#include "mlahub/identity/keys.h"

namespace mlahub::cli {
namespace {


Result<wire::HandlingCode> ParseHandling(std::string_view t) {
  for (auto v : wire::EnumValuesHandlingCode())
    if (t == wire::EnumNameHandlingCode(v)) return v;
  return Status::InvalidArgument("handling code must be H0, H1, H2 or H3");
}
Result<wire::LegalBasis> ParseLegalBasis(std::string_view t) {
  std::string valid;
  for (auto v : wire::EnumValuesLegalBasis()) {
    if (t == wire::EnumNameLegalBasis(v)) return v;
    valid += valid.empty() ? "" : ", ";
    valid += wire::EnumNameLegalBasis(v);
  }
  return Status::InvalidArgument("legal basis must be one of " + valid);
}

struct SealArgs {
  std::string from, to, kind, case_ref, in_reply_to, message_id;
  std::string handling = "H0", legal_basis = "Untoc";
  bool urgent = false;
  int64_t ttl_hours = 30 * 24;
  std::string passphrase_env = "MLAHUB_PASSPHRASE";
  size_t max_body = 16u << 20;
};

int RunSeal(const SealArgs& a) {
  auto kind = envelope::ParseKind(a.kind);
  if (!kind.ok()) return Fail(kind.status(), false);
  auto handling = ParseHandling(a.handling);
  if (!handling.ok()) return Fail(handling.status(), false);
  auto basis = ParseLegalBasis(a.legal_basis);
  if (!basis.ok()) return Fail(basis.status(), false);
  auto keys = LoadKeyDirAsking(a.from, a.passphrase_env);
  if (!keys.ok()) return Fail(keys.status(), false);
  auto to = identity::LoadIdentity(a.to);
  if (!to.ok()) return Fail(to.status(), false);
  auto body = ReadStdin(a.max_body);
  if (!body.ok()) return Fail(body.status(), false);
  auto payload = envelope::BuildPayloadFromJson(*kind, AsString(*body));
  if (!payload.ok())
    return Fail(payload.status().Annotate("standard input (see: mlahub request template --kind " + a.kind + ")"),
                false);
  envelope::SealParams p;
  p.message_id = a.message_id;
  p.kind = *kind;
  p.case_ref = a.case_ref;
  p.in_reply_to = a.in_reply_to;
  p.handling = *handling;
  p.legal_basis = *basis;
  p.priority = a.urgent ? wire::Priority::Urgent : wire::Priority::Normal;
  UnixMillis now = SystemClock::Instance().NowMillis();
  p.created_ms = now;
  p.expires_ms = now + a.ttl_hours * 3600 * 1000;
  auto env = envelope::Seal(p, *keys, *to, *payload);
  if (!env.ok()) return Fail(env.status(), false);
  Status st = WriteStdout(*env);
  if (!st.ok()) return Fail(st, false);
  auto parsed = envelope::Parse(*env);
  std::cerr << "sealed " << wire::EnumNameMessageKind(*kind) << " " << parsed->message_id() << " from "
            << keys->id.str() << " to " << to->id.str() << " (" << env->size() << " bytes)" << std::endl;
  return kExitOk;
}

struct OpenArgs {
  std::string key, from;
  bool json = false;
  std::string passphrase_env = "MLAHUB_PASSPHRASE";
  size_t max_size = envelope::kDefaultMaxEnvelopeSize;
  int64_t max_skew_s = envelope::kDefaultMaxClockSkewMs / 1000;
  int64_t at_ms = 0;
};

nlohmann::json HeaderJson(const envelope::Opened& o) {
  nlohmann::json h;
  h["message_id"] = o.message_id;
  h["sender"] = o.sender;
  h["recipient"] = o.recipient;
  h["kind"] = wire::EnumNameMessageKind(o.kind);
  h["case_ref"] = o.case_ref;
  h["created"] = FormatRfc3339(o.created_ms);
  h["expires"] = FormatRfc3339(o.expires_ms);
  h["in_reply_to"] = o.in_reply_to;
  h["handling"] = wire::EnumNameHandlingCode(o.handling);
  h["legal_basis"] = wire::EnumNameLegalBasis(o.legal_basis);
  h["priority"] = wire::EnumNamePriority(o.priority);
  return h;
}

int RunOpen(const OpenArgs& a) {
  auto keys = LoadKeyDirAsking(a.key, a.passphrase_env);
  if (!keys.ok()) return Fail(keys.status(), a.json);
  auto from = identity::LoadIdentity(a.from);
  if (!from.ok()) return Fail(from.status(), a.json);
  auto frame = ReadStdin(a.max_size);
  if (!frame.ok()) return Fail(frame.status(), a.json);
  envelope::OpenOptions opt;
  opt.max_size = a.max_size;
  opt.max_clock_skew_ms = a.max_skew_s * 1000;
  FakeClock at(a.at_ms);
  if (a.at_ms != 0) opt.clock = &at;
  auto opened = envelope::Open(*frame, *keys, *from, opt);
  if (!opened.ok()) return Fail(opened.status(), a.json);
  auto body = envelope::BodyToJson(opened->payload());
  if (!body.ok()) return Fail(body.status(), a.json);
  if (a.json) {
    nlohmann::json j;
    j["header"] = HeaderJson(*opened);
    j["header"]["envelope_sha256"] = crypto::ToBase64(envelope::EnvelopeHash(*frame));
    j["body"] = nlohmann::json::parse(*body);
    std::cout << j.dump(2) << std::endl;
  } else {
    std::cout << *body;
    if (!body->empty() && body->back() != '\n') std::cout << '\n';
    std::cerr << "opened " << wire::EnumNameMessageKind(opened->kind) << " " << opened->message_id << " from "
              << opened->sender << ": signature, binding and time window verified" << std::endl;
  }
  return kExitOk;
}

struct InspectArgs {
  bool json = false;
  size_t max_size = envelope::kDefaultMaxEnvelopeSize;
};

int RunInspect(const InspectArgs& a) {
  auto frame = ReadStdin(a.max_size);
  if (!frame.ok()) return Fail(frame.status(), a.json);
  auto parsed = envelope::Parse(*frame, a.max_size);
  if (!parsed.ok()) return Fail(parsed.status(), a.json);
  const wire::Header& h = *parsed->header;
  nlohmann::json j;
  j["message_id"] = std::string(parsed->message_id());
  j["sender"] = std::string(parsed->sender());
  j["recipient"] = std::string(parsed->recipient());
  const char* kn = wire::EnumNameMessageKind(h.kind());
  j["kind"] = (kn && *kn) ? std::string(kn) : std::to_string(static_cast<int>(h.kind()));
  j["case_ref"] = h.case_ref() ? h.case_ref()->str() : "";
  j["created"] = FormatRfc3339(h.created_ms());
  j["expires"] = FormatRfc3339(h.expires_ms());
  j["handling"] = wire::EnumNameHandlingCode(h.handling());
  j["legal_basis"] = wire::EnumNameLegalBasis(h.legal_basis());
  j["priority"] = wire::EnumNamePriority(h.priority());
  j["header_bytes"] = parsed->header_bytes.size();
  j["ciphertext_bytes"] = parsed->ciphertext.size();
  j["envelope_sha256"] = crypto::ToBase64(envelope::EnvelopeHash(*frame));
  j["verified"] = false;
  std::cout << j.dump(2) << std::endl;
  if (!a.json)
    std::cerr << "note: inspect shows the clear header only and verifies nothing; use 'envelope open'" << std::endl;
  return kExitOk;
}

}  // namespace

void RegisterEnvelopeCommands(CLI::App& app) {
  CLI::App* env = app.add_subcommand("envelope", "Seal, open and inspect envelopes");
  env->require_subcommand(1);

  auto s = std::make_shared<SealArgs>();
  CLI::App* seal = env->add_subcommand(
      "seal", "Seal a body (JSON of the kind's table, on standard input) for a recipient; the envelope goes to "
              "standard output");
  seal->add_option("--from", s->from, "Sender's key directory (from mlahub keygen)")->required();
  seal->add_option("--to", s->to, "Recipient's identity file (identity.json or key directory)")->required();
  seal->add_option("--kind", s->kind, "Kind of body, e.g. mla, extradition, MlaRequest (mlahub request kinds)")
      ->required();
  seal->add_option("--case-ref", s->case_ref, "Your case reference (an opaque file number, never a name)");
  seal->add_option("--in-reply-to", s->in_reply_to, "Message id this envelope answers");
  seal->add_option("--message-id", s->message_id, "Reuse this message id (a resend); default: a fresh one");
  seal->add_option("--handling", s->handling, "Handling code H0-H3")->capture_default_str();
  seal->add_option("--legal-basis", s->legal_basis, "Legal basis, e.g. Untoc, PalermoProtocol, EuEio")
      ->capture_default_str();
  seal->add_flag("--urgent", s->urgent, "Mark the envelope urgent");
  seal->add_option("--ttl-hours", s->ttl_hours, "Hours until the envelope expires")->capture_default_str();
  seal->add_option("--passphrase-env", s->passphrase_env, "Environment variable with the key passphrase")
      ->capture_default_str();
  seal->callback([s] { ExitCode() = RunSeal(*s); });

  auto o = std::make_shared<OpenArgs>();
  CLI::App* open = env->add_subcommand(
      "open", "Verify and decrypt an envelope (standard input); print its body as JSON. Exits 3 with the "
              "named error (bad_signature, wrong_recipient, tampered_header, tampered_ciphertext, expired, "
              "unknown_kind, malformed, too_large, ...) on any failure");
  open->add_option("--key", o->key, "Recipient's key directory")->required();
  open->add_option("--from", o->from, "Sender's identity file (identity.json or key directory)")->required();
  open->add_flag("--json", o->json, "Print {header, body} as one JSON object; errors as JSON too");
  open->add_option("--max-size", o->max_size, "Largest envelope accepted, bytes")->capture_default_str();
  open->add_option("--max-clock-skew", o->max_skew_s, "Seconds an envelope may be dated in the future")
      ->capture_default_str();
  open->add_option("--at-ms", o->at_ms,
                   "Evaluate the validity window at this instant (Unix ms) instead of now: for test vectors and "
                   "audits of old envelopes");
  open->add_option("--passphrase-env", o->passphrase_env, "Environment variable with the key passphrase")
      ->capture_default_str();
  open->callback([o] { ExitCode() = RunOpen(*o); });

  auto i = std::make_shared<InspectArgs>();
  CLI::App* inspect = env->add_subcommand(
      "inspect", "Show the clear routing header of an envelope (standard input) without verifying it");
  inspect->add_flag("--json", i->json, "JSON only, no notes");
  inspect->add_option("--max-size", i->max_size, "Largest envelope accepted, bytes")->capture_default_str();
  inspect->callback([i] { ExitCode() = RunInspect(*i); });
}

}  // namespace mlahub::cli
