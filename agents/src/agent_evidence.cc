// The agent's evidence streams (issue 5, part 2; evidence/README.md,
// docs/PROTOCOL.md 13.10): the EvidenceStore under <data>/evidence, the
// ChunkShipper and ChunkReceiver of the network thread, and the API methods
// POST /v1/evidence, GET /v1/evidence/<id>, POST /v1/evidence/<id>/fetch.
//
// Routes. <data>/evidence/routes/<transfer>.json = {"dir": "out"|"in",
// "message_id", "peer"} ties a transfer to the message whose sealed body
// carries its manifest and to the other node. No secret in it (the stream
// key stays in the sealed spool / incoming spec). Written atomically:
//  - out: by the API thread when a message body names a spooled transfer,
//    before the message enters the outbox. The network thread ships the
//    transfer only once the case store says the hub accepted that message
//    (SubmitResult accepted, or at start-up for messages accepted earlier):
//    the broker refuses chunks of a transfer without an accepted envelope.
//  - in: by the network thread when it opens a stored message whose body
//    announces streams (after the delivery batch is durable), or when a
//    chunk arrives for a transfer it does not know yet (ChunkDeliver names
//    the message).
// The files are read all at once only at start-up, which builds a
// RouteIndex (message -> transfers) kept as routes are written; a message's
// routes are then found through it.
//
// Sender's spool purge. When the broker says a transfer is complete
// (ChunkAck.complete: the recipient holds every chunk and the hub's
// EvidenceComplete entry is durable), the route is rewritten with
// "complete": true and a snapshot of the transfer's progress (no secret), and
// only then is <data>/evidence/outgoing/<transfer> deleted. At start-up every
// complete route whose spool is still there (a kill -9 between the two) is
// purged; a transfer whose route is not marked keeps its spool and asks the
// broker again. The sending office keeps its original file (the spool only
// ever held an encrypted copy for the transfer) and the sealed body of the
// sent message with the manifest.
#include <dirent.h>
#include "internal.h"
#include <sys/stat.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <functional>
#include <thread>

#include "evidence_stream.h"
#include "mlahub/agents/agent.h"
#include "mlahub/core/file.h"
#include "mlahub/crypto/kdf.h"
#include "mlahub/crypto/secret.h"
#include "mlahub/evidence/errors.h"
#include "mlahub/evidence/store.h"
#include "mlahub/ops/log.h"
#include "mlahub/schemas/json_codec.h"

