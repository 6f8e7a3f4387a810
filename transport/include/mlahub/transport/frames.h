// Multipart messages as the transport carries them, and their bounds.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "mlahub/core/bytes.h"

namespace mlahub::transport {

// One ZeroMQ multipart message: its frames, in order.
using Frames = std::vector<Bytes>;

// Default bound on one frame: the largest envelope (16 MiB, DESIGN.md
// "Size") plus room for a command. Peers sending a larger frame are
// disconnected by libzmq (ZMQ_MAXMSGSIZE) before it is buffered.
inline constexpr int64_t kDefaultMaxFrameSize = (16 << 20) + (64 << 10);
// Default bound on the number of frames of one message: a command and its
// attachment. Longer messages are read to the end and dropped.
inline constexpr size_t kDefaultMaxFrames = 2;

}  // namespace mlahub::transport
