#pragma once
// A move-only, type-erased callable with fixed inline storage and no heap.
// Op slots hold their handler here, so starting an operation never allocates
// (DESIGN invariant 5). A callable that does not fit is a compile error, not a
// silent fallback to the heap.
#include <cstddef>
#include <new>
#include <type_traits>
#include <utility>

namespace ringxfer {

template <class Signature, std::size_t CapacityBytes = 64>
class InlineFunction;

template <class R, class... Args, std::size_t CapacityBytes>
class InlineFunction<R(Args...), CapacityBytes> {
 public:
  InlineFunction() noexcept = default;

  template <class F, class D = std::decay_t<F>,
            class = std::enable_if_t<!std::is_same_v<D, InlineFunction>>>
  InlineFunction(F&& f) noexcept {  // NOLINT: implicit, like std::function
    static_assert(sizeof(D) <= CapacityBytes,
                  "handler captures too much: more than its CapacityBytes (for Engine handlers "
                  "ringxfer::handler_capacity_bytes = 64); capture a pointer to your state instead");
    static_assert(alignof(D) <= alignof(std::max_align_t), "handler over-aligned");
    static_assert(std::is_nothrow_move_constructible_v<D>,
                  "handler must be nothrow move constructible");
    ::new (static_cast<void*>(storage_)) D(std::forward<F>(f));
    invoke_ = [](void* s, Args... args) -> R {
      return (*static_cast<D*>(s))(std::forward<Args>(args)...);
    };
    manage_ = [](void* dst, void* src) noexcept {
      if (dst != nullptr) ::new (dst) D(std::move(*static_cast<D*>(src)));
      static_cast<D*>(src)->~D();
    };
  }

  InlineFunction(InlineFunction&& other) noexcept { take(other); }
  InlineFunction& operator=(InlineFunction&& other) noexcept {
    if (this != &other) {
      reset();
      take(other);
    }
    return *this;
  }
  InlineFunction(const InlineFunction&) = delete;
  InlineFunction& operator=(const InlineFunction&) = delete;
  ~InlineFunction() { reset(); }

  explicit operator bool() const noexcept { return invoke_ != nullptr; }

  R operator()(Args... args) { return invoke_(storage_, std::forward<Args>(args)...); }

  void reset() noexcept {
    if (manage_ != nullptr) manage_(nullptr, storage_);
    invoke_ = nullptr;
    manage_ = nullptr;
  }

 private:
  void take(InlineFunction& other) noexcept {
    if (other.manage_ == nullptr) return;
    other.manage_(storage_, other.storage_);
    invoke_ = other.invoke_;
    manage_ = other.manage_;
    other.invoke_ = nullptr;
    other.manage_ = nullptr;
  }

  alignas(std::max_align_t) unsigned char storage_[CapacityBytes];
  R (*invoke_)(void*, Args...) = nullptr;
  void (*manage_)(void*, void*) noexcept = nullptr;
};

}  // namespace ringxfer
