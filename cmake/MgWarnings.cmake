# mg_warnings: the warning set every mynaguard target links (INTERFACE target).
# mg_hardening: stack protector, FORTIFY_SOURCE, full RELRO, non-executable stack.
# mg_sanitize: ASan + UBSan when MYNAGUARD_SANITIZE is ON (tests and executables link it).
include_guard(GLOBAL)

add_library(mg_warnings INTERFACE)
target_compile_options(mg_warnings INTERFACE
  -Wall -Wextra -Wpedantic -Wshadow -Wcast-qual -Wwrite-strings
  -Wmissing-prototypes -Wstrict-prototypes -Wconversion -Wsign-conversion
  -Wformat=2 -Wundef -Wvla -Wnull-dereference -Wimplicit-fallthrough
  -Wframe-larger-than=32768)
if(MYNAGUARD_WERROR)
  target_compile_options(mg_warnings INTERFACE -Werror)
endif()

add_library(mg_hardening INTERFACE)
target_compile_options(mg_hardening INTERFACE -fstack-protector-strong -fno-strict-aliasing
  $<$<NOT:$<BOOL:${MYNAGUARD_SANITIZE}>>:-U_FORTIFY_SOURCE -D_FORTIFY_SOURCE=2>)
target_link_options(mg_hardening INTERFACE -Wl,-z,relro -Wl,-z,now -Wl,-z,noexecstack)

add_library(mg_sanitize INTERFACE)
if(MYNAGUARD_SANITIZE)
  target_compile_options(mg_sanitize INTERFACE -fsanitize=address,undefined
    -fno-sanitize-recover=undefined -fno-omit-frame-pointer)
  target_link_options(mg_sanitize INTERFACE -fsanitize=address,undefined)
endif()

# Fuzzing: instrument every target for coverage; fuzz/ executables add -fsanitize=fuzzer.
add_library(mg_fuzz_instrument INTERFACE)
if(MYNAGUARD_FUZZ)
  target_compile_options(mg_fuzz_instrument INTERFACE -fsanitize=fuzzer-no-link,address,undefined)
  target_link_options(mg_fuzz_instrument INTERFACE -fsanitize=address,undefined)
endif()

# mg_target_defaults(TARGET): the flags every mynaguard target gets.
function(mg_target_defaults target)
  target_link_libraries(${target} PRIVATE mg_warnings mg_hardening mg_sanitize mg_fuzz_instrument)
  target_compile_definitions(${target} PRIVATE _GNU_SOURCE)
endfunction()
