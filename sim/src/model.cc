#include "mlahub/sim/model.h"

#include <algorithm>
#include <cmath>
#include <deque>
#include <queue>

#include "mlahub/sim/random.h"
#include "bodies.h"
#include "rules.h"
#include "mlahub/workflow/deadlines.h"
#include "mlahub/workflow/workflow.h"

namespace mlahub::sim {

namespace {

using K = wire::MessageKind;
using workflow::ClockRule;
using workflow::Role;
constexpr int64_t kDay = workflow::kDayMs;

enum EvType : uint8_t {
  kEvArrival,     // a: sender state
  kEvScripted,    // a: scripted request index
  kEvAtBroker,    // a: message
  kEvDeliver,     // a: message
  kEvAction,      // a: case, b: action
  kEvAgentDown,   // a: outage
  kEvAgentUp,     // a: outage
  kEvBrokerDown,  // a: crash
  kEvBrokerUp,    // a: crash
  kEvDay,         // a: day index
};

enum Action : uint32_t { kAck, kDecide, kVerify, kExecute, kSurrender, kReply, kExtend };

using enum Variant;

struct Ev {
  int64_t t;
  uint64_t seq;
  uint32_t a, b;
  EvType type;
  bool operator>(const Ev& o) const { return t != o.t ? t > o.t : seq > o.seq; }
};

struct Msg {
  uint32_t case_id = 0;
  uint32_t from = 0, to = 0;  // agents
  K kind = K::Unspecified;
  Variant variant = kPlain;
  bool apply_on_leave = false;  // a requested-side step: taken when it leaves the agent
  bool final = false;           // ends the case at the requesting side
  int64_t size = 0;
  int64_t hold_start = 0;
  int32_t hold_fault = -1;
};

struct OpenClock {
  uint16_t name;
  int64_t started, due;
};

struct Case {
  uint32_t from_state, to_state, from_agent, to_agent;
  K kind;
  wire::LegalBasis basis;
  bool urgent = false, provisional = false, fi_done = false, done = false, extended = false;
  int64_t planned_decision = 0;  // when the staff will decide (for a deadline extension)
  int64_t extension_due = 0;     // the new due date of the extension being sent
  const char* extension_kind = "";  // its DeadlineKind
  int64_t created = 0, requested_deadline = 0;
  workflow::CaseState cs;
  std::vector<OpenClock> clocks;
  Compliance own;               // this case's clocks
  std::vector<uint16_t> faults;  // faults that held one of its messages
};

struct Agent {
  uint32_t state;
  bool down = false;
  int32_t outage = -1;
  std::deque<uint32_t> outbox, inbound;  // held at the agent / at the broker for it
  int32_t open_cases = 0;
};

using rules::IsVerification;
using rules::Percentile;
using rules::Summarise;

class Model {
 public:
  Model(const Scenario& sc, const RunOptions& opt) : sc_(sc), opt_(opt), rng_(sc.seed), rules_(sc) {}

  Result<Results> Run();

 private:
  void Push(int64_t t, EvType type, uint32_t a = 0, uint32_t b = 0) {
    events_.push(Ev{t, seq_++, a, b, type});
  }
  int64_t Rel(int64_t t) const { return t - sc_.start_ms; }
  size_t DayOf(int64_t t) const {
    int64_t d = Rel(t) / kDay;
    return static_cast<size_t>(std::clamp<int64_t>(d, 0, static_cast<int64_t>(res_.days.size()) - 1));
  }
  int64_t HopDelay(int64_t size) {
    double d = static_cast<double>(sc_.delay_ms) + rng_.Exponential(static_cast<double>(sc_.jitter_ms));
    if (sc_.bandwidth_bps > 0) d += 1000.0 * size / sc_.bandwidth_bps;
    return static_cast<int64_t>(std::llround(d));
  }
  int64_t Work(uint32_t s, int64_t t) const { return rules_.Work(s, t); }
  int64_t Later(uint32_t s, int64_t t, const Distribution& d) { return rules_.Later(rng_, s, t, d); }
  uint32_t Route(uint32_t state, K kind) const { return rules_.Route(state, kind); }
  void Setup();
  void NewRequest(int64_t t, uint32_t from, uint32_t to, const MixEntry& e, bool scripted);

