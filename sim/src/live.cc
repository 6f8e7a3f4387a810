#include "mlahub/sim/live.h"

#include <arpa/inet.h>
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <deque>
#include <filesystem>
#include <map>
#include <memory>
#include <queue>
#include <random>
#include <set>
#include <thread>
#include <unordered_map>

#include <nlohmann/json.hpp>

#include "mlahub/config/config.h"
#include "mlahub/core/clock.h"
#include "mlahub/core/file.h"
#include "mlahub/crypto/random.h"
#include "mlahub/envelope/envelope.h"
#include "mlahub/ops/process.h"
#include "mlahub/sim/report.h"
#include "mlahub/workflow/deadlines.h"
#include "mlahub/workflow/workflow.h"
#include "api.h"
#include "bodies.h"
#include "relay.h"
#include "rules.h"

namespace mlahub::sim {

// A named namespace, not an anonymous one: in a unity build this file may
// share a translation unit with model.cc, whose anonymous namespace has
// its own Ev, Msg, Case, kDay.
namespace live_engine {

namespace fs = std::filesystem;
using ops::Child;
using ops::RunCommand;
using ops::RunOutput;
using rules::Percentile;
using rules::Summarise;
using json = nlohmann::json;
using K = wire::MessageKind;
using workflow::Role;
using SteadyClock = std::chrono::steady_clock;
using std::chrono::milliseconds;
constexpr int64_t kDay = workflow::kDayMs;

enum EvType : uint8_t { kEvArrival, kEvScripted, kEvAction, kEvAgentDown, kEvAgentUp, kEvBrokerDown, kEvBrokerUp, kEvDay };
enum Action : uint32_t { kAck, kDecide, kVerify, kExecute, kSurrender, kReply, kExtend };

struct Ev {
  int64_t t;
  uint64_t seq;
  uint32_t a, b;
  EvType type;
  bool operator>(const Ev& o) const { return t != o.t ? t > o.t : seq > o.seq; }
};

struct Msg {
  std::string id;
  uint32_t case_id = 0;
  uint32_t from = 0, to = 0;  // agents
  K kind = K::Unspecified;
  Variant variant = Variant::kPlain;
  bool requested_step = false;  // a requested-side step: applied when its agent takes it
  bool final = false;           // ends the case at the requesting side
  int32_t hold_fault = -1;      // the outage that kept it in the office's queue
  int64_t hold_start = 0;
  bool posted = false, delivered = false;
  int64_t post_t = 0;           // simulated time the agent took it
  // First refusal as "not allowed now" (steady clock, ms; 0 = none): the step
  // it follows may still be on its way to this agent (see Post).
  int64_t early_since_ms = 0;
};

struct OpenClock {
  std::string name;
  int64_t started, due;
};

struct Case {
  uint32_t from_state = 0, to_state = 0, from_agent = 0, to_agent = 0;
  K kind = K::MlaRequest;
  wire::LegalBasis basis = wire::LegalBasis::Untoc;
  bool urgent = false, provisional = false, fi_done = false, done = false, extended = false;
  int64_t extension_due = 0;
  std::string extension_kind;
  int64_t created = 0, requested_deadline = 0;
  std::string request_id;
  workflow::CaseState cs;
  std::vector<OpenClock> clocks;
  Compliance own;
  std::vector<uint16_t> faults;
};

struct Node {
  std::string id, config, data, log;
  Child proc;
  bool down = false;
  int32_t outage = -1;
  std::unique_ptr<AgentApi> api;
  std::deque<uint32_t> outbox;  // messages the office has not handed to its agent yet
  uint64_t inbox_after = 0;
  int32_t open_cases = 0;
  std::unique_ptr<Relay> relay;  // between the agent and the broker (added network delay), or null
};

class Live {
 public:
  Live(const Scenario& sc, const LiveOptions& opt) : sc_(sc), opt_(opt), rules_(sc), rng_(sc.seed) {}
  ~Live() { StopAll(SIGKILL); }
  Result<LiveResults> Run();

 private:
  void Note(const std::string& s) {
    if (opt_.note) opt_.note(s);
  }
  void Push(int64_t t, EvType type, uint32_t a = 0, uint32_t b = 0) { events_.push(Ev{t, seq_++, a, b, type}); }
  int64_t SimNow() const {
    double real = std::chrono::duration<double, std::milli>(SteadyClock::now() - real0_).count();
    return sc_.start_ms + static_cast<int64_t>(real * rate_);
  }
  SteadyClock::time_point RealAt(int64_t t) const {
    return real0_ + std::chrono::microseconds(static_cast<int64_t>((t - sc_.start_ms) * 1000.0 / rate_));
  }
  // Every daemon's scaled clock: clock_origin_ms + (real now - clock_origin_ms) * rate.
  int64_t AgentClock() const {
    int64_t real = SystemClock::Instance().NowMillis() - clock_origin_ms_;
    return clock_origin_ms_ + static_cast<int64_t>(static_cast<double>(real) * rate_);
  }
  size_t DayOf(int64_t t) const {
    int64_t d = (t - sc_.start_ms) / kDay;
    return static_cast<size_t>(std::clamp<int64_t>(d, 0, static_cast<int64_t>(res_.days.size()) - 1));
  }
  int64_t Later(uint32_t s, int64_t t, const Distribution& d) { return rules_.Later(rng_, s, t, d); }

  Status Setup();
  Status StartBroker();
  Status StartAgent(Node& n);
  void StopAll(int sig);
  Status WaitConnected(milliseconds timeout);

  void Handle(const Ev& ev);
  void NewRequest(int64_t t, uint32_t from, uint32_t to, const MixEntry& e, bool scripted);
  void Queue(uint32_t case_id, uint32_t from, uint32_t to, K kind, Variant v, bool requested_step, bool final,
             int64_t t);
  void Flush();
  bool Post(Node& n, uint32_t m);
  void Poll();
  void Delivered(uint32_t m, int64_t t);
  void DoAction(uint32_t c, Action a, int64_t t);
  void PlanDecision(uint32_t c, int64_t t, int64_t at, Action a);
  const OpenClock* ExtendableClock(const Case& c, const workflow::ClockRule** rule) const;
  void ApplyStep(uint32_t c, Role role, const workflow::Step& step, int64_t t);
  void Count(Case& c, const OpenClock& clock, int outcome);
  void Finish(uint32_t c);
  bool AllDone() const;

  Status Drain();
  Status Account();

  const Scenario& sc_;
  const LiveOptions& opt_;
  rules::Rules rules_;
  Random rng_;
  double rate_ = 1;
  int64_t clock_origin_ms_ = 0;
  std::string bin_, net_dir_, log_dir_;
  SteadyClock::time_point real0_;
  std::priority_queue<Ev, std::vector<Ev>, std::greater<Ev>> events_;
  uint64_t seq_ = 0;
  int pending_faults_ = 0, pending_arrivals_ = 0;

