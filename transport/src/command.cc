#include "mlahub/transport/command.h"

#include <flatbuffers/flatbuffers.h>

#include <algorithm>

#include "mlahub/core/utf8.h"

#include "mlahub/schemas/transport_generated.h"

namespace mlahub::transport {
namespace {

namespace fb = flatbuffers;

constexpr size_t kMaxFrames = 2;
// Verifier bounds: a Command is two tables deep with a few vectors.
constexpr unsigned kMaxDepth = 8;
constexpr unsigned kMaxTables = 4096;  // StatusResponse events; the frame is <= 64 KiB anyway

template <class... Ts>
struct Overloaded : Ts... {
  using Ts::operator()...;
};
template <class... Ts>
Overloaded(Ts...) -> Overloaded<Ts...>;

bool IsWireErrorCode(uint16_t v) {
  for (wire::ErrorCode c : wire::EnumValuesErrorCode()) {
    if (static_cast<uint16_t>(c) == v) return true;
  }
  return false;
}

Result<wire::ErrorCode> ToWire(Code code, std::string_view field) {
  if (!IsWireErrorCode(static_cast<uint16_t>(code))) {
    return Status::InvalidArgument(std::string(field) + ": code " + std::to_string(static_cast<int>(code)) +
                                   " is not a wire ErrorCode");
  }
  return static_cast<wire::ErrorCode>(code);
}

// An ErrorCode this implementation does not know (a newer peer's) is kept as
// a failure, never read as Ok.
Code FromWire(wire::ErrorCode code) {
  uint16_t v = static_cast<uint16_t>(code);
  return IsWireErrorCode(v) ? static_cast<Code>(v) : Code::kInternal;
}

Bytes Vec(const fb::Vector<uint8_t>* v) { return v != nullptr ? Bytes(v->begin(), v->end()) : Bytes(); }

ProofKind FromWire(wire::ProofKind k) {
  switch (k) {
    case wire::ProofKind::Inclusion: return ProofKind::kInclusion;
    case wire::ProofKind::Consistency: return ProofKind::kConsistency;
    default: return ProofKind::kUnspecified;  // unknown values read as 0
  }
}

Result<std::vector<Hash>> Hashes(const fb::Vector<uint8_t>* v, std::string_view field) {
  std::vector<Hash> out;
  if (v == nullptr) return out;
  if (v->size() % kHashSize != 0) {
    return Status::Malformed(std::string(field) + ": " + std::to_string(v->size()) +
                             " bytes is not a whole number of 32-byte hashes");
  }
  if (v->size() / kHashSize > kMaxProofHashes) {
    return Status::Malformed(std::string(field) + ": more than " + std::to_string(kMaxProofHashes) + " hashes");
  }
  out.resize(v->size() / kHashSize);
  for (size_t i = 0; i < out.size(); ++i) std::copy_n(v->data() + i * kHashSize, kHashSize, out[i].begin());
  return out;
}

Result<fb::Offset<fb::Vector<uint8_t>>> HashVector(fb::FlatBufferBuilder& b, const std::vector<Hash>& hashes,
                                                   std::string_view field) {
  if (hashes.size() > kMaxProofHashes) {
    return Status::InvalidArgument(std::string(field) + ": more than " + std::to_string(kMaxProofHashes) + " hashes");
  }
  uint8_t* dst = nullptr;
  auto off = b.CreateUninitializedVector(hashes.size() * kHashSize, &dst);
  for (size_t i = 0; i < hashes.size(); ++i) std::copy(hashes[i].begin(), hashes[i].end(), dst + i * kHashSize);
  return off;
}

Status CheckTransferId(std::string_view id, std::string_view what) {
  if (!IsHexId(id)) return Status::Malformed(std::string(what) + ": transfer id is not 32 lowercase hex characters");
  return Status::Ok();
}

Status CheckNodeId(std::string_view id, std::string_view what) {
  if (id.empty() || id.size() > kMaxNodeIdSize) {
    return Status::Malformed(std::string(what) + ": node id empty or longer than " + std::to_string(kMaxNodeIdSize));
  }
  for (char c : id) {
    if (static_cast<unsigned char>(c) <= 0x20 || static_cast<unsigned char>(c) >= 0x7f) {
      return Status::Malformed(std::string(what) + ": node id with a space, control or non-ASCII character");
    }
  }
  return Status::Ok();
}

Status CheckMessageIdOpt(std::string_view id, std::string_view what) {
  if (!id.empty() && !IsHexId(id)) return Status::Malformed(std::string(what) + ": message id is not 32 lowercase hex");
  return Status::Ok();
}

// Encoding refuses what decoding refuses (kInvalidArgument instead of kMalformed).
Status AsInvalid(Status s) {
  if (s.ok()) return s;
  return Status::InvalidArgument(std::string(s.message()));
}

Status CheckOutcome(bool accepted, Code error, std::string_view what) {
  if (accepted != (error == Code::kOk)) {
    return Status::InvalidArgument(std::string(what) + ": accepted must go with error Ok, a refusal with a named error");
  }
  return Status::Ok();
}

}  // namespace

std::string_view CommandName(const Command& command) {
  static constexpr std::string_view kNames[] = {
      "Hello",           "Submit",           "SubmitResult", "Deliver",       "SubmitReceipt",
      "ReceiptResult",   "DirectoryUpdate",  "CheckpointUpdate", "ProofRequest", "ProofResponse",
      "Ping",            "Pong",             "Error",        "Notice",        "StatusRequest",
      "StatusResponse",  "ChunkPut",         "ChunkAck",     "ChunkDeliver",  "ChunkReceived",
      "ChunkStatus"};
  static_assert(std::size(kNames) == std::variant_size_v<Command>);
  return kNames[command.index()];
}

bool IsHexId(std::string_view id) {
  if (id.size() != 32) return false;
  return std::all_of(id.begin(), id.end(), [](char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'); });
}

bool IsBulk(const Command& command) {
  return std::holds_alternative<ChunkPut>(command) || std::holds_alternative<ChunkDeliver>(command);
}

std::string_view EventKindName(EventKind k) {
  switch (k) {
    case EventKind::kAccepted: return "accepted";
    case EventKind::kDelivered: return "delivered";
    case EventKind::kReceipt: return "receipt";
    case EventKind::kRejected: return "rejected";
    case EventKind::kStatusChange: return "status_change";
    case EventKind::kDirectoryPublished: return "directory_published";
    default: return "unspecified";
  }
}

namespace {

Result<fb::Offset<wire::TransportEvent>> BuildEvent(fb::FlatBufferBuilder& b, const TransportEvent& e) {
  MLAHUB_ASSIGN_OR_RETURN(auto err, ToWire(e.error, "TransportEvent.error"));
  return wire::CreateTransportEvent(b, static_cast<wire::LedgerEvent>(e.event), e.ledger_index, e.at_ms, err,
                                    e.attempt, static_cast<wire::MessageState>(e.state));
}

TransportEvent ReadEvent(const wire::TransportEvent* e) {
  TransportEvent out;
  if (e == nullptr) return out;
  auto ev = static_cast<uint8_t>(e->event());
  out.event = ev <= static_cast<uint8_t>(EventKind::kDirectoryPublished) ? static_cast<EventKind>(ev)
                                                                          : EventKind::kUnspecified;
  out.ledger_index = e->ledger_index();
  out.at_ms = e->at_ms();
  out.error = FromWire(e->error());
  out.attempt = e->attempt();
  out.state = static_cast<uint8_t>(e->state());
  return out;
}

}  // namespace

Result<Frames> EncodeCommand(const Command& command) {
  fb::FlatBufferBuilder b(256);
  const Bytes* attachment = nullptr;
  using Body = std::pair<wire::CommandBody, fb::Offset<void>>;
  auto body = std::visit(
      Overloaded{
          [&](const Hello& c) -> Result<Body> {
            auto id = b.CreateString(c.node_id);
            return Body{wire::CommandBody::Hello,
                        wire::CreateHello(b, id, c.directory_version, c.checkpoint_size, c.last_delivery_seq,
                                          c.protocol_version)
                            .Union()};
          },
          [&](const Submit& c) -> Result<Body> {
            attachment = &c.envelope;
            return Body{wire::CommandBody::Submit, wire::CreateSubmit(b, c.correlation).Union()};
          },
          [&](const SubmitResult& c) -> Result<Body> {
            MLAHUB_RETURN_IF_ERROR(CheckOutcome(c.accepted, c.error, "SubmitResult"));
            MLAHUB_ASSIGN_OR_RETURN(auto err, ToWire(c.error, "SubmitResult.error"));
            auto mid = b.CreateString(c.message_id);
            auto msg = b.CreateString(c.message);
            return Body{wire::CommandBody::SubmitResult,
                        wire::CreateSubmitResult(b, c.correlation, mid, c.accepted, err, msg, c.ledger_index,
                                                 c.tree_size, c.duplicate)
                            .Union()};
          },
          [&](const Deliver& c) -> Result<Body> {
            attachment = &c.envelope;
            if (c.settled_below > c.delivery_seq)
              return Status::InvalidArgument("Deliver: settled_below above delivery_seq");
            return Body{wire::CommandBody::Deliver,
                        wire::CreateDeliver(b, c.delivery_seq, c.ledger_index, c.settled_below).Union()};
          },
          [&](const SubmitReceipt& c) -> Result<Body> {
            attachment = &c.signed_receipt;
            return Body{wire::CommandBody::SubmitReceipt,
                        wire::CreateSubmitReceipt(b, c.correlation, c.delivery_seq).Union()};
          },
          [&](const ReceiptResult& c) -> Result<Body> {
            MLAHUB_RETURN_IF_ERROR(CheckOutcome(c.accepted, c.error, "ReceiptResult"));
            MLAHUB_ASSIGN_OR_RETURN(auto err, ToWire(c.error, "ReceiptResult.error"));
            auto mid = b.CreateString(c.message_id);
            auto msg = b.CreateString(c.message);
            return Body{wire::CommandBody::ReceiptResult,
                        wire::CreateReceiptResult(b, c.correlation, mid, c.accepted, err, msg, c.ledger_index,
                                                  c.duplicate)
                            .Union()};
          },
          [&](const DirectoryUpdate& c) -> Result<Body> {
            attachment = &c.signed_directory;
            return Body{wire::CommandBody::DirectoryUpdate, wire::CreateDirectoryUpdate(b, c.version).Union()};
          },
          [&](const CheckpointUpdate& c) -> Result<Body> {
            auto note = b.CreateVector(c.note);
            MLAHUB_ASSIGN_OR_RETURN(auto proof, HashVector(b, c.consistency, "CheckpointUpdate.consistency"));
            return Body{wire::CommandBody::CheckpointUpdate,
                        wire::CreateCheckpointUpdate(b, note, c.old_size, proof).Union()};
          },
          [&](const ProofRequest& c) -> Result<Body> {
            return Body{wire::CommandBody::ProofRequest,
                        wire::CreateProofRequest(b, c.correlation, static_cast<wire::ProofKind>(c.kind), c.index,
                                                 c.tree_size, c.old_size)
                            .Union()};
          },
          [&](const ProofResponse& c) -> Result<Body> {
            MLAHUB_ASSIGN_OR_RETURN(auto err, ToWire(c.error, "ProofResponse.error"));
            auto entry = b.CreateVector(c.entry);
            MLAHUB_ASSIGN_OR_RETURN(auto proof, HashVector(b, c.proof, "ProofResponse.proof"));
            auto msg = b.CreateString(c.message);
            return Body{wire::CommandBody::ProofResponse,
                        wire::CreateProofResponse(b, c.correlation, static_cast<wire::ProofKind>(c.kind), c.index,
                                                  c.tree_size, c.old_size, entry, proof, err, msg)
                            .Union()};
          },
          [&](const Ping& c) -> Result<Body> {
            return Body{wire::CommandBody::Ping, wire::CreatePing(b, c.nonce, c.sent_ms).Union()};
          },
          [&](const Pong& c) -> Result<Body> {
            return Body{wire::CommandBody::Pong, wire::CreatePong(b, c.nonce, c.sent_ms).Union()};
          },
          [&](const Notice& c) -> Result<Body> {
            auto mid = b.CreateString(c.message_id);
            MLAHUB_ASSIGN_OR_RETURN(auto ev, BuildEvent(b, c.event));
            auto rc = b.CreateVector(c.receipt);
            return Body{wire::CommandBody::Notice, wire::CreateNotice(b, mid, ev, rc).Union()};
          },
          [&](const StatusRequest& c) -> Result<Body> {
            auto mid = b.CreateString(c.message_id);
            return Body{wire::CommandBody::StatusRequest, wire::CreateStatusRequest(b, c.correlation, mid).Union()};
          },
          [&](const StatusResponse& c) -> Result<Body> {
            MLAHUB_ASSIGN_OR_RETURN(auto err, ToWire(c.error, "StatusResponse.error"));
            auto mid = b.CreateString(c.message_id);
            auto msg = b.CreateString(c.message);
            std::vector<fb::Offset<wire::TransportEvent>> evs;
            for (const auto& e : c.events) {
              MLAHUB_ASSIGN_OR_RETURN(auto ev, BuildEvent(b, e));
              evs.push_back(ev);
            }
            auto ev_vec = b.CreateVector(evs);
            auto rc = b.CreateVector(c.receipt);
            return Body{wire::CommandBody::StatusResponse,
                        wire::CreateStatusResponse(b, c.correlation, mid, err, msg, ev_vec, rc).Union()};
          },
          [&](const ChunkPut& c) -> Result<Body> {
            MLAHUB_RETURN_IF_ERROR(AsInvalid(CheckTransferId(c.transfer_id, "ChunkPut")));
            MLAHUB_RETURN_IF_ERROR(AsInvalid(CheckNodeId(c.recipient, "ChunkPut.recipient")));
            MLAHUB_RETURN_IF_ERROR(AsInvalid(CheckMessageIdOpt(c.message_id, "ChunkPut")));
            attachment = &c.frame;
            auto tid = b.CreateString(c.transfer_id);
            auto rcp = b.CreateString(c.recipient);
            auto mid = b.CreateString(c.message_id);
            return Body{wire::CommandBody::ChunkPut, wire::CreateChunkPut(b, tid, rcp, c.chunk_index, mid).Union()};
          },
          [&](const ChunkAck& c) -> Result<Body> {
            MLAHUB_RETURN_IF_ERROR(AsInvalid(CheckTransferId(c.transfer_id, "ChunkAck")));
            MLAHUB_ASSIGN_OR_RETURN(auto err, ToWire(c.error, "ChunkAck.error"));
            auto tid = b.CreateString(c.transfer_id);
            auto msg = b.CreateString(c.message);
            return Body{wire::CommandBody::ChunkAck,
                        wire::CreateChunkAck(b, tid, c.stored, c.chunk_count, err, msg, c.complete).Union()};
          },
          [&](const ChunkDeliver& c) -> Result<Body> {
            MLAHUB_RETURN_IF_ERROR(AsInvalid(CheckTransferId(c.transfer_id, "ChunkDeliver")));
            MLAHUB_RETURN_IF_ERROR(AsInvalid(CheckNodeId(c.sender, "ChunkDeliver.sender")));
            attachment = &c.frame;
            auto tid = b.CreateString(c.transfer_id);
            MLAHUB_RETURN_IF_ERROR(AsInvalid(CheckMessageIdOpt(c.message_id, "ChunkDeliver")));
            auto snd = b.CreateString(c.sender);
            auto mid = b.CreateString(c.message_id);
            return Body{wire::CommandBody::ChunkDeliver,
                        wire::CreateChunkDeliver(b, tid, snd, c.chunk_index, mid).Union()};
          },
          [&](const ChunkReceived& c) -> Result<Body> {
            MLAHUB_RETURN_IF_ERROR(AsInvalid(CheckTransferId(c.transfer_id, "ChunkReceived")));
            MLAHUB_ASSIGN_OR_RETURN(auto err, ToWire(c.error, "ChunkReceived.error"));
            auto tid = b.CreateString(c.transfer_id);
            return Body{wire::CommandBody::ChunkReceived, wire::CreateChunkReceived(b, tid, c.durable, err).Union()};
          },
          [&](const ChunkStatus& c) -> Result<Body> {
            MLAHUB_RETURN_IF_ERROR(AsInvalid(CheckTransferId(c.transfer_id, "ChunkStatus")));
            auto tid = b.CreateString(c.transfer_id);
            return Body{wire::CommandBody::ChunkStatus, wire::CreateChunkStatus(b, tid).Union()};
          },
          [&](const ErrorReply& c) -> Result<Body> {
            if (c.code == Code::kOk) return Status::InvalidArgument("ErrorReply: code must not be Ok");
            MLAHUB_ASSIGN_OR_RETURN(auto code, ToWire(c.code, "ErrorReply.code"));
            auto msg = b.CreateString(c.message);
            return Body{wire::CommandBody::Error, wire::CreateError(b, code, msg, c.correlation).Union()};
          },
      },
      command);
  if (!body.ok()) return body.status();
  wire::FinishCommandBuffer(b, wire::CreateCommand(b, body->first, body->second));
  if (b.GetSize() > kMaxCommandFrameSize) {
    return Status::InvalidArgument(std::string(CommandName(command)) + ": command frame of " +
                                   std::to_string(b.GetSize()) + " bytes exceeds " +
                                   std::to_string(kMaxCommandFrameSize));
  }
  Frames frames;
  frames.emplace_back(b.GetBufferPointer(), b.GetBufferPointer() + b.GetSize());
  if (attachment != nullptr) frames.push_back(*attachment);
  return frames;
}

namespace {
// Frame 0 as a Command: size, identifier and FlatBuffers verifier, the
// checks DecodeCommand starts with and RequestCorrelation relies on.
Result<const wire::Command*> VerifiedCommandFrame(const Bytes& f0, const DecodeLimits& limits) {
  if (f0.size() > limits.max_command_size) {
    return Status::Malformed("command frame of " + std::to_string(f0.size()) + " bytes exceeds " +
                             std::to_string(limits.max_command_size));
  }
  if (f0.size() < 8 || !fb::BufferHasIdentifier(f0.data(), wire::CommandIdentifier())) {
    return Status::Malformed("frame 0 is not a transport command (FlatBuffer with identifier MLAT)");
  }
  fb::Verifier verifier(f0.data(), f0.size(), kMaxDepth, kMaxTables);
  if (!wire::VerifyCommandBuffer(verifier)) {
    return Status::Malformed("command frame fails the FlatBuffers verifier");
  }
  return wire::GetCommand(f0.data());
}
}  // namespace

uint64_t RequestCorrelation(std::span<const Bytes> frames, const DecodeLimits& limits) {
  if (frames.empty()) return 0;
  auto verified = VerifiedCommandFrame(frames[0], limits);
  if (!verified.ok()) return 0;
  const wire::Command* cmd = *verified;
  if (cmd->body() == nullptr) return 0;
  switch (cmd->body_type()) {
    case wire::CommandBody::Submit: return cmd->body_as_Submit()->correlation();
    case wire::CommandBody::SubmitReceipt: return cmd->body_as_SubmitReceipt()->correlation();
    case wire::CommandBody::ProofRequest: return cmd->body_as_ProofRequest()->correlation();
    case wire::CommandBody::StatusRequest: return cmd->body_as_StatusRequest()->correlation();
    default: return 0;
  }
}

Result<Command> DecodeCommand(std::span<const Bytes> frames, const DecodeLimits& limits) {
  if (frames.empty()) return Status::Malformed("transport message without frames");
  if (frames.size() > kMaxFrames) {
    return Status::Malformed("transport message of " + std::to_string(frames.size()) +
                             " frames; a command has at most 2 (command, attachment)");
  }
  MLAHUB_ASSIGN_OR_RETURN(const wire::Command* cmd, VerifiedCommandFrame(frames[0], limits));
  const wire::CommandBody type = cmd->body_type();
  if (type == wire::CommandBody::NONE || cmd->body() == nullptr) {
    return Status::Malformed("command without a body");
  }
  if (static_cast<uint8_t>(type) > static_cast<uint8_t>(wire::CommandBody::MAX)) {
    return Status::UnknownKind("command type " + std::to_string(static_cast<int>(type)) +
                               " is not known to this implementation (protocol version " +
                               std::to_string(kTransportProtocolVersion) + ")");
  }
  const bool is_chunk = type == wire::CommandBody::ChunkPut || type == wire::CommandBody::ChunkDeliver;
  const bool wants_attachment = type == wire::CommandBody::Submit || type == wire::CommandBody::Deliver ||
                                type == wire::CommandBody::SubmitReceipt ||
                                type == wire::CommandBody::DirectoryUpdate || is_chunk;
  const char* name = wire::EnumNameCommandBody(type);
  if (frames.size() != (wants_attachment ? 2u : 1u)) {
    return Status::Malformed(std::string(name) + (wants_attachment ? " needs exactly one attachment frame"
                                                                   : " takes no attachment frame") +
                             ", got " + std::to_string(frames.size()) + " frames");
  }
  const size_t max_attachment = is_chunk ? limits.max_chunk_attachment_size : limits.max_attachment_size;
  if (wants_attachment && frames[1].size() > max_attachment) {
    return Status::Oversize(std::string(name) + " attachment of " + std::to_string(frames[1].size()) +
                            " bytes exceeds the maximum of " + std::to_string(max_attachment));
  }
  if (is_chunk && (frames[1].size() < 8 || !fb::BufferHasIdentifier(frames[1].data(), "MLEC"))) {
    return Status::Malformed(std::string(name) + " attachment is not an EvidenceChunk (identifier MLEC)");
  }
  // Strings are UTF-8 by the FlatBuffers format, but its verifier does not
  // check them; Str reads a string (absent: empty) and notes one that is
  // not, and the command is then refused whole.
  struct CheckedStr {
    bool bad = false;
    std::string operator()(const fb::String* s) {
      if (s == nullptr) return {};
      if (!IsValidUtf8(s->string_view())) bad = true;
      return s->str();
    }
  } Str;
  Result<Command> decoded = [&]() -> Result<Command> {
    switch (type) {
      case wire::CommandBody::Hello: {
        const auto* h = cmd->body_as_Hello();
        return Command(Hello{Str(h->node_id()), h->directory_version(), h->checkpoint_size(), h->last_delivery_seq(),
                             h->protocol_version()});
      }
      case wire::CommandBody::Submit:
        return Command(Submit{cmd->body_as_Submit()->correlation(), frames[1]});
      case wire::CommandBody::SubmitResult: {
        const auto* r = cmd->body_as_SubmitResult();
        SubmitResult out{r->correlation(), Str(r->message_id()), r->accepted(), FromWire(r->error()),
                         Str(r->message()), r->ledger_index(), r->tree_size(), r->duplicate()};
        if (out.accepted != (out.error == Code::kOk)) {
          return Status::Malformed("SubmitResult: accepted and error disagree");
        }
        return Command(std::move(out));
      }
      case wire::CommandBody::Deliver: {
        const auto* d = cmd->body_as_Deliver();
        if (d->settled_below() > d->delivery_seq())
          return Status::Malformed("Deliver: settled_below " + std::to_string(d->settled_below()) +
                                   " above delivery_seq " + std::to_string(d->delivery_seq()));
        return Command(Deliver{d->delivery_seq(), d->ledger_index(), frames[1], d->settled_below()});
      }
      case wire::CommandBody::SubmitReceipt: {
        const auto* r = cmd->body_as_SubmitReceipt();
        return Command(SubmitReceipt{r->correlation(), r->delivery_seq(), frames[1]});
      }
      case wire::CommandBody::ReceiptResult: {
        const auto* r = cmd->body_as_ReceiptResult();
        ReceiptResult out{r->correlation(), Str(r->message_id()), r->accepted(), FromWire(r->error()),
                          Str(r->message()), r->ledger_index(), r->duplicate()};
        if (out.accepted != (out.error == Code::kOk)) {
          return Status::Malformed("ReceiptResult: accepted and error disagree");
        }
        return Command(std::move(out));
      }
      case wire::CommandBody::DirectoryUpdate:
        return Command(DirectoryUpdate{cmd->body_as_DirectoryUpdate()->version(), frames[1]});
      case wire::CommandBody::CheckpointUpdate: {
        const auto* c = cmd->body_as_CheckpointUpdate();
        MLAHUB_ASSIGN_OR_RETURN(auto proof, Hashes(c->consistency(), "CheckpointUpdate.consistency"));
        return Command(CheckpointUpdate{Vec(c->note()), c->old_size(), std::move(proof)});
      }
      case wire::CommandBody::ProofRequest: {
        const auto* p = cmd->body_as_ProofRequest();
        return Command(ProofRequest{p->correlation(), FromWire(p->kind()), p->index(), p->tree_size(), p->old_size()});
      }
      case wire::CommandBody::ProofResponse: {
        const auto* p = cmd->body_as_ProofResponse();
        MLAHUB_ASSIGN_OR_RETURN(auto proof, Hashes(p->proof(), "ProofResponse.proof"));
        return Command(ProofResponse{p->correlation(), FromWire(p->kind()), p->index(), p->tree_size(), p->old_size(),
                                     Vec(p->entry()), std::move(proof), FromWire(p->error()), Str(p->message())});
      }
      case wire::CommandBody::Ping: {
        const auto* p = cmd->body_as_Ping();
        return Command(Ping{p->nonce(), p->sent_ms()});
      }
      case wire::CommandBody::Pong: {
        const auto* p = cmd->body_as_Pong();
        return Command(Pong{p->nonce(), p->sent_ms()});
      }
      case wire::CommandBody::Error: {
        const auto* e = cmd->body_as_Error();
        Code code = FromWire(e->code());
        if (code == Code::kOk) return Status::Malformed("Error command with code Ok");
        return Command(ErrorReply{code, Str(e->message()), e->correlation()});
      }
      case wire::CommandBody::Notice: {
        const auto* n = cmd->body_as_Notice();
        return Command(Notice{Str(n->message_id()), ReadEvent(n->event()), Vec(n->receipt())});
      }
      case wire::CommandBody::StatusRequest: {
        const auto* r = cmd->body_as_StatusRequest();
        return Command(StatusRequest{r->correlation(), Str(r->message_id())});
      }
      case wire::CommandBody::StatusResponse: {
        const auto* r = cmd->body_as_StatusResponse();
        StatusResponse out{r->correlation(), Str(r->message_id()), FromWire(r->error()), Str(r->message()), {},
                           Vec(r->receipt())};
        if (r->events() != nullptr) {
          if (r->events()->size() > kMaxStatusEvents)
            return Status::Malformed("StatusResponse with more than " + std::to_string(kMaxStatusEvents) + " events");
          for (const auto* e : *r->events()) out.events.push_back(ReadEvent(e));
        }
        return Command(std::move(out));
      }
      case wire::CommandBody::ChunkPut: {
        const auto* c = cmd->body_as_ChunkPut();
        ChunkPut out{Str(c->transfer_id()), Str(c->recipient()), c->chunk_index(), Str(c->message_id()), frames[1]};
        MLAHUB_RETURN_IF_ERROR(CheckTransferId(out.transfer_id, "ChunkPut"));
        MLAHUB_RETURN_IF_ERROR(CheckNodeId(out.recipient, "ChunkPut.recipient"));
        MLAHUB_RETURN_IF_ERROR(CheckMessageIdOpt(out.message_id, "ChunkPut"));
        return Command(std::move(out));
      }
      case wire::CommandBody::ChunkAck: {
        const auto* c = cmd->body_as_ChunkAck();
        ChunkAck out{Str(c->transfer_id()), c->stored(), c->chunk_count(), FromWire(c->error()), Str(c->message()),
                     c->complete()};
        MLAHUB_RETURN_IF_ERROR(CheckTransferId(out.transfer_id, "ChunkAck"));
        return Command(std::move(out));
      }
      case wire::CommandBody::ChunkDeliver: {
        const auto* c = cmd->body_as_ChunkDeliver();
        ChunkDeliver out{Str(c->transfer_id()), Str(c->sender()), c->chunk_index(), frames[1], Str(c->message_id())};
        MLAHUB_RETURN_IF_ERROR(CheckTransferId(out.transfer_id, "ChunkDeliver"));
        MLAHUB_RETURN_IF_ERROR(CheckNodeId(out.sender, "ChunkDeliver.sender"));
        MLAHUB_RETURN_IF_ERROR(CheckMessageIdOpt(out.message_id, "ChunkDeliver"));
        return Command(std::move(out));
      }
      case wire::CommandBody::ChunkReceived: {
        const auto* c = cmd->body_as_ChunkReceived();
        ChunkReceived out{Str(c->transfer_id()), c->durable(), FromWire(c->error())};
        MLAHUB_RETURN_IF_ERROR(CheckTransferId(out.transfer_id, "ChunkReceived"));
        return Command(std::move(out));
      }
      case wire::CommandBody::ChunkStatus: {
        ChunkStatus out{Str(cmd->body_as_ChunkStatus()->transfer_id())};
        MLAHUB_RETURN_IF_ERROR(CheckTransferId(out.transfer_id, "ChunkStatus"));
        return Command(std::move(out));
      }
      default:
        break;
    }
    return Status::Internal("DecodeCommand: unhandled command type");  // unreachable: types checked above
  }();
  if (decoded.ok() && Str.bad) return Status::Malformed(std::string(name) + " carries a string that is not valid UTF-8");
  return decoded;
}

}  // namespace mlahub::transport