  uint32_t NewMsg(const Msg& m) {
    if (!free_msgs_.empty()) {
      uint32_t id = free_msgs_.back();
      free_msgs_.pop_back();
      msgs_[id] = m;
      return id;
    }
    msgs_.push_back(m);
    return static_cast<uint32_t>(msgs_.size() - 1);
  }
  void Send(uint32_t case_id, uint32_t from, uint32_t to, K kind, Variant v, bool apply_on_leave,
            bool final, int64_t size, int64_t t);
  void Leave(uint32_t m, int64_t t);
  void AtBroker(uint32_t m, int64_t t);
  void Forward(uint32_t m, int64_t t);
  void Hold(uint32_t m, int64_t t, int32_t fault) {
    msgs_[m].hold_start = t;
    msgs_[m].hold_fault = fault;
  }
  void Release(uint32_t m, int64_t t);
  void Delivered(uint32_t m, int64_t t);
  void DoAction(uint32_t c, Action a, int64_t t);
  // Schedules the decision at `at`; if it will be late and the policy allows
  // an extension of the decision clock, the staff may notify one first.
  void PlanDecision(uint32_t c, int64_t t, int64_t at, Action a);
  const OpenClock* ExtendableClock(const Case& c, const ClockRule** rule) const;

  void ApplyStep(uint32_t c, Role role, const workflow::Step& step, int64_t t);
  void Finish(uint32_t c, int64_t t);
  void Count(Case& cs, const OpenClock& clock, int outcome);  // 0 met, 1 missed, 2 pending
  uint16_t ClockId(const std::string& name);

