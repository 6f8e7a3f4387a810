#include "mlahub/workflow/deadlines.h"

#include <toml++/toml.h>

#include <algorithm>
#include <cctype>

namespace mlahub::workflow {

namespace internal {
extern const std::string_view kDefaultPolicyToml;
}  // namespace internal

using K = wire::MessageKind;

namespace {

std::string SectionOf(wire::LegalBasis b) {
  switch (b) {
    case wire::LegalBasis::Untoc:
      return "untoc";
    case wire::LegalBasis::PalermoProtocol:
      return "palermo_protocol";
    case wire::LegalBasis::BilateralTreaty:
      return "bilateral_treaty";
    case wire::LegalBasis::Reciprocity:
      return "reciprocity";
    case wire::LegalBasis::EuEio:
      return "eu_eio";
    case wire::LegalBasis::EuEaw:
      return "eu_eaw";
    case wire::LegalBasis::EuEEvidence:
      return "eu_e_evidence";
    case wire::LegalBasis::EuropeanConventionExtradition:
      return "european_convention_extradition";
    case wire::LegalBasis::EuropeanConventionMla:
      return "european_convention_mla";
    case wire::LegalBasis::DomesticLaw:
      return "domestic_law";
    default:
      return "default";
  }
}

std::string JoinNames(const std::vector<std::string>& v) {
  std::string out;
  for (const auto& s : v) out += (out.empty() ? "" : ", ") + s;
  return out;
}

}  // namespace

const std::vector<std::string>& ClockNames() {
  static const std::vector<std::string> k = {"acknowledge",
                                             "decision",
                                             "execution",
                                             "provisional_measures",
                                             "surrender_decision",
                                             "surrender_decision_after_consent",
                                             "surrender",
                                             "production_order",
                                             "full_extradition_request",
                                             "document_verification",
                                             "nationality_verification",
                                             "repatriation_decision",
                                             "further_information_reply",
                                             "progress_reply",
                                             "prosecution_submission"};
  return k;
}

const std::vector<std::string>& SectionNames() {
  static const std::vector<std::string> k = {"default",
                                             "untoc",
                                             "palermo_protocol",
                                             "bilateral_treaty",
                                             "reciprocity",
                                             "eu_eio",
                                             "eu_eaw",
                                             "eu_e_evidence",
                                             "european_convention_extradition",
                                             "european_convention_mla",
                                             "domestic_law"};
  return k;
}

std::string DurationText(int64_t ms) {
  if (ms <= 0) return "off";
  std::string out;
  const std::pair<int64_t, char> units[] = {{kDayMs, 'd'}, {kHourMs, 'h'}, {60 * 1000, 'm'}, {1000, 's'}};
  for (const auto& [len, unit] : units) {
    if (ms >= len) {
      out += std::to_string(ms / len) + unit;
      ms %= len;
    }
  }
  if (ms > 0) out += (out.empty() ? "" : " ") + std::to_string(ms) + "ms";
  return out;
}

std::vector<RuleInEffect> RulesInEffect(const Policy& policy) {
  std::vector<RuleInEffect> out;
  for (const std::string& sec : SectionNames()) {
    auto s = policy.sections.find(sec);
    if (s == policy.sections.end()) continue;
    for (const std::string& clock : ClockNames()) {
      auto c = s->second.find(clock);
      if (c != s->second.end()) out.push_back({sec, clock, c->second});
    }
  }
  return out;
}

const ClockRule* Policy::Find(wire::LegalBasis basis, std::string_view clock) const {
  for (const std::string& sec : {SectionOf(basis), std::string("default")}) {
    auto s = sections.find(sec);
    if (s == sections.end()) continue;
    auto c = s->second.find(std::string(clock));
    if (c == s->second.end()) continue;
    return c->second.due_ms > 0 ? &c->second : nullptr;  // due = "off"
  }
  return nullptr;
}

Result<int64_t> ParseDuration(std::string_view text) {
  if (text == "off") return int64_t{0};
  int64_t total = 0;
  size_t i = 0;
  if (text.empty()) return Status::InvalidArgument("empty duration");
  while (i < text.size()) {
    size_t start = i;
    int64_t n = 0;
    while (i < text.size() && std::isdigit(static_cast<unsigned char>(text[i]))) {
      n = n * 10 + (text[i] - '0');
      if (n > 100000000)
        return Status::InvalidArgument("duration too large: \"" + std::string(text) + "\"");
      ++i;
    }
    if (i == start || i == text.size())
      return Status::InvalidArgument(
          "bad duration \"" + std::string(text) +
          "\" (a number and a unit d, h, m or s, e.g. \"7d\", \"24h\", \"1d12h\")");
    switch (text[i]) {
      case 'd':
        total += n * kDayMs;
        break;
      case 'h':
        total += n * kHourMs;
        break;
      case 'm':
        total += n * 60 * 1000;
        break;
      case 's':
        total += n * 1000;
        break;
      default:
        return Status::InvalidArgument("bad duration \"" + std::string(text) +
                                       "\" (units: d, h, m, s)");
    }
    ++i;
  }
  return total;
}

Result<Policy> ParsePolicy(std::string_view text, const std::string& origin, const Policy& base) {
  toml::table doc;
  try {
    doc = toml::parse(text, origin);
  } catch (const toml::parse_error& e) {
    const auto& b = e.source().begin;
    return Status::Malformed(origin + ":" + std::to_string(b.line) + ":" +
                             std::to_string(b.column) +
                             ": TOML syntax error: " + std::string(e.description()));
  }
  Policy p = base;
  auto at = [&](const toml::node& n) {
    return origin + ":" + std::to_string(n.source().begin.line);
  };
  for (auto&& [sec_key, sec_node] : doc) {
    std::string sec(sec_key.str());
    const auto& secs = SectionNames();
    if (std::find(secs.begin(), secs.end(), sec) == secs.end())
      return Status::InvalidArgument(at(sec_node) + ": unknown section [" + sec +
                                     "] (sections are legal bases: " + JoinNames(secs) + ")");
    const toml::table* tbl = sec_node.as_table();
    if (tbl == nullptr)
      return Status::InvalidArgument(at(sec_node) + ": '" + sec + "' must be a section [" + sec +
                                     "]");
    for (auto&& [clock_key, clock_node] : *tbl) {
      std::string clock(clock_key.str());
      const auto& clocks = ClockNames();
      if (std::find(clocks.begin(), clocks.end(), clock) == clocks.end())
        return Status::InvalidArgument(at(clock_node) + ": unknown clock '" + clock + "' in [" +
                                       sec + "] (clocks: " + JoinNames(clocks) + ")");
      const toml::table* ct = clock_node.as_table();
      if (ct == nullptr)
        return Status::InvalidArgument(at(clock_node) + ": " + sec + "." + clock +
                                       " must be a table: { due = \"7d\", citation = \"...\" }");
      ClockRule rule;
      bool has_due = false, has_citation = false;
      for (auto&& [f_key, f_node] : *ct) {
        std::string f(f_key.str());
        std::string where = at(f_node) + ": " + sec + "." + clock + "." + f;
        const auto* sv = f_node.as_string();
        if (f != "due" && f != "urgent_due" && f != "extension" && f != "citation" && f != "note")
          return Status::InvalidArgument(at(f_node) + ": unknown key '" + f + "' in " + sec + "." +
                                         clock +
                                         " (keys: due, urgent_due, extension, citation, note)");
        if (sv == nullptr) return Status::InvalidArgument(where + " must be a string");
        std::string v = sv->get();
        if (f == "citation") {
          rule.citation = v;
          has_citation = !v.empty();
        } else if (f == "note") {
          rule.note = v;
        } else {
          auto d = ParseDuration(v);
          if (!d.ok()) return Status::InvalidArgument(where + ": " + d.status().message());
          if (f == "due") {
            rule.due_ms = *d;
            has_due = true;
          } else if (f == "urgent_due") {
            rule.urgent_due_ms = *d;
          } else {
            rule.extension_ms = *d;
          }
        }
      }
      if (!has_due)
        return Status::InvalidArgument(at(clock_node) + ": " + sec + "." + clock +
                                       " has no 'due' (e.g. due = \"30d\", or \"off\")");
      if (!has_citation && rule.due_ms > 0)
        return Status::InvalidArgument(at(clock_node) + ": " + sec + "." + clock +
                                       " has no 'citation' (the provision or policy it rests on)");
      p.sections[sec][clock] = rule;
    }
  }
  return p;
}

std::string_view DefaultPolicyToml() { return internal::kDefaultPolicyToml; }

const Policy& DefaultPolicy() {
  static const Policy* p = [] {
    auto r = ParsePolicy(internal::kDefaultPolicyToml, "default policy", Policy{});
    MLAHUB_CHECK_MSG(r.ok(), r.status().ToString());
    return new Policy(std::move(r).value());
  }();
  return *p;
}

namespace {

// Which DeadlineKind extends which clock.
bool Extends(const std::string& deadline_kind, const std::string& clock) {
  static const std::map<std::string, std::vector<std::string>> m = {
      {"Acknowledgement", {"acknowledge"}},
      {"RecognitionDecision", {"decision", "repatriation_decision"}},
      {"Execution", {"execution", "requested_deadline"}},
      {"ProvisionalMeasures", {"provisional_measures"}},
      {"SurrenderDecision", {"surrender_decision", "surrender_decision_after_consent"}},
      {"Surrender", {"surrender"}},
      {"ProductionOrder", {"production_order"}},
      {"FullExtraditionRequest", {"full_extradition_request"}},
      {"Verification", {"document_verification", "nationality_verification"}},
      {"FurtherInformationReply", {"further_information_reply"}},
  };
  auto it = m.find(deadline_kind);
  return it != m.end() &&
         std::find(it->second.begin(), it->second.end(), clock) != it->second.end();
}

struct Builder {
  const CaseState& s;
  const Policy& policy;
  UnixMillis now;
  Clocks out;