  Child broker_;
  std::string broker_config_, broker_data_;
  std::vector<Node> nodes_;
  std::vector<Case> cases_;
  std::vector<Msg> msgs_;
  std::unordered_map<std::string, uint32_t> by_id_;
  std::map<std::string, std::vector<double>> kind_latency_;
  std::vector<std::vector<double>> day_latency_;
  std::vector<double> all_latency_;
  std::map<std::string, Compliance> by_basis_, by_state_, by_clock_;
  Results res_;
  LiveCounts live_;
};

Status Live::Setup() {
  bin_ = opt_.bin_dir;
  for (const char* b : {"mlahub", "mlahub-broker", "mlahub-agent"})
    if (::access((bin_ + "/" + b).c_str(), X_OK) != 0)
      return Status::NotFound(bin_ + "/" + b + " not found (build it, or pass --bin-dir)");
  std::error_code ec;
  fs::create_directories(opt_.out_dir, ec);
  if (ec) return Status::IoError("cannot create " + opt_.out_dir + ": " + ec.message());
  fs::path out = fs::absolute(opt_.out_dir, ec);
  net_dir_ = (out / "network").string();
  log_dir_ = (out / "logs").string();
  // Our own network of an earlier run: a fresh one each time.
  if (fs::exists(net_dir_ + "/network.json")) fs::remove_all(net_dir_, ec);
  fs::create_directories(log_dir_, ec);
  if (ec) return Status::IoError("cannot create " + log_dir_ + ": " + ec.message());
  live_.network_dir = net_dir_;

  std::string ids;
  for (const auto& id : rules_.agent_ids()) ids += (ids.empty() ? "" : ",") + id;
  const int nports = 10 + 2 * static_cast<int>(rules_.agent_ids().size()) + 2;
  MLAHUB_ASSIGN_OR_RETURN(uint16_t base, ops::FreePortRange(nports));
  MLAHUB_ASSIGN_OR_RETURN(
      RunOutput init,
      RunCommand({bin_ + "/mlahub", "network", "init", "--dir", net_dir_, "--nodes", ids, "--base-port",
                  std::to_string(base), "--network", "sim-" + sc_.name, "--json"},
                 log_dir_ + "/network-init.log", milliseconds(120000)));
  if (init.exit_code != 0)
    return Status::Unavailable("mlahub network init failed (exit " + std::to_string(init.exit_code) + "; see " +
                               log_dir_ + "/network-init.log)");

  // Clock rate and one clock origin for every daemon: each computes
  // simulated now = origin + (real now - origin) * rate, so a daemon
  // restarted late in the run resumes the time the others keep. The skew
  // allowed covers what real time can put between two processes' readings
  // (scheduling, the whole real ms their clocks count in): 200 real ms, at
  // least a simulated day, at most the configs' 30 days.
  clock_origin_ms_ = SystemClock::Instance().NowMillis();
  live_.clock_origin_ms = clock_origin_ms_;
  const int64_t skew = std::clamp<int64_t>(static_cast<int64_t>(200 * rate_), kDay, 30 * kDay);
  broker_config_ = net_dir_ + "/hub/broker.toml";
  broker_data_ = net_dir_ + "/hub/data";
  uint16_t broker_port = 0;
  {
    MLAHUB_ASSIGN_OR_RETURN(config::BrokerConfig bc, config::LoadBrokerConfig(broker_config_));
    bc.clock_rate = rate_;
    bc.clock_origin_ms = clock_origin_ms_;
    bc.max_clock_skew_ms = skew;
    if (auto colon = bc.listen.rfind(':'); colon != std::string::npos)
      broker_port = static_cast<uint16_t>(std::atoi(bc.listen.c_str() + colon + 1));
    // Timers read the scaled clock: keep them sane in real time (redelivery
    // after 0.2 s, at most every 3 s) instead of a busy loop at high rates.
    bc.redeliver_initial_ms = std::clamp<int64_t>(static_cast<int64_t>(200 * rate_), bc.redeliver_initial_ms, kDay);
    bc.redeliver_max_ms = std::clamp<int64_t>(static_cast<int64_t>(3000 * rate_), bc.redeliver_max_ms, kDay);
    bc.redeliver_initial_ms = std::min(bc.redeliver_initial_ms, bc.redeliver_max_ms);
    MLAHUB_RETURN_IF_ERROR(WriteFileAtomic(broker_config_, AsBytes(config::BrokerConfigToToml(bc)), 0644));
  }
  // Added network delay: a relay per agent, in simulated time (divided by
  // the clock rate) or in real time ([live] network = "real").
  const bool delayed = sc_.delay_ms > 0 || sc_.jitter_ms > 0 || sc_.bandwidth_bps > 0;
  RelayOptions ro;
  const double scale = sc_.live_network_real ? 1.0 : 1.0 / rate_;
  ro.target_port = broker_port;
  ro.delay_ms = static_cast<double>(sc_.delay_ms) * scale;
  ro.jitter_mean_ms = static_cast<double>(sc_.jitter_ms) * scale;
  ro.bytes_per_ms = sc_.bandwidth_bps / 1000.0 / scale;
  live_.network_mode = sc_.live_network_real ? "real" : "scaled";
  if (delayed) {
    if (broker_port == 0) return Status::Internal("cannot read the broker's port from " + broker_config_);
    live_.relay_delay_ms = ro.delay_ms;
    live_.relay_jitter_ms = ro.jitter_mean_ms;
    live_.relay_bytes_per_ms = ro.bytes_per_ms;
  }
  for (const auto& id : rules_.agent_ids()) {
    Node n;
    n.id = id;
    n.config = net_dir_ + "/nodes/" + id + "/agent.toml";
    n.data = net_dir_ + "/nodes/" + id + "/data";
    n.log = log_dir_ + "/" + id + ".log";
    MLAHUB_ASSIGN_OR_RETURN(config::AgentConfig ac, config::LoadAgentConfig(n.config));
    ac.clock_rate = rate_;
    ac.clock_origin_ms = clock_origin_ms_;
    ac.max_clock_skew_ms = skew;
    if (delayed) {
      ro.seed = sc_.seed * 1000003 + nodes_.size();
      MLAHUB_ASSIGN_OR_RETURN(n.relay, Relay::Start(ro));
      ac.broker = n.relay->endpoint();
      ++live_.relays;
    }
    // The audit cadence reads the scaled clock (about once a real second);
    // libzmq's reconnect interval is real time (at most 2 s after a broker restart).
    ac.audit_interval_ms = std::clamp<int64_t>(static_cast<int64_t>(1000 * rate_), ac.audit_interval_ms, kDay);
    ac.reconnect_max_ms = std::min<int64_t>(ac.reconnect_max_ms, 2000);
    ac.reconnect_initial_ms = std::min(ac.reconnect_initial_ms, ac.reconnect_max_ms);
    MLAHUB_RETURN_IF_ERROR(WriteFileAtomic(n.config, AsBytes(config::AgentConfigToToml(ac)), 0644));
    nodes_.push_back(std::move(n));
  }
  return Status::Ok();
}

Status Live::StartBroker() {
  MLAHUB_ASSIGN_OR_RETURN(broker_, Child::Spawn({bin_ + "/mlahub-broker", "--config", broker_config_},
                                                {.log_file = log_dir_ + "/broker.log"}));
  Status st = ops::WaitForReadyFile(broker_data_ + "/ready.json", broker_, milliseconds(opt_.ready_timeout_ms)).status();
  if (!st.ok()) return Status::Unavailable("broker: " + st.message() + "; see " + log_dir_ + "/broker.log");
  return Status::Ok();
}

Status Live::StartAgent(Node& n) {
  MLAHUB_ASSIGN_OR_RETURN(n.proc, Child::Spawn({bin_ + "/mlahub-agent", "--config", n.config}, {.log_file = n.log}));
  Status st = ops::WaitForReadyFile(n.data + "/ready.json", n.proc, milliseconds(opt_.ready_timeout_ms)).status();
  if (!st.ok()) return Status::Unavailable("agent " + n.id + ": " + st.message() + "; see " + n.log);
  if (!n.api) {
    MLAHUB_ASSIGN_OR_RETURN(AgentApi c, AgentApi::FromConfigFile(n.config));
    n.api = std::make_unique<AgentApi>(std::move(c));
  }
  return Status::Ok();
}

void Live::StopAll(int sig) {
  for (auto& n : nodes_) n.proc.Signal(sig);
  broker_.Signal(sig);
}

Status Live::WaitConnected(milliseconds timeout) {
  auto deadline = SteadyClock::now() + timeout;
  for (auto& n : nodes_) {
    for (;;) {
      auto h = n.api->Get("/v1/health");
      if (h.ok() && h->value("connection", "") == "connected") break;
      if (SteadyClock::now() >= deadline) return Status::Unavailable("agent " + n.id + " did not connect to the broker");
      std::this_thread::sleep_for(milliseconds(20));
    }
  }
  return Status::Ok();
}

Result<LiveResults> Live::Run() {
  const int64_t span = sc_.duration_ms + sc_.drain_ms;
  rate_ = opt_.rate > 0 ? opt_.rate
          : sc_.live_clock_rate > 0
              ? sc_.live_clock_rate
              : std::max(1.0, static_cast<double>(span) / (std::max(1.0, opt_.target_seconds) * 1000.0));
  live_.clock_rate = rate_;
  MLAHUB_RETURN_IF_ERROR(Setup());

  res_.scenario = sc_.name;
  res_.seed = sc_.seed;
  res_.start_ms = sc_.start_ms;
  res_.duration_ms = sc_.duration_ms;
  res_.drain_ms = sc_.drain_ms;
  res_.states = static_cast<int64_t>(sc_.states.size());
  res_.agents = static_cast<int64_t>(nodes_.size());
  res_.agent_ids = rules_.agent_ids();
  const int64_t end = sc_.start_ms + span;
  const size_t ndays = static_cast<size_t>((span + kDay - 1) / kDay);
  res_.days.resize(std::max<size_t>(ndays, 1));
  day_latency_.resize(res_.days.size());
  res_.backlog.assign(res_.days.size(), std::vector<int32_t>(nodes_.size(), 0));
  res_.queued.assign(res_.days.size(), std::vector<int32_t>(nodes_.size(), 0));

  if (live_.relays > 0)
    Note("live: network delay " + std::to_string(live_.relay_delay_ms).substr(0, 8) + " ms real per hop (" +
         live_.network_mode + "), one relay per agent");
  Note("live: network in " + net_dir_ + ", clock rate " + std::to_string(static_cast<int64_t>(rate_)) +
       " (a simulated day = " + std::to_string(kDay / rate_ / 1000.0).substr(0, 6) + " s)");
  MLAHUB_RETURN_IF_ERROR(StartBroker());
  for (auto& n : nodes_) MLAHUB_RETURN_IF_ERROR(StartAgent(n));
  MLAHUB_RETURN_IF_ERROR(WaitConnected(milliseconds(opt_.ready_timeout_ms)));

  for (size_t i = 0; i < sc_.outages.size(); ++i) {
    const Outage& o = sc_.outages[i];
    res_.faults.push_back({"agent " + o.agent, o.at_ms, o.for_ms});
    Push(sc_.start_ms + o.at_ms, kEvAgentDown, static_cast<uint32_t>(i));
    Push(sc_.start_ms + o.at_ms + o.for_ms, kEvAgentUp, static_cast<uint32_t>(i));
    pending_faults_ += 2;
  }
  for (size_t i = 0; i < sc_.broker_crashes.size(); ++i) {
    const BrokerCrash& b = sc_.broker_crashes[i];
    res_.faults.push_back({"broker", b.at_ms, b.down_ms});
    Push(sc_.start_ms + b.at_ms, kEvBrokerDown, static_cast<uint32_t>(i));
    Push(sc_.start_ms + b.at_ms + b.down_ms, kEvBrokerUp, static_cast<uint32_t>(i));
    pending_faults_ += 2;
  }
  for (size_t i = 0; i < sc_.requests.size(); ++i) {
    Push(sc_.start_ms + sc_.requests[i].at_ms, kEvScripted, static_cast<uint32_t>(i));
    ++pending_arrivals_;
  }
  for (size_t s = 0; s < rules_.senders().size(); ++s)
    if (rules_.senders()[s].base > 0) {
      Push(sc_.start_ms, kEvArrival, static_cast<uint32_t>(s));
      ++pending_arrivals_;
    }
  for (size_t d = 0; d < res_.days.size(); ++d)
    Push(sc_.start_ms + static_cast<int64_t>(d + 1) * kDay - 1, kEvDay, static_cast<uint32_t>(d));

  const int64_t arrivals_end = sc_.start_ms + sc_.duration_ms;
  real0_ = SteadyClock::now();
  bool arrivals_measured = false;
  int64_t requests_at_arrivals_end = 0;
  const milliseconds poll(50);
  for (;;) {
    int64_t t = SimNow();
    while (!events_.empty() && events_.top().t <= t) {
      Ev ev = events_.top();
      events_.pop();
      ++res_.events;
      Handle(ev);
    }
    Flush();
    Poll();
    t = SimNow();
    if (!arrivals_measured && pending_arrivals_ == 0 && t >= arrivals_end) {
      arrivals_measured = true;
      live_.arrival_seconds = std::chrono::duration<double>(SteadyClock::now() - real0_).count();
      requests_at_arrivals_end = res_.requests;
    }
    if (opt_.progress) opt_.progress(std::min(1.0, static_cast<double>(t - sc_.start_ms) / static_cast<double>(span)));
    if (t >= end) break;
    if (pending_arrivals_ == 0 && pending_faults_ == 0 && t >= arrivals_end && AllDone()) break;
    auto wake = SteadyClock::now() + poll;
    if (!events_.empty()) wake = std::min(wake, RealAt(events_.top().t));
    std::this_thread::sleep_until(wake);
  }
  live_.run_seconds = std::chrono::duration<double>(SteadyClock::now() - real0_).count();
  if (!arrivals_measured) {
    live_.arrival_seconds = live_.run_seconds;
    requests_at_arrivals_end = res_.requests;
  }
  live_.requests_per_second = live_.arrival_seconds > 0 ? requests_at_arrivals_end / live_.arrival_seconds : 0;
  live_.messages_per_second = live_.run_seconds > 0 ? live_.posted / live_.run_seconds : 0;
  if (opt_.progress) opt_.progress(1.0);
  // Whatever is still down comes back for the drain.
  for (auto& n : nodes_)
    if (n.down) {
      MLAHUB_RETURN_IF_ERROR(StartAgent(n));
      n.down = false;
      ++live_.agent_restarts;
    }
  if (!broker_.running()) {
    MLAHUB_RETURN_IF_ERROR(StartBroker());
    ++live_.broker_restarts;
  }

  // The end: clocks still running are missed if overdue, else pending.
  const int64_t t_end = std::min(SimNow(), end);
  for (uint32_t c = 0; c < cases_.size(); ++c) {
    Case& cs = cases_[c];
    if (cs.done) continue;
    ++res_.open_at_end;
    for (const auto& clock : cs.clocks) Count(cs, clock, clock.due < t_end ? 1 : 2);
    cs.clocks.clear();
    Finish(c);
  }
  res_.by_basis = by_basis_;
  res_.by_state = by_state_;
  res_.by_clock = by_clock_;
  for (size_t d = 0; d < res_.days.size(); ++d) {
    auto& v = day_latency_[d];
    res_.days[d].p50 = Percentile(v, 0.5);
    res_.days[d].p90 = Percentile(v, 0.9);
    res_.days[d].p99 = Percentile(v, 0.99);
  }
  res_.latency = Summarise(std::move(all_latency_));
  for (auto& [k, v] : kind_latency_) res_.latency_by_kind[k] = Summarise(std::move(v));

  MLAHUB_RETURN_IF_ERROR(Drain());
  MLAHUB_RETURN_IF_ERROR(Account());
  res_.wall_seconds = live_.run_seconds + live_.drain_seconds;
  LiveResults out;
  out.results = std::move(res_);
  out.live = std::move(live_);
  return out;
}

bool Live::AllDone() const {
  for (const auto& c : cases_)
    if (!c.done) return false;
  for (const auto& n : nodes_)
    if (!n.outbox.empty()) return false;
  return true;
}

void Live::Handle(const Ev& ev) {
  const int64_t t = ev.t;
  switch (ev.type) {
    case kEvArrival: {
      uint32_t s = ev.a;
      if (t > sc_.start_ms || ev.b == 1) {
        rules::Arrival arr;
        if (rules_.DrawArrival(rng_, s, t, &arr))
          NewRequest(t, s, arr.to, *arr.what, false);
        else
          ++res_.arrival_candidates_rejected;
      }
      int64_t next = rules_.NextCandidate(rng_, s, t);
      if (next < sc_.start_ms + sc_.duration_ms)
        Push(next, kEvArrival, s, 1);
      else
        --pending_arrivals_;
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
      --pending_arrivals_;
      break;
    }
    case kEvAction:
      DoAction(ev.a, static_cast<Action>(ev.b), t);
      break;
    case kEvAgentDown: {
      --pending_faults_;
      const std::string& id = sc_.outages[ev.a].agent;
      for (auto& n : nodes_) {
        if (n.id != id) continue;
        Note("live: outage of " + id + ": kill -9 " + std::to_string(n.proc.pid()));
        n.proc.Signal(SIGKILL);
        n.proc.Wait(milliseconds(10000));
        n.down = true;
        n.outage = static_cast<int32_t>(ev.a);
        ++live_.agent_kills;
      }
      break;
    }
    case kEvAgentUp: {
      --pending_faults_;
      const std::string& id = sc_.outages[ev.a].agent;
      for (auto& n : nodes_) {
        if (n.id != id || !n.down) continue;
        Status st = StartAgent(n);
        if (!st.ok()) {
          live_.errors.push_back("restart of " + id + ": " + st.message());
          continue;
        }
        Note("live: " + id + " restarted (pid " + std::to_string(n.proc.pid()) + ")");
        n.down = false;
        n.outage = -1;
        ++live_.agent_restarts;
      }
      break;
    }
    case kEvBrokerDown:
      --pending_faults_;
      Note("live: broker crash: kill -9 " + std::to_string(broker_.pid()));
      broker_.Signal(SIGKILL);
      broker_.Wait(milliseconds(10000));
      ++live_.broker_kills;
      break;
    case kEvBrokerUp: {
      --pending_faults_;
      Status st = StartBroker();
      if (!st.ok()) {
        live_.errors.push_back("broker restart: " + st.message());
        break;
      }
      Note("live: broker restarted (pid " + std::to_string(broker_.pid()) + ")");
      ++live_.broker_restarts;
      break;
    }
    case kEvDay:
      for (size_t a = 0; a < nodes_.size(); ++a) {
        res_.backlog[ev.a][a] = nodes_[a].open_cases;
        res_.queued[ev.a][a] = static_cast<int32_t>(nodes_[a].outbox.size());
      }
      break;
  }
}

void Live::NewRequest(int64_t t, uint32_t from, uint32_t to, const MixEntry& e, bool scripted) {
  Case c;
  c.from_state = from;
  c.to_state = to;
  c.kind = e.kind;
  c.basis = e.basis;
  c.from_agent = rules_.Route(from, e.kind);
  c.to_agent = rules_.Route(to, e.kind);
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
  Queue(id, cc.from_agent, cc.to_agent, cc.kind, Variant::kPlain, false, false, t);
  cases_[id].request_id = msgs_.back().id;
}

void Live::Queue(uint32_t case_id, uint32_t from, uint32_t to, K kind, Variant v, bool requested_step, bool final,
                 int64_t t) {
  Msg m;
  m.id = crypto::NewMessageIdText();
  m.case_id = case_id;
  m.from = from;
  m.to = to;
  m.kind = kind;
  m.variant = v;
  m.requested_step = requested_step;
  m.final = final;
  Node& n = nodes_[from];
  if (n.down) {
    m.hold_fault = n.outage;
    m.hold_start = t;
  }
  msgs_.push_back(std::move(m));
  uint32_t idx = static_cast<uint32_t>(msgs_.size() - 1);
  by_id_[msgs_[idx].id] = idx;
  n.outbox.push_back(idx);
}

void Live::Flush() {
  for (auto& n : nodes_) {
    while (!n.down && !n.outbox.empty()) {
      if (!Post(n, n.outbox.front())) break;
      n.outbox.pop_front();
    }
  }
}

// Hands one message to its agent: true when taken (or refused for good),
// false to retry later (the agent is not reachable).
bool Live::Post(Node& n, uint32_t mi) {
  Msg& m = msgs_[mi];
  Case& c = cases_[m.case_id];
  const int64_t t = SimNow();
  BodyParams bp;
  bp.kind = m.kind;
  bp.variant = m.variant;
  bp.basis = c.basis;
  bp.request_kind = c.kind;
  bp.extension_kind = c.extension_kind;
  // The extension's new date on the agents' clock (their epoch is not the scenario's).
  bp.new_deadline_ms = AgentClock() + (c.extension_due - t);
  json req = {{"to", nodes_[m.to].id},
              {"kind", wire::EnumNameMessageKind(m.kind)},
              {"body", BodyFor(bp)},
              {"message_id", m.id},
              {"case_ref", "SIM-" + std::to_string(m.case_id)},
              {"legal_basis", wire::EnumNameLegalBasis(c.basis)},
              {"priority", c.urgent ? "Urgent" : "Normal"},
              // within the envelope's maximum lifetime on the sender's clock, far
              // beyond any skew of the other (restarted) daemons' clocks
              {"expires_ms", AgentClock() + envelope::kMaxLifetimeMs - 10 * kDay}};
  if (static_cast<int>(m.kind) >= 32) req["in_reply_to"] = c.request_id;
  auto r = n.api->PostJson("/v1/messages", req);
  if (!r.ok()) {
    Code code = r.status().code();
    if (code == Code::kUnavailable || code == Code::kIoError || code == Code::kInternal) {
      if (live_.post_retries == 0 || (!n.down && live_.post_retries % 1000 == 999))
        Note("live: " + n.id + " did not take a message (will retry): " + r.status().ToString());
      ++live_.post_retries;
      return false;
    }
    // The agent's case does not allow the step yet: the partner's message it
    // answers can arrive after the one the driver saw (the hub delivers in
    // the order it accepted, which a resend or a restart can change). Try
    // again for a while before counting it refused.
    if (code == Code::kInvalidArgument && r.status().message().find("is not allowed now") != std::string::npos) {
      const int64_t now_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                                 std::chrono::steady_clock::now().time_since_epoch())
                                 .count();
      if (m.early_since_ms == 0) m.early_since_ms = now_ms;
      if (now_ms - m.early_since_ms < 60'000) {
        ++live_.post_retries;
        return false;
      }
    }
    ++live_.api_refused;
    if (live_.errors.size() < 20)
      live_.errors.push_back(n.id + " refused " + std::string(wire::EnumNameMessageKind(m.kind)) + " of case " +
                             std::to_string(m.case_id) + ": " + r.status().ToString());
    return true;
  }
  m.posted = true;
  m.post_t = t;
  ++live_.posted;
  ++res_.messages;
  ++res_.days[DayOf(t)].messages;
  if (m.hold_fault >= 0) {
    FaultEffect& f = res_.faults[static_cast<size_t>(m.hold_fault)];
    int64_t held = t - m.hold_start;
    ++f.messages_held;
    f.held_ms_total += held;
    f.max_held_ms = std::max(f.max_held_ms, held);
    ++res_.days[DayOf(t)].held;
    uint16_t fid = static_cast<uint16_t>(m.hold_fault);
    if (std::find(c.faults.begin(), c.faults.end(), fid) == c.faults.end()) c.faults.push_back(fid);
  }
  if (m.requested_step && !c.done) {
    workflow::Step step = MakeStep(m.kind, m.variant, t);
    if (m.variant == Variant::kExtension) {
      step.deadline_kind = c.extension_kind;
      step.new_deadline_ms = c.extension_due;
      step.legal_basis_for_extension = wire::EnumNameLegalBasis(c.basis);
    }
    ApplyStep(m.case_id, Role::kRequested, step, t);
    if (m.final) --nodes_[m.from].open_cases;
  }
  return true;
}

void Live::Poll() {
  for (size_t a = 0; a < nodes_.size(); ++a) {
    Node& n = nodes_[a];
    if (n.down) continue;
    for (int page = 0; page < 20; ++page) {
      auto r = n.api->Get("/v1/messages?box=in&limit=1000&after=" + std::to_string(n.inbox_after));
      if (!r.ok()) break;
      const json& list = (*r)["messages"];
      if (!list.is_array() || list.empty()) break;
      const int64_t t = SimNow();
      for (const json& m : list) {
        n.inbox_after = std::max<uint64_t>(n.inbox_after, m.value("seq", uint64_t{0}));
        auto it = by_id_.find(m.value("message_id", ""));
        if (it == by_id_.end()) continue;
        Msg& msg = msgs_[it->second];
        if (msg.delivered || msg.to != a) continue;
        msg.delivered = true;
        Delivered(it->second, t);
      }
      if (!r->contains("next_after") || (*r)["next_after"].is_null()) break;
    }
  }
}

void Live::ApplyStep(uint32_t id, Role role, const workflow::Step& step, int64_t t) {
  Case& c = cases_[id];
  auto next = workflow::Apply(c.cs, role, step);
  if (!next.ok()) {
    ++res_.workflow_rejections;
    return;
  }
  c.cs = std::move(*next);
  workflow::Clocks now = workflow::ComputeClocks(c.cs, sc_.policy, t);
  std::vector<OpenClock> open;
  for (const auto& cl : now.open) open.push_back({cl.name, cl.started_ms, cl.due_ms});
  for (const auto& old : c.clocks) {
    bool running = std::any_of(open.begin(), open.end(), [&](const OpenClock& o) {
      return o.name == old.name && o.started == old.started;
    });
    if (!running) Count(c, old, t <= old.due ? 0 : 1);
  }
  c.clocks = std::move(open);
}

void Live::Count(Case& c, const OpenClock& clock, int outcome) {
  Compliance d;
  (outcome == 0 ? d.met : outcome == 1 ? d.missed : d.pending) = 1;
  res_.compliance.Add(d);
  by_basis_[wire::EnumNameLegalBasis(c.basis)].Add(d);
  by_state_[sc_.states[c.to_state].id].Add(d);
  by_clock_[clock.name].Add(d);
  c.own.Add(d);
}

void Live::Finish(uint32_t id) {
  Case& c = cases_[id];
  c.done = true;
  for (uint16_t f : c.faults) {
    ++res_.faults[f].cases_affected;
    res_.faults[f].clocks.Add(c.own);
  }
  c.cs = workflow::CaseState{};
  c.clocks.clear();
}

void Live::Delivered(uint32_t m, int64_t t) {
  const Msg msg = msgs_[m];
  Case& c = cases_[msg.case_id];
  if (c.done) return;
  const Profile& requested = sc_.profiles[sc_.states[c.to_state].profile];
  const Profile& requesting = sc_.profiles[sc_.states[c.from_state].profile];
  uint32_t cid = msg.case_id;
  if (static_cast<int>(msg.kind) < 32) {
    workflow::RequestInfo info;
    info.kind = c.kind;
    info.legal_basis = c.basis;
    info.urgent = c.urgent;
    info.received_ms = t;
    info.requested_deadline_ms = c.requested_deadline;
    info.provisional_measures = c.provisional;
    c.cs = workflow::Start(info);
    workflow::Clocks now = workflow::ComputeClocks(c.cs, sc_.policy, t);
    for (const auto& cl : now.open) c.clocks.push_back({cl.name, cl.started_ms, cl.due_ms});
    ++res_.delivered;
    ++res_.days[DayOf(t)].delivered;
    ++nodes_[c.to_agent].open_cases;
    Push(Later(c.to_state, t, requested.acknowledge), kEvAction, cid, kAck);
    return;
  }
  if (msg.kind == K::FurtherInformationRequest) {
    Push(Later(c.from_state, t, requesting.reply), kEvAction, cid, kReply);
    return;
  }
  if (msg.kind == K::FurtherInformationReply) {
    ApplyStep(cid, Role::kRequesting, MakeStep(K::FurtherInformationReply, Variant::kPlain, t), t);
    bool verify = rules::IsVerification(c.kind);
    PlanDecision(cid, t, Later(c.to_state, t, verify ? requested.verify : requested.decide), verify ? kVerify : kDecide);
    return;
  }
  if (msg.final) {
    double latency = static_cast<double>(t - c.created);
    ++res_.completed;
    ++res_.days[DayOf(t)].completed;
    day_latency_[DayOf(t)].push_back(latency);
    all_latency_.push_back(latency);
    kind_latency_[wire::EnumNameMessageKind(c.kind)].push_back(latency);
    ApplyStep(cid, Role::kRequesting, MakeStep(K::CaseClosed, Variant::kPlain, t), t);
    Finish(cid);
  }
}

const OpenClock* Live::ExtendableClock(const Case& c, const workflow::ClockRule** rule) const {
  for (const auto& clock : c.clocks) {
    if (clock.name != "decision" && clock.name != "surrender_decision") continue;
    const workflow::ClockRule* r = sc_.policy.Find(c.basis, clock.name);
    if (r == nullptr || r->extension_ms <= 0) continue;
    *rule = r;
    return &clock;
  }
  return nullptr;
}

void Live::PlanDecision(uint32_t cid, int64_t t, int64_t at, Action a) {
  Push(at, kEvAction, cid, a);
  Case& c = cases_[cid];
  const Profile& p = sc_.profiles[sc_.states[c.to_state].profile];
  if (c.extended || p.extension_rate <= 0) return;
  const workflow::ClockRule* rule = nullptr;
  const OpenClock* clock = ExtendableClock(c, &rule);
  if (clock == nullptr || at <= clock->due) return;
  if (!rules_.DrawExtension(rng_, p)) return;
  c.extended = true;
  c.extension_due = clock->due + rule->extension_ms;
  c.extension_kind = clock->name == "decision" ? "RecognitionDecision" : "SurrenderDecision";
  Push(rules_.Work(c.to_state, std::max(t, clock->due - 3 * kDay)), kEvAction, cid, kExtend);
}

void Live::DoAction(uint32_t cid, Action a, int64_t t) {
  Case& c = cases_[cid];
  if (c.done) return;
  const Profile& p = sc_.profiles[sc_.states[c.to_state].profile];
  auto send = [&](K kind, Variant v, bool final) { Queue(cid, c.to_agent, c.from_agent, kind, v, true, final, t); };
  switch (a) {
    case kAck:
      send(K::Acknowledgement, Variant::kPlain, false);
      if (rules::IsVerification(c.kind))
        PlanDecision(cid, t, Later(c.to_state, t, p.verify), kVerify);
      else
        PlanDecision(cid, t, Later(c.to_state, t, p.decide), kDecide);
      break;
    case kExtend: {
      const workflow::ClockRule* rule = nullptr;
      if (ExtendableClock(c, &rule) == nullptr) break;
      ++res_.extensions;
      send(K::DeadlineExtension, Variant::kExtension, false);
      break;
    }
    case kDecide:
    case kVerify:
      switch (rules_.DrawDecision(rng_, p, c.fi_done, a == kVerify)) {
        case rules::Decision::kFurtherInformation:
          c.fi_done = true;
          ++res_.further_information;
          send(K::FurtherInformationRequest, Variant::kPlain, false);
          return;
        case rules::Decision::kVerified:
          ++res_.executed;
          send(K::VerificationResult, Variant::kPlain, true);
          return;
        case rules::Decision::kRefuse:
          ++res_.refused;
          send(K::Decision, Variant::kRefuseDecision, true);
          return;
        case rules::Decision::kExecute:
          break;
      }
      send(K::Decision, Variant::kExecuteDecision, false);
      if (c.kind == K::ExtraditionRequest)
        Push(Later(c.to_state, t, p.surrender), kEvAction, cid, kSurrender);
      else if (c.kind == K::ProvisionalArrestRequest)
        Push(Later(c.to_state, t, p.surrender), kEvAction, cid, kExecute);
      else
        Push(Later(c.to_state, t, p.execute), kEvAction, cid, kExecute);
      break;
    case kExecute:
      ++res_.executed;
      rules_.DrawEvidenceSize(rng_);  // the same draws as the model; the evidence itself is not sent
      send(K::ExecutionReport, Variant::kFull, true);
      break;
    case kSurrender:
      ++res_.executed;
      send(K::SurrenderArrangement, Variant::kCompleted, true);
      break;
    case kReply:
      Queue(cid, c.from_agent, c.to_agent, K::FurtherInformationReply, Variant::kPlain, false, false, t);
      break;
  }
}

// "150 ms", "7.2 h", "2.5 d".
std::string FormatSimDuration(double ms) {
  char b[64];
  if (ms < 1000) std::snprintf(b, sizeof b, "%.0f ms", ms);
  else if (ms < 60000) std::snprintf(b, sizeof b, "%.1f s", ms / 1000);
  else if (ms < 3600000) std::snprintf(b, sizeof b, "%.1f min", ms / 60000);
  else if (ms < 86400000) std::snprintf(b, sizeof b, "%.1f h", ms / 3600000);
  else std::snprintf(b, sizeof b, "%.1f d", ms / 86400000);
  return b;
}

// Lists a box of an agent: message id -> (state, times listed).
Result<std::map<std::string, std::pair<std::string, int>>> ListBox(const AgentApi& api, const char* box) {
  std::map<std::string, std::pair<std::string, int>> out;
  uint64_t after = 0;
  for (int page = 0; page < 100000; ++page) {
    MLAHUB_ASSIGN_OR_RETURN(json r, api.Get(std::string("/v1/messages?box=") + box +
                                            "&limit=1000&after=" + std::to_string(after)));
    const json& list = r["messages"];
    if (!list.is_array() || list.empty()) break;
    for (const json& m : list) {
      auto& e = out[m.value("message_id", "")];
      e.first = m.value("state", "");
      ++e.second;
      after = std::max<uint64_t>(after, m.value("seq", uint64_t{0}));
    }
    if (!r.contains("next_after") || r["next_after"].is_null()) break;
  }
  return out;
}

Status Live::Drain() {
  auto t0 = SteadyClock::now();
  int64_t timeout = opt_.drain_timeout_ms;
  if (sc_.live_drain_timeout_ms > 0) timeout = sc_.live_drain_timeout_ms;
  auto deadline = t0 + milliseconds(timeout);
  Note("live: draining (every accepted message receipted, at most " + std::to_string(timeout / 1000) + " s)");
  for (;;) {
    Flush();
    bool all = true;
    for (auto& n : nodes_) all = all && n.outbox.empty();
    for (auto& n : nodes_) {
      if (!all) break;
      auto out = ListBox(*n.api, "out");
      if (!out.ok()) {
        all = false;
        break;
      }
      for (const auto& [id, e] : *out)
        if (e.first != "receipted" && e.first != "rejected" && e.first != "expired") all = false;
    }
    if (all) {
      live_.drained = true;
      break;
    }
    if (SteadyClock::now() >= deadline) break;
    std::this_thread::sleep_for(milliseconds(200));
  }
  live_.drain_seconds = std::chrono::duration<double>(SteadyClock::now() - t0).count();
  return Status::Ok();
}

Status Live::Account() {
  // What the agents say: each sender's outbox (accepted by the broker?) and
  // each recipient's inbox (stored, how often).
  std::vector<std::map<std::string, std::pair<std::string, int>>> out(nodes_.size()), in(nodes_.size());
  for (size_t a = 0; a < nodes_.size(); ++a) {
    MLAHUB_ASSIGN_OR_RETURN(out[a], ListBox(*nodes_[a].api, "out"));
    MLAHUB_ASSIGN_OR_RETURN(in[a], ListBox(*nodes_[a].api, "in"));
  }
  for (const Msg& m : msgs_) {
    if (!m.posted) continue;
    auto o = out[m.from].find(m.id);
    std::string state = o == out[m.from].end() ? "" : o->second.first;
    bool accepted = state == "accepted" || state == "delivered" || state == "receipted";
    if (accepted) ++live_.accepted;
    if (state == "receipted") ++live_.receipted;
    if (state == "rejected" || state == "expired") {
      ++live_.hub_refused;
      if (live_.errors.size() < 40)
        live_.errors.push_back(state + ": " + m.id + " (" + std::string(wire::EnumNameMessageKind(m.kind)) + ", " +
                               nodes_[m.from].id + " -> " + nodes_[m.to].id + ")");
    }
    auto i = in[m.to].find(m.id);
    bool stored = i != in[m.to].end();
    if (stored) ++live_.stored;
    if (accepted && !stored) {
      ++live_.lost;
      if (live_.errors.size() < 40) live_.errors.push_back("lost: " + m.id + " (" + nodes_[m.from].id + " -> " +
                                                           nodes_[m.to].id + ", " + state + ")");
    }
  }
  for (size_t a = 0; a < nodes_.size(); ++a)
    for (const auto& [id, e] : in[a])
      if (e.second > 1) {
        live_.duplicated += e.second - 1;
        if (live_.errors.size() < 40) live_.errors.push_back("duplicated: " + id + " at " + nodes_[a].id);
      }

  // Stop everything cleanly.
  StopAll(SIGTERM);
  for (auto& n : nodes_) {
    auto rc = n.proc.Wait(milliseconds(60000));
    if (!rc || *rc != 0)
      live_.errors.push_back("agent " + n.id + " did not stop cleanly on SIGTERM (" +
                             (rc ? "exit " + std::to_string(*rc) : std::string("timeout")) + ")");
  }
  auto rc = broker_.Wait(milliseconds(60000));
  if (!rc || *rc != 0)
    live_.errors.push_back("the broker did not stop cleanly on SIGTERM (" +
                           (rc ? "exit " + std::to_string(*rc) : std::string("timeout")) + ")");
  StopAll(SIGKILL);
  for (auto& n : nodes_) {
    if (!n.relay) continue;
    RelayStats rs = n.relay->stats();
    live_.relay_connections += static_cast<int64_t>(rs.accepted);
    live_.relay_refused += static_cast<int64_t>(rs.refused);
    live_.relay_bytes += static_cast<int64_t>(rs.bytes_up + rs.bytes_down);
  }

  // The hub's ledger, verified by the tool.
  auto v = RunCommand({bin_ + "/mlahub", "ledger", "verify", "--ledger", broker_data_ + "/ledger", "--json", "--quiet"},
                      log_dir_ + "/ledger-verify.log", milliseconds(600000));
  if (!v.ok()) {
    live_.ledger_detail = v.status().ToString();
  } else {
    json j = json::parse(v->out, nullptr, false);
    live_.ledger_verified = v->exit_code == 0 && j.is_object() && j.value("ok", false);
    if (j.is_object()) {
      live_.ledger_entries = j.value("entries_checked", int64_t{0});
      if (j.contains("error")) live_.ledger_detail = j["error"].value("message", "");
    }
    if (!live_.ledger_verified && live_.ledger_detail.empty())
      live_.ledger_detail = "mlahub ledger verify exited " + std::to_string(v->exit_code);
  }
  return Status::Ok();
}

}  // namespace live_engine