namespace mlahub::agents {

using nlohmann::json;

namespace {

constexpr size_t kMaxEvidencePaths = 1000;

std::string RoutesDir(const std::string& data) { return data + "/evidence/routes"; }

struct Route {
  std::string transfer_id;
  bool out = true;
  std::string message_id;
  std::string peer;
  // out: the hub confirmed the recipient has the file; the spool is (being)
  // purged and `file` is the transfer's last GET /v1/evidence entry.
  bool complete = false;
  json file;
};

Status WriteRoute(const std::string& data, const Route& r) {
  json j = {{"dir", r.out ? "out" : "in"}, {"message_id", r.message_id}, {"peer", r.peer}};
  if (r.complete) {
    j["complete"] = true;
    j["file"] = r.file.is_object() ? r.file : json::object();
  }
  std::string text = StoredJson(j) + "\n";
  return WriteFileAtomic(RoutesDir(data) + "/" + r.transfer_id + ".json", AsBytes(text), 0600);
}

std::optional<Route> ReadRoute(const std::string& data, const std::string& tid) {
  auto b = ReadFile(RoutesDir(data) + "/" + tid + ".json", 1 << 16);
  if (!b.ok()) return std::nullopt;
  json j = json::parse(b->begin(), b->end(), nullptr, false);
  if (!j.is_object() || !j.contains("message_id") || !j["message_id"].is_string()) return std::nullopt;
  Route r;
  r.transfer_id = tid;
  r.out = j.value("dir", "") == "out";
  r.message_id = j["message_id"].get<std::string>();
  r.peer = j.value("peer", "");
  r.complete = j.value("complete", false);
  if (r.complete && j.contains("file") && j["file"].is_object()) r.file = j["file"];
  return r;
}

std::vector<Route> ListRoutes(const std::string& data) {
  std::vector<Route> out;
  DIR* d = ::opendir(RoutesDir(data).c_str());
  if (d == nullptr) return out;
  while (dirent* e = ::readdir(d)) {
    std::string name = e->d_name;
    constexpr std::string_view kExt = ".json";
    if (name.size() != 32 + kExt.size() || name.compare(32, kExt.size(), kExt) != 0) continue;
    std::string tid = name.substr(0, 32);
    if (!transport::IsHexId(tid)) continue;
    if (auto r = ReadRoute(data, tid)) out.push_back(std::move(*r));
  }
  ::closedir(d);
  std::sort(out.begin(), out.end(), [](const Route& a, const Route& b) { return a.transfer_id < b.transfer_id; });
  return out;
}

// The routes of `message_id`, found through the index.
std::vector<Route> RoutesOf(const std::string& data, const RouteIndex& index, const std::string& message_id) {
  std::vector<Route> out;
  for (const std::string& tid : index.Of(message_id)) {
    if (auto r = ReadRoute(data, tid); r && r->message_id == message_id) out.push_back(std::move(*r));
  }
  return out;
}

// Visits every JSON object that describes a streamed file (an EvidenceFile
// with transfer_id and stream_key), wherever it sits in a body.
void WalkStreams(const json& j, const std::function<void(const json&)>& f, int depth = 0) {
  if (depth > 64) return;
  if (j.is_object()) {
    if (j.contains("transfer_id") && j["transfer_id"].is_string() && j.contains("stream_key")) {
      f(j);
      return;
    }
    for (auto it = j.begin(); it != j.end(); ++it) WalkStreams(*it, f, depth + 1);
  } else if (j.is_array()) {
    for (const auto& v : j) WalkStreams(v, f, depth + 1);
  }
}

Result<evidence::StreamSpec> SpecFromJson(const json& obj) {
  MLAHUB_ASSIGN_OR_RETURN(Bytes b, schemas::JsonCodec::Instance().ToBinary("EvidenceFile", obj.dump()));
  auto spec = evidence::DecodeSpec(b);
  crypto::Wipe(b.data(), b.size());
  return spec;
}

json InfoJson(const evidence::TransferInfo& i) {
  json j;
  j["transfer_id"] = i.transfer_id;
  j["direction"] = i.incoming ? "in" : "out";
  j["file_name"] = i.file_name;
  j["media_type"] = i.media_type;
  j["size_bytes"] = i.size_bytes;
  j["bytes_done"] = i.bytes_done;
  j["chunk_count"] = i.chunk_count;
  j["chunks_done"] = i.chunks_done;
  if (!i.incoming) j["chunks_shipped"] = i.shipped;
  j["state"] = std::string(evidence::TransferStateName(i.state));
  j["summary"] = evidence::DescribeState(i);
  if (!i.failure.empty()) j["failure"] = i.failure;
  return j;
}

// Deletes the spool of a complete outgoing transfer; the route must already
// say "complete" (so that a crash here is finished by the next start).
void PurgeSpool(evidence::EvidenceStore& store, const std::string& tid, bool at_start) {
  if (!FileExists(store.OutgoingDir(tid))) return;
  Status s = store.Purge(tid);
  if (!s.ok()) {
    ops::Error("evidence.spool_purge_failed", {{"transfer", tid}, {"error", s.ToString()}});
    return;
  }
  ops::Info("evidence.spool_purged", {{"transfer", tid}, {"at_start", at_start}});
}

// The hub confirmed `tid` complete: mark the route (durably), then purge.
void FinishOutgoing(const std::string& data, evidence::EvidenceStore& store, const std::string& tid) {
  auto r = ReadRoute(data, tid);
  if (!r || !r->out) {
    ops::Warn("evidence.route_missing", {{"transfer", tid}});
    return;
  }
  if (!r->complete) {
    auto info = store.Info(tid);
    json file = info.ok() ? InfoJson(*info) : json{{"transfer_id", tid}, {"direction", "out"}};
    file["chunks_shipped"] = file.value("chunk_count", uint64_t{0});
    file["state"] = "complete";
    file["summary"] = "delivered: spool purged";
    r->complete = true;
    r->file = std::move(file);
    if (Status w = WriteRoute(data, *r); !w.ok()) {
      // Without the mark the spool stays; the next start asks the broker again.
      ops::Error("evidence.route_failed", {{"transfer", tid}, {"error", w.ToString()}});
      return;
    }
  }
  PurgeSpool(store, tid, false);
}

}  // namespace

// ---- start-up ----

Status Agent::InitEvidence() {
  // The at-rest key: derived from the node's own secret key material, so
  // only this node's keys open its evidence store.
  // Transfers written before a rotation keep the key of their time
  // ([agent] previous_keys).
  auto at_rest = [&](const identity::NodeKeys& k) -> evidence::AtRestKey {
    return crypto::DeriveKey("mlahub-evidence-at-rest-v1",
                             {ByteView(k.enc.secret().data(), k.enc.secret().size()), AsBytes(config_.node_id)});
  };
  std::vector<evidence::AtRestKey> earlier;
  for (const identity::NodeKeys& k : previous_keys_) earlier.push_back(at_rest(k));
  auto st = evidence::EvidenceStore::Open(config_.data, at_rest(keys_), std::move(earlier));
  if (!st.ok()) return st.status().Annotate("evidence store " + config_.data + "/evidence");
  evstore_ = std::move(*st);
  MLAHUB_RETURN_IF_ERROR(MakeDirs(RoutesDir(config_.data), 0700));
  if (const char* v = std::getenv("MLAHUB_AGENT_CHUNK_PAUSE_MS"); v != nullptr && *v != '\0') {
    chunk_pause_ms_ = std::clamp(std::atoi(v), 0, 10000);
    ops::Warn("agent.test_hook", {{"MLAHUB_AGENT_CHUNK_PAUSE_MS", int64_t{chunk_pause_ms_}}});
  }
  shipper_ = std::make_unique<ChunkShipper>(
      evstore_.get(), [this](const transport::Command& c) { return Send(c); }, 8,
      [this](const std::string& tid) { FinishOutgoing(config_.data, *evstore_, tid); });
  receiver_ = std::make_unique<ChunkReceiver>(evstore_.get(), [this](const transport::Command& c) { return Send(c); });
  // Outgoing transfers of messages the hub accepted before a restart resume
  // from the spool's durable mark (the shipper asks the broker first; for a
  // transfer all at the broker, the answer says whether it is complete).
  // Complete ones: a spool left by a crash between mark and purge goes now.
  // The one walk of every route file: the index by message comes from it.
  routes_ = std::make_unique<RouteIndex>();
  size_t resumed = 0;
  for (const Route& r : ListRoutes(config_.data)) {
    routes_->Add(r.message_id, r.transfer_id);
    if (!r.out) continue;
    if (r.complete) {
      PurgeSpool(*evstore_, r.transfer_id, true);
      continue;
    }
    auto rec = store_->GetOutgoing(r.message_id);
    if (!rec.ok() || !rec->has_value() || !(*rec)->ledger_index || (*rec)->state == OutState::kRejected) continue;
    Status s = shipper_->Add(r.transfer_id, r.peer, r.message_id);
    if (!s.ok()) {
      ops::Warn("evidence.resume_failed", {{"transfer", r.transfer_id}, {"error", s.ToString()}});
      continue;
    }
    ++resumed;
  }
  if (resumed > 0) ops::Info("evidence.resumed", {{"outgoing", uint64_t{resumed}}});
  return Status::Ok();
}

// ---- sending ----

Status Agent::NoteOutgoingStreams(const std::string& message_id, const std::string& recipient,
                                  const std::string& body_json) {
  if (evstore_ == nullptr) return Status::Ok();
  json body = json::parse(body_json, nullptr, false);
  if (body.is_discarded()) return Status::Ok();  // BuildPayloadFromJson names the problem
  // Every entry is checked before any route is written: a refused
  // submission leaves no route naming a message that was never sent (which
  // would hold the file for that id).
  Status result;
  size_t announced = 0;
  std::vector<std::string> tids;
  WalkStreams(body, [&](const json& f) {
    if (!result.ok()) return;
    if (++announced > kMaxEvidencePaths) {
      result = Status::InvalidArgument("the body announces more than " + std::to_string(kMaxEvidencePaths) +
                                       " streamed files; the recipient takes no more from one message: send the "
                                       "rest with another message");
      return;
    }
    std::string tid = f["transfer_id"].get<std::string>();
    if (!transport::IsHexId(tid) || !FileExists(evstore_->OutgoingDir(tid) + "/state")) {
      result = Status::NotFound("the body names transfer " + tid +
                                " but this agent has no spool for it: add the file with POST /v1/evidence first");
      return;
    }
    // The entry must be the spool's own (what POST /v1/evidence returned):
    // a changed hash, size or key would only fail at the recipient, after
    // the whole file had travelled.
    auto entry = SpecFromJson(f);
    if (!entry.ok()) {
      result = Status(entry.status().code(), "the body's entry for transfer " + tid + ": " + entry.status().message());
      return;
    }
    auto spool = evstore_->OpenSpool(tid);
    auto held = spool.ok() ? (*spool)->Spec() : Result<evidence::StreamSpec>(spool.status());
    if (!held.ok()) {
      result = held.status().Annotate("the spool of transfer " + tid);
      return;
    }
    if (!held->SameAs(*entry)) {
      result = Status::InvalidArgument("the body's entry for transfer " + tid +
                                       " differs from the file this agent holds for it: put the entry POST "
                                       "/v1/evidence returned into the body unchanged");
      return;
    }
    if (auto old = ReadRoute(config_.data, tid); old && old->message_id != message_id) {
      // A message the hub refused for good no longer holds its files: they
      // may travel with the message sent in its place.
      auto prev = store_->GetOutgoing(old->message_id);
      const bool refused = prev.ok() && prev->has_value() && (*prev)->state == OutState::kRejected;
      if (!refused) {
        result = Status::AlreadyExists("transfer " + tid + " already travels with message " + old->message_id);
        return;
      }
    }
    tids.push_back(std::move(tid));
  });
  MLAHUB_RETURN_IF_ERROR(result);
  for (const std::string& tid : tids) {
    MLAHUB_RETURN_IF_ERROR(WriteRoute(config_.data, Route{tid, true, message_id, recipient}));
    routes_->Add(message_id, tid);
  }
  return Status::Ok();
}

void Agent::ShipAccepted(const std::string& message_id) {
  for (const Route& r : RoutesOf(config_.data, *routes_, message_id)) {
    // (complete: a repeated acceptance of a message whose files are delivered)
    if (!r.out || r.complete) continue;
    Status s = shipper_->Add(r.transfer_id, r.peer, r.message_id);
    if (!s.ok()) {
      ops::Error("evidence.ship_failed", {{"transfer", r.transfer_id}, {"error", s.ToString()}});
    } else {
      ops::Info("evidence.shipping", {{"transfer", r.transfer_id}, {"message_id", message_id}, {"recipient", r.peer}});
    }
  }
}

// ---- receiving ----

void Agent::ExpectStreamsOf(const std::string& message_id) {
  auto shown = Show(message_id);
  if (!shown.ok() || !shown->contains("body") || (*shown)["body"].is_null()) return;
  std::string sender = (*shown)["message"].value("sender", "");
  size_t announced = 0;
  WalkStreams((*shown)["body"], [&](const json& f) {
    // Each stream makes a directory and files here, on the network thread:
    // as many as one submission may add at the sender, no more.
    if (++announced > kMaxEvidencePaths) return;
    auto spec = SpecFromJson(f);
    if (!spec.ok()) {
      ops::Warn("evidence.manifest_refused", {{"message_id", message_id}, {"error", spec.status().ToString()}});
      return;
    }
    const std::string tid = spec->transfer_id;
    if (auto old = ReadRoute(config_.data, tid); !old) {
      Status w = WriteRoute(config_.data, Route{tid, false, message_id, sender});
      if (!w.ok()) ops::Error("evidence.route_failed", {{"transfer", tid}, {"error", w.ToString()}});
      if (w.ok()) routes_->Add(message_id, tid);
    }
    Status s = receiver_->Expect(*spec);
    if (!s.ok()) {
      ops::Warn("evidence.expect_failed", {{"transfer", tid}, {"message_id", message_id}, {"error", s.ToString()}});
      return;
    }
    ops::Info("evidence.expected", {{"transfer", tid}, {"message_id", message_id}, {"chunks", spec->chunk_count}});
  });
  if (announced > kMaxEvidencePaths)
    ops::Warn("evidence.too_many_streams", {{"message_id", message_id}, {"sender", sender},
                                            {"announced", uint64_t{announced}}, {"taken", uint64_t{kMaxEvidencePaths}}});
}

void Agent::OnChunkDeliver(const transport::ChunkDeliver& d) {
  // A transfer this agent has not seen yet (the agent stopped between
  // storing the message and reading its manifest): open the message now.
  if (!FileExists(evstore_->IncomingDir(d.transfer_id) + "/spec") && !d.message_id.empty()) {
    auto in = store_->GetIncoming(d.message_id);
    if (in.ok() && in->has_value() && (*in)->sender == d.sender) ExpectStreamsOf(d.message_id);
  }
  receiver_->OnDeliver(d);
  if (chunk_pause_ms_ > 0) std::this_thread::sleep_for(std::chrono::milliseconds(chunk_pause_ms_));
}

// ---- API ----

Result<json> Agent::AddEvidence(const std::vector<std::string>& paths, const std::string& chain_of_custody) {
  if (evstore_ == nullptr) return Status::Unavailable("the evidence store is not open");
  if (paths.empty()) return Status::InvalidArgument("\"paths\" must name at least one file");
  if (paths.size() > kMaxEvidencePaths)
    return Status::InvalidArgument("at most " + std::to_string(kMaxEvidencePaths) + " files at once");
  if (chain_of_custody.size() > evidence::kMaxChainOfCustodyBytes)
    return Status::InvalidArgument("\"chain_of_custody\" is longer than " +
                                   std::to_string(evidence::kMaxChainOfCustodyBytes) +
                                   " bytes (the recipient would refuse the manifest); attach a longer record as a file");
  json files = json::array();
  json transfers = json::array();
  for (const std::string& p : paths) {
    if (p.empty() || p.front() != '/') return Status::InvalidArgument("\"" + p + "\" is not an absolute path");
    struct stat st {};
    if (::stat(p.c_str(), &st) != 0) return Status::NotFound("no file " + p + " on the agent's machine");
    if (!S_ISREG(st.st_mode)) return Status::InvalidArgument(p + " is not a regular file");
    evidence::SpoolOptions so;
    so.chain_of_custody = chain_of_custody;
    MLAHUB_ASSIGN_OR_RETURN(auto spool, evstore_->CreateSpool(p, so));
    Status run = spool->Run();
    if (!run.ok()) return run.Annotate("spooling " + p);
    MLAHUB_ASSIGN_OR_RETURN(evidence::StreamSpec spec, spool->Spec());
    Bytes b = evidence::EncodeSpec(spec);
    auto text = schemas::JsonCodec::Instance().ToJson("EvidenceFile", b);
    crypto::Wipe(b.data(), b.size());
    if (!text.ok()) return text.status().Annotate("manifest entry of " + p);
    json entry = json::parse(*text, nullptr, false);
    if (entry.is_discarded()) return Status::Internal("manifest entry of " + p + " is not JSON");
    files.push_back(std::move(entry));
    transfers.push_back(spool->transfer_id());
    ops::Info("evidence.spooled", {{"transfer", spool->transfer_id()}, {"chunks", spool->chunk_count()}});
  }
  return json{{"files", std::move(files)}, {"transfer_ids", std::move(transfers)}};
}

Result<json> Agent::EvidenceOf(std::string_view message_id) const {
  auto id = MessageId::Parse(message_id);
  if (!id.ok()) return Status::InvalidArgument("message id: " + id.status().message());
  if (evstore_ == nullptr) return Status::Unavailable("the evidence store is not open");
  json files = json::array();
  std::string direction;
  for (const Route& r : RoutesOf(config_.data, *routes_, std::string(message_id))) {
    direction = r.out ? "out" : "in";
    json j;
    if (r.out && r.complete) {
      j = r.file;
      j["transfer_id"] = r.transfer_id;
      j["peer"] = r.peer;
      files.push_back(std::move(j));
      continue;
    }
    auto info = evstore_->Info(r.transfer_id);
    if (info.ok()) {
      j = InfoJson(*info);
    } else {
      j = {{"transfer_id", r.transfer_id}, {"direction", direction}, {"state", "pending"},
           {"summary", "pending"}};
    }
    j["peer"] = r.peer;
    files.push_back(std::move(j));
  }
  if (files.empty()) {
    auto out = store_->GetOutgoing(message_id);
    auto in = store_->GetIncoming(message_id);
    bool known = (out.ok() && out->has_value()) || (in.ok() && in->has_value());
    if (!known) return Status::NotFound("no message " + std::string(message_id) + " in this agent's case store");
  }
  return json{{"message_id", std::string(message_id)}, {"direction", direction}, {"files", std::move(files)}};
}

Result<json> Agent::FetchEvidence(std::string_view message_id, const std::string& out_dir) const {
  auto id = MessageId::Parse(message_id);
  if (!id.ok()) return Status::InvalidArgument("message id: " + id.status().message());
  if (out_dir.empty() || out_dir.front() != '/')
    return Status::InvalidArgument("\"out_dir\" must be an absolute directory path on the agent's machine");
  struct stat st {};
  if (::stat(out_dir.c_str(), &st) != 0 || !S_ISDIR(st.st_mode))
    return Status::NotFound("no directory " + out_dir + " on the agent's machine");
  if (evstore_ == nullptr) return Status::Unavailable("the evidence store is not open");
  json files = json::array();
  for (const Route& r : RoutesOf(config_.data, *routes_, std::string(message_id))) {
    if (r.out) continue;
    MLAHUB_ASSIGN_OR_RETURN(evidence::TransferInfo info, evstore_->Info(r.transfer_id));
    if (info.state != evidence::TransferState::kComplete)
      return Status::Unavailable("missing_chunk: transfer " + r.transfer_id + " (" + info.file_name + ") is " +
                                 evidence::DescribeState(info) + ": not complete yet");
    Status f = evstore_->Fetch(r.transfer_id, out_dir);
    if (!f.ok()) return f.Annotate("fetching " + info.file_name);
    json j = InfoJson(info);
    j["path"] = out_dir + "/" + info.file_name;
    files.push_back(std::move(j));
  }
  if (files.empty()) return Status::NotFound("message " + std::string(message_id) + " brought no evidence streams here");
  return json{{"message_id", std::string(message_id)}, {"out_dir", out_dir}, {"files", std::move(files)}};
}

}  // namespace mlahub::agents