  bool Urgent() const { return s.request.urgent; }

  // First step after `from` (inclusive) that satisfies `stop`, or 0.
  template <typename Pred>
  UnixMillis FirstAfter(UnixMillis from, Pred stop) const {
    for (const auto& e : s.history)
      if (e.step.at_ms >= from && stop(e)) return e.step.at_ms == 0 ? 1 : e.step.at_ms;
    return 0;
  }

  UnixMillis Ended() const {
    return FirstAfter(0, [](const Event& e) {
      return e.stage_after == Stage::kClosed || e.stage_after == Stage::kWithdrawn;
    });
  }

  void Open(const std::string& name, const std::string& what, Role owner, UnixMillis start,
            const ClockRule* rule, UnixMillis fixed_due = 0, const std::string& citation = {}) {
    if (start == 0 && fixed_due == 0) return;
    ClockStatus c;
    c.name = name;
    c.what = what;
    c.owner = owner;
    c.started_ms = start;
    // A clock that counts from the receipt, on the requesting side before
    // the signed receipt came back: counted from sending, and said so.
    c.receipt_unconfirmed = s.request.receipt_unconfirmed && start == s.request.received_ms;
    int64_t allowed_extension = 0;
    if (fixed_due != 0) {
      c.due_ms = fixed_due;
      c.citation = citation;
    } else {
      if (rule == nullptr) return;
      int64_t len = Urgent() && rule->urgent_due_ms > 0 ? rule->urgent_due_ms : rule->due_ms;
      c.due_ms = start + len;
      c.citation = rule->citation;
      c.note = rule->note;
      allowed_extension = rule->extension_ms;
    }
    UnixMillis original = c.due_ms;
    for (const auto& e : s.history) {
      const Step& st = e.step;
      if (st.kind != K::DeadlineExtension || st.at_ms < start) continue;
      if (!Extends(st.deadline_kind, name)) continue;
      if (st.extension_mode != "Notice" && st.extension_mode != "Grant") continue;
      Extension x{st.at_ms, st.new_deadline_ms, st.reasons, st.legal_basis_for_extension,
                  allowed_extension > 0 && st.new_deadline_ms > original + allowed_extension};
      c.extensions.push_back(x);
      c.due_ms = st.new_deadline_ms;
    }
    c.time_left_ms = c.due_ms - now;
    c.overdue = now > c.due_ms;
    out.open.push_back(std::move(c));
  }