Result<LiveResults> RunLive(const Scenario& scenario, const LiveOptions& options) {
  live_engine::Live live(scenario, options);
  return live.Run();
}

std::string LiveJson(const LiveCounts& c) {
  nlohmann::ordered_json j;
  j["clock_rate"] = c.clock_rate;
  j["clock_origin_ms"] = c.clock_origin_ms;
  {
    nlohmann::ordered_json n;
    n["mode"] = c.network_mode;
    n["relays"] = c.relays;
    n["delay_ms"] = std::round(c.relay_delay_ms * 1000) / 1000;
    n["jitter_ms"] = std::round(c.relay_jitter_ms * 1000) / 1000;
    n["bytes_per_ms"] = std::round(c.relay_bytes_per_ms * 1000) / 1000;
    n["simulated_delay_ms"] = std::round(c.relay_delay_ms * c.clock_rate);
    n["connections"] = c.relay_connections;
    n["refused"] = c.relay_refused;
    n["bytes"] = c.relay_bytes;
    j["network"] = n;
  }
  j["posted"] = c.posted;
  j["post_retries"] = c.post_retries;
  j["api_refused"] = c.api_refused;
  j["hub_refused"] = c.hub_refused;
  j["accepted"] = c.accepted;
  j["receipted"] = c.receipted;
  j["stored"] = c.stored;
  j["lost"] = c.lost;
  j["duplicated"] = c.duplicated;
  j["drained"] = c.drained;
  j["ledger_verified"] = c.ledger_verified;
  j["ledger_entries"] = c.ledger_entries;
  if (!c.ledger_detail.empty()) j["ledger_detail"] = c.ledger_detail;
  j["agent_kills"] = c.agent_kills;
  j["agent_restarts"] = c.agent_restarts;
  j["broker_kills"] = c.broker_kills;
  j["broker_restarts"] = c.broker_restarts;
  j["arrival_seconds"] = std::round(c.arrival_seconds * 1000) / 1000;
  j["requests_per_second"] = std::round(c.requests_per_second * 100) / 100;
  j["messages_per_second"] = std::round(c.messages_per_second * 100) / 100;
  j["run_seconds"] = std::round(c.run_seconds * 1000) / 1000;
  j["drain_seconds"] = std::round(c.drain_seconds * 1000) / 1000;
  j["network_dir"] = c.network_dir;
  j["errors"] = c.errors;
  j["ok"] = c.ok();
  return j.dump(2);
}

