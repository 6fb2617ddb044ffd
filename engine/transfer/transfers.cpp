// ringxfer::Transfers, Source and Sink: the public face of TransferMachine.
#include "transfer/transfer_machine.hpp"

namespace ringxfer {

Source Source::file(File file, std::int64_t offset, std::size_t length) noexcept {
  Source s;
  s.kind_ = Kind::file;
  s.handle_ = file;
  s.offset_ = offset;
  s.length_ = length;
  return s;
}

Source Source::socket(Socket socket, std::size_t length) noexcept {
  Source s;
  s.kind_ = Kind::socket;
  s.handle_ = socket;
  s.length_ = length;
  return s;
}

Source Source::memory(std::span<const std::byte> bytes) noexcept {
  const std::span<const std::byte> one[1] = {bytes};
  return memory(one);
}

Source Source::memory(std::span<const std::span<const std::byte>> pieces) noexcept {
  Source s;
  s.kind_ = Kind::memory;
  for (std::span<const std::byte> p : pieces) {
    if (s.piece_count_ == max_gather) break;  // documented limit
    s.pieces_[s.piece_count_++] = p;
    s.length_ += p.size();
  }
  return s;
}

Sink Sink::socket(Socket socket) noexcept {
  Sink s;
  s.kind_ = Kind::socket;
  s.handle_ = socket;
  return s;
}

Sink Sink::file(File file, std::int64_t offset) noexcept {
  Sink s;
  s.kind_ = Kind::file;
  s.handle_ = file;
  s.offset_ = offset;
  return s;
}

Transfers::Transfers(Engine& engine, std::uint32_t capacity)
    : machine_(std::make_unique<detail::TransferMachine>(engine, capacity)) {}
Transfers::~Transfers() = default;

TransferId Transfers::start(const Source& source, const Sink& sink, const TransferOptions& options,
                            TransferHandler handler, ProgressHandler progress) noexcept {
  return machine_->start(source, sink, options, std::move(handler), std::move(progress));
}

TransferId Transfers::relay(Socket a, Socket b, const RelayOptions& options, RelayHandler handler) noexcept {
  return machine_->relay(a, b, options, std::move(handler));
}

bool Transfers::cancel(TransferId id) noexcept { return machine_->cancel(id); }
bool Transfers::bytes_moved(TransferId id, std::size_t& out) const noexcept { return machine_->bytes_moved(id, out); }
std::size_t Transfers::active() const noexcept { return machine_->active(); }

}  // namespace ringxfer