  void Build() {
    const RequestInfo& r = s.request;
    UnixMillis ended = Ended();
    if (ended != 0 && ended <= now) {
      // Closed or withdrawn: no clock runs; enquiries are still reported.
      Enquiries();
      return;
    }
    auto requested_step = [](const Event& e) { return e.actor == Role::kRequested; };
    auto decision_final = [](const Event& e) {
      return (e.step.kind == K::Decision && e.step.outcome != Outcome::kConsult &&
              e.step.outcome != Outcome::kNone) ||
             e.step.kind == K::VerificationResult;
    };
    auto executed = [](const Event& e) { return e.stage_after == Stage::kExecuted; };
    auto running = [&](UnixMillis stopped) { return stopped == 0 || stopped > now; };

    UnixMillis decided_execute = FirstAfter(0, [](const Event& e) {
      return e.step.kind == K::Decision &&
             (e.step.outcome == Outcome::kExecute || e.step.outcome == Outcome::kExecutePartially);
    });
    UnixMillis refused = FirstAfter(0, [](const Event& e) {
      return e.step.kind == K::Decision && e.step.outcome == Outcome::kRefuse;
    });
    UnixMillis done = FirstAfter(0, executed);
    auto done_or_refused = done != 0 ? done : refused;

    // What stops a clock is looked for in the whole history (every step of a
    // case follows its request): on the requesting side the start may be the
    // requested side's receipt time (its clock) while the steps carry this
    // side's times.
    if (running(FirstAfter(0, requested_step)))
      Open("acknowledge", "acknowledge receipt", Role::kRequested, r.received_ms,
           policy.Find(r.legal_basis, "acknowledge"));
    UnixMillis decision_at = FirstAfter(0, decision_final);
    // Kinds with a decision clock of their own (verifications, repatriation,
    // extradition: surrender_decision) have no generic `decision` clock.
    bool own_decision_clock = r.kind == K::DocumentVerificationRequest ||
                              r.kind == K::NationalityVerificationRequest ||
                              r.kind == K::RepatriationRequest || r.kind == K::ExtraditionRequest;
    if (running(decision_at)) {
      if (!own_decision_clock)
        Open("decision", "decide on the request", Role::kRequested, r.received_ms,
             policy.Find(r.legal_basis, "decision"));
      if (r.provisional_measures)
        Open("provisional_measures", "decide on the provisional measures", Role::kRequested,
             r.received_ms, policy.Find(r.legal_basis, "provisional_measures"));
      if (r.kind == K::ExtraditionRequest) {
        if (r.consent_ms != 0)
          Open("surrender_decision_after_consent",
               "final decision on surrender (the person consented)", Role::kRequested, r.consent_ms,
               policy.Find(r.legal_basis, "surrender_decision_after_consent"));
        else
          Open("surrender_decision", "final decision on surrender", Role::kRequested,
               r.arrest_ms != 0 ? r.arrest_ms : r.received_ms,
               policy.Find(r.legal_basis, "surrender_decision"));
      }
      if (r.kind == K::RepatriationRequest)
        Open("repatriation_decision", "accept the return of the victim", Role::kRequested,
             r.received_ms, policy.Find(r.legal_basis, "repatriation_decision"));
    }
    if (r.kind == K::DocumentVerificationRequest && running(decision_at))
      Open("document_verification", "verify the document", Role::kRequested, r.received_ms,
           policy.Find(r.legal_basis, "document_verification"));
    if (r.kind == K::NationalityVerificationRequest && running(decision_at))
      Open("nationality_verification", "verify nationality or residence", Role::kRequested,
           r.received_ms, policy.Find(r.legal_basis, "nationality_verification"));
    if (running(done_or_refused)) {
      if (decided_execute != 0 && decided_execute <= now && r.kind != K::ExtraditionRequest &&
          r.kind != K::ProvisionalArrestRequest)
        Open("execution", "execute the request", Role::kRequested, decided_execute,
             policy.Find(r.legal_basis, "execution"));
      if (r.requested_deadline_ms != 0)
        Open("requested_deadline", "execute by the requesting state's deadline", Role::kRequested,
             r.received_ms, nullptr, r.requested_deadline_ms, "UNTOC Art. 18(24)");
      Open("production_order", "produce the data", Role::kRequested, r.received_ms,
           policy.Find(r.legal_basis, "production_order"));
    }
    if (r.kind == K::ExtraditionRequest && decided_execute != 0 && decided_execute <= now &&
        running(FirstAfter(decided_execute, executed)))
      Open("surrender", "surrender the person", Role::kRequested, decided_execute,
           policy.Find(r.legal_basis, "surrender"));
    // Stopped by the full extradition request (its provisional_arrest_ref
    // names this request): when it reached the requested side, or was sent.
    if (r.kind == K::ProvisionalArrestRequest && decided_execute != 0 && decided_execute <= now &&
        running(r.full_request_ms))
      Open("full_extradition_request", "send the full extradition request", Role::kRequesting,
           decided_execute, policy.Find(r.legal_basis, "full_extradition_request"));
    // Further information: the latest request for it, until the reply.
    for (size_t i = 0; i < s.history.size(); ++i) {
      const Event& e = s.history[i];
      if (e.step.kind != K::FurtherInformationRequest || e.step.at_ms > now) continue;
      UnixMillis replied = FirstAfter(
          e.step.at_ms, [](const Event& x) { return x.step.kind == K::FurtherInformationReply; });
      if (!running(replied)) continue;
      Open("further_information_reply", "answer the request for further information",
           Role::kRequesting, e.step.at_ms,
           e.step.reply_by_ms != 0 ? nullptr
                                   : policy.Find(r.legal_basis, "further_information_reply"),
           e.step.reply_by_ms, e.step.reply_by_ms != 0 ? "UNTOC Art. 18(16)" : "");
    }
    for (const FollowUp& f : s.follow_ups)
      if (f.open() || f.closed_ms > now)
        Open(f.what, "submit the case for prosecution and notify (extradite or prosecute)",
             Role::kRequested, f.opened_ms, policy.Find(r.legal_basis, f.what));
    Enquiries();
    std::stable_sort(
        out.open.begin(), out.open.end(),
        [](const ClockStatus& a, const ClockStatus& b) { return a.due_ms < b.due_ms; });
  }

  void Enquiries() {
    const ClockRule* rule = policy.Find(s.request.legal_basis, "progress_reply");
    for (const auto& e : s.history) {
      if (e.step.kind != K::ProgressEnquiry || e.step.at_ms > now) continue;
      Enquiry q;
      q.asked_ms = e.step.at_ms;
      q.due_ms = e.step.reply_by_ms != 0 ? e.step.reply_by_ms
                                         : (rule != nullptr ? e.step.at_ms + rule->due_ms : 0);
      UnixMillis answered =
          FirstAfter(e.step.at_ms, [](const Event& x) { return x.step.kind == K::ProgressReport; });
      if (answered != 0 && answered <= now) q.answered_ms = answered;
      q.overdue = q.answered_ms == 0 && q.due_ms != 0 && now > q.due_ms;
      out.enquiries.push_back(q);
    }
  }
};

}  // namespace

Clocks ComputeClocks(const CaseState& state, const Policy& policy, UnixMillis now) {
  Builder b{state, policy, now, {}};
  b.Build();
  return std::move(b.out);
}

}  // namespace mlahub::workflow