Status WriteLiveReport(const LiveResults& r, const std::string& dir) {
  MLAHUB_RETURN_IF_ERROR(WriteReport(r.results, dir));
  std::string live = LiveJson(r.live);
  MLAHUB_RETURN_IF_ERROR(WriteFileAtomic(dir + "/live.json", AsBytes(live + "\n"), 0644));
  nlohmann::ordered_json m = nlohmann::ordered_json::parse(MetricsJson(r.results), nullptr, false);
  if (m.is_object()) {
    m["engine"] = "live";
    m["live"] = nlohmann::ordered_json::parse(live);
    MLAHUB_RETURN_IF_ERROR(WriteFileAtomic(dir + "/metrics.json", AsBytes(m.dump(2) + "\n"), 0644));
  }
  return Status::Ok();
}

std::string LiveSummaryTable(const LiveResults& r, const std::string& out_dir) {
  std::string o = SummaryTable(r.results, "");
  const std::string model = "(model engine,";
  if (auto p = o.find(model); p != std::string::npos) o.replace(p, model.size(), "(live engine,");
  const LiveCounts& c = r.live;
  auto row = [&](const std::string& k, const std::string& v) {
    char buf[512];
    std::snprintf(buf, sizeof buf, "  %-32s %s\n", k.c_str(), v.c_str());
    o += buf;
  };
  char num[64];
  std::snprintf(num, sizeof num, "%.0f", c.clock_rate);
  row("clock rate", std::string(num) + " simulated ms per real ms");
  if (c.relays > 0) {
    char d[256];
    std::snprintf(d, sizeof d, "%.3f ms + exp(%.3f ms) real per hop (%s; = %s simulated), %lld relays", c.relay_delay_ms,
                  c.relay_jitter_ms, c.network_mode.c_str(),
                  live_engine::FormatSimDuration(c.relay_delay_ms * c.clock_rate).c_str(), static_cast<long long>(c.relays));
    row("network delay", d);
    std::snprintf(d, sizeof d, "%lld accepted (%lld refused: broker down), %lld bytes",
                  static_cast<long long>(c.relay_connections), static_cast<long long>(c.relay_refused),
                  static_cast<long long>(c.relay_bytes));
    row("relay connections", d);
  } else {
    row("network delay", "none (no [network] delay)");
  }
  row("messages posted / accepted", std::to_string(c.posted) + " / " + std::to_string(c.accepted) + " (" +
                                        std::to_string(c.receipted) + " receipted)");
  row("LOST", std::to_string(c.lost));
  row("DUPLICATED", std::to_string(c.duplicated));
  row("ledger", c.ledger_verified ? "verified (" + std::to_string(c.ledger_entries) + " entries)"
                                  : "NOT VERIFIED: " + c.ledger_detail);
  row("drained", c.drained ? "yes" : "NO (deadline passed)");
  if (c.api_refused) row("API REFUSALS", std::to_string(c.api_refused));
  if (c.hub_refused) row("REFUSED / EXPIRED AT THE HUB", std::to_string(c.hub_refused));
  row("kills: agents / broker", std::to_string(c.agent_kills) + " / " + std::to_string(c.broker_kills));
  std::snprintf(num, sizeof num, "%.2f", c.requests_per_second);
  row("sustained request rate", std::string(num) + " requests/s real time");
  std::snprintf(num, sizeof num, "%.2f", c.messages_per_second);
  row("message rate", std::string(num) + " messages/s real time");
  std::snprintf(num, sizeof num, "%.1f s run + %.1f s drain", c.run_seconds, c.drain_seconds);
  row("real time", num);
  for (const auto& e : c.errors) row("error", e);
  if (!out_dir.empty()) row("report", out_dir);
  return o;
}

std::string LiveSummaryJson(const LiveResults& r, const std::string& out_dir) {
  nlohmann::ordered_json j = nlohmann::ordered_json::parse(SummaryJson(r.results, out_dir));
  j["engine"] = "live";
  j["live"] = nlohmann::ordered_json::parse(LiveJson(r.live));
  return j.dump();
}

}  // namespace mlahub::sim
