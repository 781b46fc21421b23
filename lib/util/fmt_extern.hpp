// Force-included (CMake: spdlog's compile options) into every TU that logs: declares fmt's
// formatting engine, detail::vformat_to<char>, as instantiated elsewhere. libfmt.so.9 has
// that instantiation (`nm -DC libfmt.so.9`), but fmt 9.1's headers do not say so, so every
// TU calling spdlog instantiated and optimised the whole engine (floats, dragonbox) again:
// measured 3.4 s vs 0.8 s of g++ -O2 -g for one `spdlog::info("x {}", x)` (issue 9).
// Must not include anything but fmt's core header.
#pragma once
#include <fmt/core.h>

FMT_BEGIN_NAMESPACE
namespace detail {
extern template FMT_API void vformat_to<char>(buffer<char>&, basic_string_view<char>,
                                              basic_format_args<FMT_BUFFER_CONTEXT(char)>, locale_ref);
}  // namespace detail
FMT_END_NAMESPACE