  const Scenario& sc_;
  const RunOptions& opt_;
  Random rng_;
  rules::Rules rules_;
  std::priority_queue<Ev, std::vector<Ev>, std::greater<Ev>> events_;
  uint64_t seq_ = 0;
  std::vector<Agent> agents_;
  std::vector<uint32_t> agent_base_;  // first agent of each state
  std::vector<Case> cases_;
  std::vector<Msg> msgs_;
  std::vector<uint32_t> free_msgs_;
  bool broker_down_ = false;
  int32_t broker_crash_ = -1;
  std::vector<uint32_t> broker_wait_;
  std::vector<std::string> clock_names_;
  std::vector<std::vector<double>> day_latency_;
  std::map<std::string, std::vector<double>> kind_latency_;
  std::vector<double> all_latency_;
  // compliance by LegalBasis value, state index and clock id (maps at the end)
  std::vector<Compliance> by_basis_ = std::vector<Compliance>(256), by_state_, by_clock_;
  Results res_;
};

uint16_t Model::ClockId(const std::string& name) {
  for (size_t i = 0; i < clock_names_.size(); ++i)
    if (clock_names_[i] == name) return static_cast<uint16_t>(i);
  clock_names_.push_back(name);
  return static_cast<uint16_t>(clock_names_.size() - 1);
}

void Model::Setup() {
  for (size_t s = 0; s < sc_.states.size(); ++s) agent_base_.push_back(rules_.agent_base(static_cast<uint32_t>(s)));
  for (size_t a = 0; a < rules_.agent_ids().size(); ++a) {
    Agent ag;
    ag.state = rules_.agent_state()[a];
    agents_.push_back(ag);
    res_.agent_ids.push_back(rules_.agent_ids()[a]);
  }
}

Result<Results> Model::Run() {
  res_.scenario = sc_.name;
  res_.seed = sc_.seed;
  res_.start_ms = sc_.start_ms;
  res_.duration_ms = sc_.duration_ms;
  res_.drain_ms = sc_.drain_ms;
  res_.states = static_cast<int64_t>(sc_.states.size());
  const int64_t end = sc_.start_ms + sc_.duration_ms + sc_.drain_ms;
  const size_t ndays = static_cast<size_t>((sc_.duration_ms + sc_.drain_ms + kDay - 1) / kDay);
  res_.days.resize(std::max<size_t>(ndays, 1));
  day_latency_.resize(res_.days.size());
  Setup();
  res_.agents = static_cast<int64_t>(agents_.size());
  by_state_.resize(sc_.states.size());

  // Faults: outages then crashes, in scenario order.
  for (size_t i = 0; i < sc_.outages.size(); ++i) {
    const Outage& o = sc_.outages[i];
    res_.faults.push_back({"agent " + o.agent, o.at_ms, o.for_ms});
    Push(sc_.start_ms + o.at_ms, kEvAgentDown, static_cast<uint32_t>(i));
    Push(sc_.start_ms + o.at_ms + o.for_ms, kEvAgentUp, static_cast<uint32_t>(i));
  }
  for (size_t i = 0; i < sc_.broker_crashes.size(); ++i) {
    const BrokerCrash& b = sc_.broker_crashes[i];
    res_.faults.push_back({"broker", b.at_ms, b.down_ms});
    Push(sc_.start_ms + b.at_ms, kEvBrokerDown, static_cast<uint32_t>(i));
    Push(sc_.start_ms + b.at_ms + b.down_ms, kEvBrokerUp, static_cast<uint32_t>(i));
  }
  for (size_t i = 0; i < sc_.requests.size(); ++i)
    Push(sc_.start_ms + sc_.requests[i].at_ms, kEvScripted, static_cast<uint32_t>(i));
  for (size_t s = 0; s < rules_.senders().size(); ++s)
    if (rules_.senders()[s].base > 0) Push(sc_.start_ms, kEvArrival, static_cast<uint32_t>(s));
  for (size_t d = 0; d < res_.days.size(); ++d)
    Push(sc_.start_ms + static_cast<int64_t>(d + 1) * kDay - 1, kEvDay, static_cast<uint32_t>(d));
  res_.backlog.assign(res_.days.size(), std::vector<int32_t>(agents_.size(), 0));
  res_.queued.assign(res_.days.size(), std::vector<int32_t>(agents_.size(), 0));

  const int64_t arrivals_end = sc_.start_ms + sc_.duration_ms;
  int64_t next_progress = sc_.start_ms;
  const int64_t progress_step = std::max<int64_t>(1, (end - sc_.start_ms) / 200);
  while (!events_.empty()) {
    Ev ev = events_.top();
    if (ev.t > end) break;
    events_.pop();
    ++res_.events;
    int64_t t = ev.t;
    if (opt_.progress && t >= next_progress) {
      opt_.progress(static_cast<double>(t - sc_.start_ms) / static_cast<double>(end - sc_.start_ms));
      next_progress = t + progress_step;
    }
    switch (ev.type) {
      case kEvArrival: {
        // Non-homogeneous Poisson arrivals by thinning: candidates at the
        // peak rate, each kept with probability rate(t) / peak.
        uint32_t s = ev.a;
        if (t > sc_.start_ms || ev.b == 1) {
          rules::Arrival arr;
          if (rules_.DrawArrival(rng_, s, t, &arr))
            NewRequest(t, s, arr.to, *arr.what, false);
          else
            ++res_.arrival_candidates_rejected;
        }
        int64_t next = rules_.NextCandidate(rng_, s, t);
        if (next < arrivals_end) Push(next, kEvArrival, s, 1);
        break;
      }
      case kEvScripted: {
        const ScriptedRequest& r = sc_.requests[ev.a];
        uint32_t from = 0, to = 0;
        for (size_t s = 0; s < sc_.states.size(); ++s) {
          if (sc_.states[s].id == r.from) from = static_cast<uint32_t>(s);
          if (sc_.states[s].id == r.to) to = static_cast<uint32_t>(s);
        }
        NewRequest(t, from, to, r.what, true);
        break;
      }
      case kEvAtBroker:
        AtBroker(ev.a, t);
        break;
      case kEvDeliver:
        if (agents_[msgs_[ev.a].to].down) {
          Hold(ev.a, t, agents_[msgs_[ev.a].to].outage);
          agents_[msgs_[ev.a].to].inbound.push_back(ev.a);
        } else {
          Delivered(ev.a, t);
        }
        break;
      case kEvAction:
        DoAction(ev.a, static_cast<Action>(ev.b), t);
        break;
      case kEvAgentDown: {
        uint32_t a = 0;
        for (size_t i = 0; i < res_.agent_ids.size(); ++i)
          if (res_.agent_ids[i] == sc_.outages[ev.a].agent) a = static_cast<uint32_t>(i);
        agents_[a].down = true;
        agents_[a].outage = static_cast<int32_t>(ev.a);
        break;
      }
      case kEvAgentUp: {
        uint32_t a = 0;
        for (size_t i = 0; i < res_.agent_ids.size(); ++i)
          if (res_.agent_ids[i] == sc_.outages[ev.a].agent) a = static_cast<uint32_t>(i);
        Agent& ag = agents_[a];
        ag.down = false;
        ag.outage = -1;
        std::deque<uint32_t> out;
        out.swap(ag.outbox);
        for (uint32_t m : out) {
          Release(m, t);
          Leave(m, t);
        }
        if (!broker_down_) {
          std::deque<uint32_t> in;
          in.swap(ag.inbound);
          for (uint32_t m : in) {
            Release(m, t);
            Push(t + HopDelay(msgs_[m].size), kEvDeliver, m);
          }
        }
        break;
      }
      case kEvBrokerDown:
        broker_down_ = true;
        broker_crash_ = static_cast<int32_t>(sc_.outages.size() + ev.a);
        break;
      case kEvBrokerUp: {
        broker_down_ = false;
        broker_crash_ = -1;
        std::vector<uint32_t> wait;
        wait.swap(broker_wait_);
        for (uint32_t m : wait) {
          Release(m, t);
          AtBroker(m, t);
        }
        for (auto& ag : agents_) {
          if (ag.down) continue;
          std::deque<uint32_t> in;
          in.swap(ag.inbound);
          for (uint32_t m : in) {
            Release(m, t);
            Push(t + HopDelay(msgs_[m].size), kEvDeliver, m);
          }
        }
        break;
      }
      case kEvDay: {
        for (size_t a = 0; a < agents_.size(); ++a) {
          res_.backlog[ev.a][a] = agents_[a].open_cases;
          res_.queued[ev.a][a] = static_cast<int32_t>(agents_[a].outbox.size() + agents_[a].inbound.size());
        }
        break;
      }
    }
  }
  if (opt_.progress) opt_.progress(1.0);

  // The end: clocks still running are missed if overdue, else pending.
  for (uint32_t c = 0; c < cases_.size(); ++c) {
    Case& cs = cases_[c];
    if (cs.done) continue;
    ++res_.open_at_end;
    for (const auto& clock : cs.clocks) Count(cs, clock, clock.due < end ? 1 : 2);
    cs.clocks.clear();
    Finish(c, end);
  }
  for (size_t b = 0; b < by_basis_.size(); ++b) {
    const Compliance& c = by_basis_[b];
    if (c.met + c.missed + c.pending > 0)
      res_.by_basis[wire::EnumNameLegalBasis(static_cast<wire::LegalBasis>(b))] = c;
  }
  for (size_t i = 0; i < by_state_.size(); ++i) {
    const Compliance& c = by_state_[i];
    if (c.met + c.missed + c.pending > 0) res_.by_state[sc_.states[i].id] = c;
  }
  for (size_t i = 0; i < by_clock_.size(); ++i) {
    const Compliance& c = by_clock_[i];
    if (c.met + c.missed + c.pending > 0) res_.by_clock[clock_names_[i]] = c;
  }
  for (size_t d = 0; d < res_.days.size(); ++d) {
    auto& v = day_latency_[d];
    res_.days[d].p50 = Percentile(v, 0.5);
    res_.days[d].p90 = Percentile(v, 0.9);
    res_.days[d].p99 = Percentile(v, 0.99);
  }
  res_.latency = Summarise(std::move(all_latency_));
  for (auto& [k, v] : kind_latency_) res_.latency_by_kind[k] = Summarise(std::move(v));
  return std::move(res_);
}

void Model::NewRequest(int64_t t, uint32_t from, uint32_t to, const MixEntry& e, bool scripted) {
  Case c;
  c.from_state = from;
  c.to_state = to;
  c.kind = e.kind;
  c.basis = e.basis;
  c.from_agent = Route(from, e.kind);
  c.to_agent = Route(to, e.kind);
  c.created = t;
  if (scripted) {
    c.urgent = e.urgent >= 1;
    c.provisional = e.provisional_measures >= 1;
  } else {
    rules_.DrawFlags(rng_, e, &c.urgent, &c.provisional);
  }
  c.requested_deadline = e.requested_deadline_ms != 0 ? t + e.requested_deadline_ms : 0;
  cases_.push_back(std::move(c));
  uint32_t id = static_cast<uint32_t>(cases_.size() - 1);
  ++res_.requests;
  ++res_.days[DayOf(t)].created;
  const Case& cc = cases_[id];
  Send(id, cc.from_agent, cc.to_agent, cc.kind, kPlain, false, false, sc_.request_size, t);
}

void Model::Send(uint32_t case_id, uint32_t from, uint32_t to, K kind, Variant v, bool apply_on_leave,
                 bool final, int64_t size, int64_t t) {
  Msg m;
  m.case_id = case_id;
  m.from = from;
  m.to = to;
  m.kind = kind;
  m.variant = v;
  m.apply_on_leave = apply_on_leave;
  m.final = final;
  m.size = size;
  uint32_t id = NewMsg(m);
  Agent& ag = agents_[from];
  if (ag.down || !ag.outbox.empty()) {  // store and forward, in order
    Hold(id, t, ag.down ? ag.outage : msgs_[ag.outbox.back()].hold_fault);
    ag.outbox.push_back(id);
    return;
  }
  Leave(id, t);
}

void Model::Leave(uint32_t m, int64_t t) {
  Msg& msg = msgs_[m];
  if (msg.apply_on_leave) {
    workflow::Step step = MakeStep(msg.kind, msg.variant, t);
    if (msg.variant == kExtension) {
      const Case& c = cases_[msg.case_id];
      step.deadline_kind = c.extension_kind;
      step.new_deadline_ms = c.extension_due;
      step.legal_basis_for_extension = wire::EnumNameLegalBasis(c.basis);
    }
    ApplyStep(msg.case_id, Role::kRequested, step, t);
    if (msg.final) --agents_[msg.from].open_cases;
  }
  Push(t + HopDelay(msg.size), kEvAtBroker, m);
}

void Model::AtBroker(uint32_t m, int64_t t) {
  if (broker_down_) {
    Hold(m, t, broker_crash_);
    broker_wait_.push_back(m);
    return;
  }
  ++res_.messages;
  ++res_.days[DayOf(t)].messages;
  Forward(m, t);
}

void Model::Forward(uint32_t m, int64_t t) {
  Agent& to = agents_[msgs_[m].to];
  if (to.down) {
    Hold(m, t, to.outage);
    to.inbound.push_back(m);
    return;
  }
  Push(t + HopDelay(msgs_[m].size), kEvDeliver, m);
}

void Model::Release(uint32_t m, int64_t t) {
  Msg& msg = msgs_[m];
  if (msg.hold_fault < 0) return;
  FaultEffect& f = res_.faults[static_cast<size_t>(msg.hold_fault)];
  int64_t held = t - msg.hold_start;
  ++f.messages_held;
  f.held_ms_total += held;
  f.max_held_ms = std::max(f.max_held_ms, held);
  ++res_.days[DayOf(t)].held;
  auto& cf = cases_[msg.case_id].faults;
  uint16_t fid = static_cast<uint16_t>(msg.hold_fault);
  if (std::find(cf.begin(), cf.end(), fid) == cf.end()) cf.push_back(fid);
  msg.hold_fault = -1;
}

void Model::Count(Case& c, const OpenClock& clock, int outcome) {
  Compliance d;
  (outcome == 0 ? d.met : outcome == 1 ? d.missed : d.pending) = 1;
  res_.compliance.Add(d);
  by_basis_[static_cast<size_t>(c.basis)].Add(d);
  by_state_[c.to_state].Add(d);
  if (by_clock_.size() <= clock.name) by_clock_.resize(clock.name + 1u);
  by_clock_[clock.name].Add(d);
  c.own.Add(d);
}

void Model::ApplyStep(uint32_t id, Role role, const workflow::Step& step, int64_t t) {
  Case& c = cases_[id];
  auto next = workflow::Apply(c.cs, role, step);
  if (!next.ok()) {
    ++res_.workflow_rejections;
    return;
  }
  c.cs = std::move(*next);
  // Which clocks run now: those that ran before and stopped are met or missed at `t`.
  workflow::Clocks now = workflow::ComputeClocks(c.cs, sc_.policy, t);
  std::vector<OpenClock> open;
  open.reserve(now.open.size());
  for (const auto& cl : now.open) open.push_back({ClockId(cl.name), cl.started_ms, cl.due_ms});
  for (const auto& old : c.clocks) {
    bool running = std::any_of(open.begin(), open.end(), [&](const OpenClock& o) {
      return o.name == old.name && o.started == old.started;
    });
    if (!running) Count(c, old, t <= old.due ? 0 : 1);
  }
  c.clocks = std::move(open);
}

void Model::Finish(uint32_t id, int64_t t) {
  Case& c = cases_[id];
  c.done = true;
  for (uint16_t f : c.faults) {
    ++res_.faults[f].cases_affected;
    res_.faults[f].clocks.Add(c.own);
  }
  c.cs = workflow::CaseState{};
  c.clocks.clear();
  c.clocks.shrink_to_fit();
  c.faults.clear();
  c.faults.shrink_to_fit();
}

void Model::Delivered(uint32_t m, int64_t t) {
  Msg msg = msgs_[m];
  free_msgs_.push_back(m);
  Case& c = cases_[msg.case_id];
  const Profile& requested = sc_.profiles[sc_.states[c.to_state].profile];
  const Profile& requesting = sc_.profiles[sc_.states[c.from_state].profile];
  uint32_t cid = msg.case_id;
  if (static_cast<int>(msg.kind) < 32) {  // the request reaches the requested side
    workflow::RequestInfo info;
    info.kind = c.kind;
    info.legal_basis = c.basis;
    info.urgent = c.urgent;
    info.received_ms = t;
    info.requested_deadline_ms = c.requested_deadline;
    info.provisional_measures = c.provisional;
    c.cs = workflow::Start(info);
    workflow::Clocks now = workflow::ComputeClocks(c.cs, sc_.policy, t);
    for (const auto& cl : now.open) c.clocks.push_back({ClockId(cl.name), cl.started_ms, cl.due_ms});
    ++res_.delivered;
    ++res_.days[DayOf(t)].delivered;
    ++agents_[c.to_agent].open_cases;
    Push(Later(c.to_state, t, requested.acknowledge), kEvAction, cid, kAck);
    return;
  }
  if (msg.kind == K::FurtherInformationRequest) {  // at the requesting side
    Push(Later(c.from_state, t, requesting.reply), kEvAction, cid, kReply);
    return;
  }
  if (msg.kind == K::FurtherInformationReply) {  // at the requested side
    ApplyStep(cid, Role::kRequesting, MakeStep(K::FurtherInformationReply, kPlain, t), t);
    PlanDecision(cid, t, Later(c.to_state, t, IsVerification(c.kind) ? requested.verify : requested.decide),
                 IsVerification(c.kind) ? kVerify : kDecide);
    return;
  }
  if (msg.final) {  // the answer reaches the requesting side: it closes the case
    double latency = static_cast<double>(t - c.created);
    ++res_.completed;
    ++res_.days[DayOf(t)].completed;
    day_latency_[DayOf(t)].push_back(latency);
    all_latency_.push_back(latency);
    kind_latency_[wire::EnumNameMessageKind(c.kind)].push_back(latency);
    ApplyStep(cid, Role::kRequesting, MakeStep(K::CaseClosed, kPlain, t), t);
    Finish(cid, t);
  }
}

const OpenClock* Model::ExtendableClock(const Case& c, const ClockRule** rule) const {
  for (const auto& clock : c.clocks) {
    const std::string& name = clock_names_[clock.name];
    if (name != "decision" && name != "surrender_decision") continue;
    const ClockRule* r = sc_.policy.Find(c.basis, name);
    if (r == nullptr || r->extension_ms <= 0) continue;
    *rule = r;
    return &clock;
  }
  return nullptr;
}

void Model::PlanDecision(uint32_t cid, int64_t t, int64_t at, Action a) {
  Push(at, kEvAction, cid, a);
  Case& c = cases_[cid];
  c.planned_decision = at;
  const Profile& p = sc_.profiles[sc_.states[c.to_state].profile];
  if (c.extended || p.extension_rate <= 0) return;
  const ClockRule* rule = nullptr;
  const OpenClock* clock = ExtendableClock(c, &rule);
  if (clock == nullptr || at <= clock->due) return;
  if (!rules_.DrawExtension(rng_, p)) return;
  c.extended = true;
  c.extension_due = clock->due + rule->extension_ms;
  c.extension_kind = clock_names_[clock->name] == "decision" ? "RecognitionDecision" : "SurrenderDecision";
  // Notified a few days before the date it extends.
  Push(Work(c.to_state, std::max(t, clock->due - 3 * kDay)), kEvAction, cid, kExtend);
}

void Model::DoAction(uint32_t cid, Action a, int64_t t) {
  Case& c = cases_[cid];
  const Profile& p = sc_.profiles[sc_.states[c.to_state].profile];
  auto send = [&](K kind, Variant v, bool final, int64_t size) {
    Send(cid, c.to_agent, c.from_agent, kind, v, true, final, size, t);
  };
  switch (a) {
    case kAck:
      send(K::Acknowledgement, kPlain, false, sc_.message_size);
      if (IsVerification(c.kind))
        PlanDecision(cid, t, Later(c.to_state, t, p.verify), kVerify);
      else
        PlanDecision(cid, t, Later(c.to_state, t, p.decide), kDecide);
      break;
    case kExtend: {
      const ClockRule* rule = nullptr;
      if (ExtendableClock(c, &rule) == nullptr) break;  // decided meanwhile
      ++res_.extensions;
      send(K::DeadlineExtension, kExtension, false, sc_.message_size);
      break;
    }
    case kDecide:
    case kVerify:
      switch (rules_.DrawDecision(rng_, p, c.fi_done, a == kVerify)) {
        case rules::Decision::kFurtherInformation:
          c.fi_done = true;
          ++res_.further_information;
          send(K::FurtherInformationRequest, kPlain, false, sc_.message_size);
          return;
        case rules::Decision::kVerified:
          ++res_.executed;
          send(K::VerificationResult, kPlain, true, sc_.message_size);
          return;
        case rules::Decision::kRefuse:
          ++res_.refused;
          send(K::Decision, kRefuseDecision, true, sc_.message_size);
          return;
        case rules::Decision::kExecute:
          break;
      }
      send(K::Decision, kExecuteDecision, false, sc_.message_size);
      if (c.kind == K::ExtraditionRequest)
        Push(Later(c.to_state, t, p.surrender), kEvAction, cid, kSurrender);
      else if (c.kind == K::ProvisionalArrestRequest)  // the arrest, reported like a surrender's timing
        Push(Later(c.to_state, t, p.surrender), kEvAction, cid, kExecute);
      else
        Push(Later(c.to_state, t, p.execute), kEvAction, cid, kExecute);
      break;
    case kExecute:
      ++res_.executed;
      send(K::ExecutionReport, kFull, true, rules_.DrawEvidenceSize(rng_));
      break;
    case kSurrender:
      ++res_.executed;
      send(K::SurrenderArrangement, kCompleted, true, sc_.message_size);
      break;
    case kReply:
      Send(cid, c.from_agent, c.to_agent, K::FurtherInformationReply, kPlain, false, false,
           sc_.message_size, t);
      break;
  }
}

}  // namespace

Result<Results> RunModel(const Scenario& scenario, const RunOptions& options) {
  Model m(scenario, options);
  return m.Run();
}

}  // namespace mlahub::sim
